"""The help-desk reference, graded in the real sandbox three times, passes every probe each time."""

from pathlib import Path

import pytest

from assessments.grading.engine import grade_in_sandbox
from grader.sandbox import SandboxExecutor

pytestmark = pytest.mark.slow

PACKAGE = Path(__file__).resolve().parents[2] / "exercises" / "helpdesk-answerer"


def test_the_reference_gets_identical_outcomes_three_times_in_the_sandbox(settings):
    outcomes = []
    for _ in range(3):
        results, isolation = grade_in_sandbox(PACKAGE / "reference", PACKAGE, executor=SandboxExecutor.from_settings())
        assert isolation["sandboxed"] is True and not isolation.get("unsandboxed")
        outcomes.append({r["probe_id"]: r["outcome"] for r in results})
    assert outcomes[0] == outcomes[1] == outcomes[2]
    failed = {probe: outcome for probe, outcome in outcomes[0].items() if outcome != "pass"}
    assert not failed, failed
    assert len(outcomes[0]) >= 24
