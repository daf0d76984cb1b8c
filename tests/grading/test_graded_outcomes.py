"""Graded probes: a check may report a score from 0 to 1 for a failure mode that is a matter of degree.

A pass/fail probe counts 1 point when it passes and 0 when it fails; a graded one counts its score,
whatever its pass mark says. A score that cannot be counted is the package's bug: an error, never a grade.
"""

import math
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db import IntegrityError, transaction

from assessments.grading.engine import report_results
from assessments.models import OutcomeCounts, ProbeResult
from grader import sdk
from grader.executors import SubprocessExecutor
from grader.package import Contract, ExercisePackage, FailureMode
from grader.probe import Probe, Verdict
from grader.runner import Exercise, GradeReport, ProbeOutcome, _Context, run_probe
from grader.verify import SubmissionSpec, judge
from tests.builders import graded_submission

# --- The verdict and the SDK's helper -------------------------------------------------------------


def test_a_verdict_without_a_score_is_pass_fail_and_one_with_a_score_is_graded():
    assert Verdict(True, "handled").score is None
    assert Verdict(False, "26 of 32 answered in time (81%)", score=0.81).score == 0.81
    whole = Verdict(True, "all 32 in time", score=1)
    assert whole.score == 1.0 and isinstance(whole.score, float)


@pytest.mark.parametrize("score", [-0.01, 1.01, math.nan, math.inf, "0.5", True, [0.5]])
def test_a_verdict_refuses_a_score_that_is_not_a_number_from_0_to_1(score):
    with pytest.raises(ValueError, match="Verdict score"):
        Verdict(True, "x", score=score)


def test_graded_clamps_rounds_and_passes_at_the_mark():
    assert "graded" in sdk.__all__
    assert sdk.graded(0.81249, "26 of 32 in time (81%)", pass_at=0.8) == Verdict(
        True, "26 of 32 in time (81%)", score=0.812
    )
    assert sdk.graded(0.99, "99 of 100") == Verdict(False, "99 of 100", score=0.99)  # the default mark is 1.0
    assert sdk.graded(1.0, "all") == Verdict(True, "all", score=1.0)
    assert sdk.graded(1.7, "over") == Verdict(True, "over", score=1.0)
    assert sdk.graded(-0.2, "under", pass_at=0.0) == Verdict(True, "under", score=0.0)
    # The stored (rounded) score decides: what reviewers see is what passed.
    assert sdk.graded(0.8996, "x", pass_at=0.9).passed


def test_graded_refuses_a_score_it_could_only_guess():
    with pytest.raises(ValueError, match="NaN"):
        sdk.graded(math.nan, "0 of 0")


# --- Counting points ------------------------------------------------------------------------------


def test_outcome_counts_add_points_a_pass_1_a_fail_0_a_graded_probe_its_score():
    counts = OutcomeCounts()
    counts.add("pass")
    counts.add("fail")
    counts.add("fail", 0.5)  # graded, under its pass mark: still half a point
    counts.add("pass", 0.9)  # graded, over its mark: not a whole point
    counts.add("error")
    counts.add("error", 0.7)  # never judged, whatever it carries

    assert (counts.passed, counts.failed, counts.errors, counts.judged, counts.scored) == (2, 2, 2, 4, 2)
    assert counts.points == pytest.approx(2.4)
    assert counts.rate == pytest.approx(0.6)
    assert counts.points_text == "2.4"


def test_pass_fail_results_alone_rate_as_they_always_did():
    counts = OutcomeCounts()
    for outcome in ("pass", "pass", "fail", "error"):
        counts.add(outcome)

    assert (counts.points, counts.rate, counts.scored, counts.points_text) == (2.0, 2 / 3, 0, "2")
    assert OutcomeCounts().rate is None


# --- The runner carries the score, and a score it cannot count is the package's bug ----------------

CALL_LIMIT = 2.0
OUTPUT = {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}}
ANSWERS = """
def answer(q):
    return {"answer": q}
"""


def _run(tmp_path: Path, check) -> ProbeOutcome:
    submission = tmp_path / "submission" / "echo"
    submission.mkdir(parents=True)
    (submission / "__init__.py").write_text(textwrap.dedent(ANSWERS))
    module = SimpleNamespace(make_responder=lambda probe: lambda body, rng: "hello", prepare=lambda probe, work_dir: {})
    probe = Probe("load-burst", "load", "32 calls at once", "ok", ("q",), check, needs_model=False)
    package = ExercisePackage(
        path=tmp_path,
        slug="t",
        title="t",
        version="0",
        summary="",
        time_limit_minutes=60,
        rubric_slug="t",
        contract=Contract("echo:answer", {"type": "string"}, OUTPUT, CALL_LIMIT, 4),
        failure_modes=(FailureMode("load", "Load", "hint", "description"),),
    )
    exercise = Exercise(package, [probe], module, preload=())
    scratch = tmp_path / "runs"
    scratch.mkdir()
    return run_probe(_Context(exercise, submission.parent, SubprocessExecutor(), scratch), probe)


def test_a_graded_check_is_a_pass_or_a_fail_with_its_score(tmp_path):
    outcome = _run(tmp_path, lambda evidence: sdk.graded(26 / 32, "26 of 32 answered in time (81%)", pass_at=0.9))

    assert (outcome.outcome, outcome.score, outcome.points) == ("fail", 0.812, 0.812)
    assert outcome.reason == "26 of 32 answered in time (81%)"
    assert outcome.to_json()["score"] == 0.812


def _forced(score):
    verdict = Verdict(True, "looked fine")
    object.__setattr__(verdict, "score", score)  # what a frozen dataclass cannot stop
    return verdict


@pytest.mark.parametrize(
    ("check", "reason"),
    [
        (lambda evidence: _forced(1.5), "the check returned an unusable score (a bug in the package): score 1.5"),
        (
            lambda evidence: SimpleNamespace(passed=True, reason="fine", score="high"),
            "the check returned an unusable score (a bug in the package): score 'high' is not a number",
        ),
        (lambda evidence: Verdict(True, "x", score=2), "the check raised (a platform bug): ValueError: Verdict score"),
    ],
)
def test_a_score_that_cannot_be_counted_is_an_error_never_a_grade(tmp_path, check, reason):
    outcome = _run(tmp_path, check)

    assert outcome.outcome == "error" and outcome.reason.startswith(reason), outcome.reason
    assert outcome.score is None and outcome.points == 0


def _report(*outcomes: tuple[str, str, float | None]) -> GradeReport:
    probes = [
        ProbeOutcome(pid, "load", "", outcome, f"why {outcome}", 0.1, score=score) for pid, outcome, score in outcomes
    ]
    return GradeReport("tiny", "0.1.0", "forkserver", False, probes, 1.0)


def test_a_report_adds_points_and_shows_scores_only_for_graded_probes():
    pass_fail = _report(("a", "pass", None), ("b", "fail", None))
    graded = _report(("a", "pass", None), ("b", "fail", 0.5), ("c", "error", None))

    assert "points" not in pass_fail.to_json() and all("score" not in p for p in pass_fail.to_json()["probes"])
    assert (graded.passed, graded.points, graded.points_by_failure_mode()) == (1, 1.5, {"load": 1.5})
    assert graded.to_json()["points"] == 1.5
    assert [p.get("score") for p in graded.to_json()["probes"]] == [None, 0.5, None]


# --- verify holds min_score and max_score to points -----------------------------------------------

PROBES = ["a", "b"]


def test_verify_holds_min_score_to_points_not_passes():
    spec = SubmissionSpec("reference", path="reference", min_score=0.75)

    assert judge(spec, [_report(("a", "pass", None), ("b", "fail", 0.5))], PROBES) == []
    (problem,) = judge(spec, [_report(("a", "pass", None), ("b", "fail", 0.4))], PROBES)
    assert problem.kind == "score"
    assert problem.line() == "reference: score 0.70 (1.4/2) is below min_score 0.75"


def test_verify_holds_max_score_to_points_too():
    spec = SubmissionSpec("starter", path="starter", max_score=0.25)

    (problem,) = judge(spec, [_report(("a", "fail", None), ("b", "fail", 0.6))], PROBES)
    assert problem.line() == "starter: score 0.30 (0.6/2) is above max_score 0.25"


# --- Stored: the score travels from the report to the row, and the database keeps it a fraction ----


def test_the_score_is_stored_with_the_result(assessment):
    results = report_results(_report(("a", "pass", None), ("b", "fail", 0.812), ("c", "fail", None)))

    run = graded_submission(assessment, results=results).grading_runs.get()  # stored by grading_run_finish

    assert dict(run.results.values_list("probe_id", "score")) == {"a": None, "b": 0.812, "c": None}


@pytest.mark.parametrize(
    ("outcome", "score"), [("pass", 1.5), ("fail", -0.1), ("error", 0.5)], ids=["over", "under", "on-an-error"]
)
def test_the_database_refuses_a_score_outside_0_to_1_or_on_an_error(assessment, outcome, score):
    run = graded_submission(assessment, results=[]).grading_runs.get()

    with pytest.raises(IntegrityError), transaction.atomic():
        ProbeResult.objects.create(run=run, probe_id="p", failure_mode="load", outcome=outcome, score=score, reason="x")
