"""Acceptance: the hidden probes rank submissions the way engineers should be ranked.

The reference passes every probe, three runs in a row; a solution written blind (from the starter
kit and the brief only, never seeing a probe) passes nearly all of them; the starter kit fails at
least 75%; a partly hardened solution (transport only) lands strictly between; a submission that
never calls the model fails every probe that needs the model. Nothing here is an infrastructure
error.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from grader.runner import grade

from .helpdesk import EXERCISE, FIXTURES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def executor(forkserver_executor):
    return forkserver_executor


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


def test_a_solution_written_blind_passes_nearly_every_probe(executor):
    """fixtures/written_blind: an engineer given only the kit and the brief (2026-11-27).

    The probes measure engineering, not knowledge of the probes. Its first grading failed one probe
    that refused a correct, grounded repair of a reply in the wrong shape; that probe was unfair and
    now accepts a repair that is a correct answer (exercise 1.1.0).
    """
    report = grade(FIXTURES / "written_blind", EXERCISE, executor=executor)

    assert report.infra_errors == 0, _failures(report)
    assert report.passed >= report.total - 2, _failures(report)


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


# --- Where a repair of a bad reply is fair, and where it is not ------------------------------------

_WRONG_SCHEMA_VARIANT = """
import json, os, re
from pathlib import Path
import anthropic

def answer(question):
    docs = Path(os.environ["HELPDESK_DOCS_DIR"])
    words = set(re.findall(r"[a-z0-9]+", question.lower()))
    picked = [p for p in docs.glob("*.md") if set(p.stem.split("-")) <= words][:3]
    articles = "\\n\\n".join(f"<article id=\\"{p.stem}\\">{p.read_text()}</article>" for p in picked)
    client = anthropic.Anthropic(max_retries=0, timeout=5)
    reply = client.messages.create(
        model="any", max_tokens=400, messages=[{"role": "user", "content": articles + "\\n\\n" + question}]
    )
    text = reply.content[0].text
    data = json.loads(text)
    cited = data.get("citations") or []
    %s
"""

WRONG_SCHEMA_VARIANTS = {
    # Salvage checked against the contract: the verified quote as the answer, the joined ids split.
    "salvages a correct answer": (
        'ids = [c.strip() for c in cited.split(",")] if isinstance(cited, str) else list(cited)\n'
        '    return {"status": "answered", "answer": data.get("answer") or data.get("quote", ""), "citations": ids}',
        "pass",
    ),
    "answers with nothing": (
        'return {"status": "answered", "answer": data.get("answer") or "", "citations": [str(cited)]}',
        "fail",
    ),
    "shows the raw reply": ('return {"status": "answered", "answer": text, "citations": [str(cited)]}', "fail"),
    "splits the id string into characters": (
        'return {"status": "answered", "answer": data.get("quote", ""), "citations": list(cited)}',
        "fail",
    ),
}


@pytest.mark.parametrize("variant", list(WRONG_SCHEMA_VARIANTS))
def test_a_reply_in_the_wrong_shape_may_be_repaired_only_into_a_correct_answer(tmp_path, executor, variant):
    body, expected = WRONG_SCHEMA_VARIANTS[variant]
    package = tmp_path / "helpdesk"
    package.mkdir()
    (package / "__init__.py").write_text(_WRONG_SCHEMA_VARIANT % body)

    report = grade(tmp_path, EXERCISE, probe_ids=["output-wrong-schema"], executor=executor)

    (outcome,) = report.outcomes
    assert outcome.outcome == expected, outcome.reason
