"""Acceptance: the hidden probes rank submissions the way engineers should be ranked.

The reference passes every probe, three runs in a row; the starter kit fails at least 75%; a
partly hardened solution (transport only) lands strictly between; a submission that never calls
the model fails every probe that needs the model. Nothing here is an infrastructure error.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from assessments.grading.executors import ForkServerExecutor
from assessments.grading.runner import grade

from .helpdesk import EXERCISE, FIXTURES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def executor():
    executor = ForkServerExecutor()
    executor.start()
    yield executor
    executor.close()


@pytest.fixture(scope="module")
def graded(executor):
    """The starter, the partly hardened and the never-calls-model submissions, graded side by side.

    They run concurrently, load probes included, to keep the suite short: their verdicts do not
    hinge on timing (the reference's runs below are graded exactly as in production).
    """
    submissions = {
        "starter": EXERCISE / "starter",
        "partly": FIXTURES / "partly_hardened",
        "never": FIXTURES / "never_calls_model",
    }
    with ThreadPoolExecutor(max_workers=len(submissions)) as pool:
        futures = {
            name: pool.submit(grade, path, EXERCISE, executor=executor, exclusive_alone=False)
            for name, path in submissions.items()
        }
        return {name: future.result() for name, future in futures.items()}


def _failures(report):
    return [(o.id, o.outcome, o.reason) for o in report.outcomes if o.outcome != "pass"]


def test_the_reference_passes_every_probe_three_runs_in_a_row(executor):
    runs = []
    for _ in range(3):
        report = grade(EXERCISE / "reference", EXERCISE, executor=executor)
        assert _failures(report) == []
        runs.append([(o.id, o.outcome) for o in report.outcomes])

    assert runs[0] == runs[1] == runs[2]
    assert len(runs[0]) >= 24


def test_the_starter_kit_fails_at_least_three_quarters_of_the_probes(graded):
    report = graded["starter"]

    assert report.infra_errors == 0, _failures(report)
    assert report.total - report.passed >= 0.75 * report.total
    assert report.by_failure_mode()["injection"]["passed"] == 0
    assert report.by_failure_mode()["output"]["passed"] == 0


def test_a_partly_hardened_solution_lands_strictly_between(graded):
    starter, partly = graded["starter"], graded["partly"]
    modes = partly.by_failure_mode()

    assert partly.infra_errors == 0, _failures(partly)
    assert starter.passed < partly.passed < partly.total
    # Weak exactly where it was not hardened, strong where it was.
    assert modes["injection"]["passed"] == 0
    assert modes["grounding"]["passed"] <= 1
    assert modes["transient"]["passed"] >= modes["transient"]["total"] - 1


def test_a_submission_that_never_calls_the_model_fails_every_probe_that_needs_it(graded):
    report = graded["never"]
    probes = {p.id: p for p in __import__("tests.exercises.helpdesk", fromlist=["x"]).exercise().probes}
    needing = [o for o in report.outcomes if probes[o.id].needs_model]

    assert report.infra_errors == 0, _failures(report)
    assert len(needing) >= 24
    assert [o.id for o in needing if o.outcome != "fail"] == []
