"""Graded probe results in every figure: a graded probe counts its score, a pass/fail probe 1 or 0.

Ada's check has one pass/fail probe that passed and one graded probe that failed with a score of
0.5 ("16 of 32 answered in time"): she has 1.5 points of 2, a probe score of 75%, where counting
passes alone would say 50%.
"""

import csv
import io
import shutil

import pytest
from django.urls import reverse

from assessments.models import Assessment, GradingRun
from assessments.services import grading_run_claim, grading_run_finish
from candidates.models import Invitation
from candidates.selectors import feedback_summary
from grader.package import load_package
from reports.models import ReferenceRun
from reports.selectors import assessment_overview, candidate_rows, invitation_scorecard, reference_row
from reports.selectors.regrade import UP, regrade_preview
from rubrics.services import review_assign
from tests.builders import graded_submission
from tests.conftest import FIXTURES
from tests.reports.conftest import login, result
from workflows.exercises import exercise_sync
from workflows.regrades import regrade_start

LOAD_REASON = "16 of 32 answered in time (50%)"


def graded(probe_id: str, mode: str, outcome: str, score: float, reason: str = LOAD_REASON) -> dict:
    return {**result(probe_id, mode, outcome), "score": score, "reason": reason}


ADA = [result("g1", "grounding", "pass"), graded("load-burst", "grounding", "fail", 0.5)]


@pytest.fixture
def ada(build):
    return build("Ada Graded", Invitation.GRADED, results=ADA)


def test_a_graded_half_and_a_pass_make_a_probe_score_of_75_percent_in_the_rows(assessment, ada):
    (row,) = candidate_rows(assessment=assessment)
    cell = row.cell("grounding")

    assert (row.passed, row.failed, row.points, row.scored) == (1, 1, 1.5, 1)
    assert row.pass_rate == cell.rate == 0.75


def test_the_comparison_and_its_csv_rate_by_points_under_the_same_columns(client, manager, assessment, ada):
    login(client, manager)
    html = client.get(reverse("reports:comparison", args=[assessment.pk])).content.decode()
    response = client.get(reverse("reports:comparison_csv", args=[assessment.pk]))
    (line,) = list(csv.DictReader(io.StringIO(response.content.decode())))

    assert 'title="1 passed, 1 failed; 1.5 of 2 points">75%<' in html
    assert (line["probe_pass_rate"], line["probes_passed"], line["probes_failed"]) == ("0.75", "1", "1")
    assert line["grounding_pass_rate"] == "0.75"


def test_the_overview_averages_the_graded_score_and_calls_the_mode_partly_handled(client, manager, assessment, ada):
    (mode,) = [m for m in assessment_overview(assessment=assessment).modes if m.mode == "grounding"]
    login(client, manager)
    html = client.get(reverse("reports:overview", args=[assessment.pk])).content.decode()

    assert (mode.rate, mode.passed, mode.failed, mode.partly) == (0.75, 1, 1, 1)
    assert '<tr data-mode="grounding">' in html and 'data-col="rate">75%<' in html


def test_the_scorecard_shows_the_probe_score_and_the_graded_probes_score_beside_its_badge(
    client, manager, assessment, ada
):
    card = invitation_scorecard(invitation=ada)
    login(client, manager)
    html = client.get(reverse("reports:scorecard", args=[assessment.pk, ada.pk])).content.decode()

    assert (card.probe_rate, card.probe_passed, card.probe_judged, card.probe_points) == (0.75, 1, 2, 1.5)
    assert "<dt>Probe score</dt>" in html and 'data-figure="probe-rate">75%<' in html
    assert "1 of 2 passed · 1.5 points" in html
    assert '<span class="outcome outcome-fail">Fail · 50%</span>' in html and LOAD_REASON in html
    assert '<span class="outcome outcome-pass">Pass</span>' in html  # a pass/fail probe's badge as it was


def test_a_scorecard_of_pass_fail_probes_alone_reads_as_it_always_did(client, manager, assessment, build):
    bo = build(
        "Bo Plain", Invitation.GRADED, results=[result("g1", "grounding", "pass"), result("g2", "grounding", "fail")]
    )
    login(client, manager)
    html = client.get(reverse("reports:scorecard", args=[assessment.pk, bo.pk])).content.decode()

    assert "<dt>Probes passed</dt>" in html and 'data-figure="probe-rate">50%<' in html
    assert " points" not in html and '<span class="outcome outcome-fail">Fail</span>' in html


def test_the_reviewer_sees_the_graded_score_its_reason_and_a_suggestion_by_points(client, reviewer, assessment, ada):
    submission = ada.submissions.get()
    review = review_assign(submission=submission, reviewer=reviewer)
    client.force_login(reviewer)
    html = client.get(reverse("rubrics:review", args=[review.pk])).content.decode()

    assert 'verdict-not_handled">Fail · 50%</span>' in html
    assert f"<strong>Reason:</strong> {LOAD_REASON}" in html
    assert 'data-figure="mode-score">score 75%<' in html
    # 0.75 -> level 2 (1 of 2 passes alone would suggest level 1).
    assert "<strong>level 2</strong> (1 of 2 passed, probe score 75% with graded probes counting their score)" in html


def test_the_reference_row_counts_graded_scores(assessment):
    ReferenceRun.objects.create(
        exercise=assessment.exercise,
        results=[result("g1", "grounding", "pass"), graded("load-burst", "grounding", "pass", 0.9, "29 of 32")],
    )

    assert reference_row(assessment=assessment).pass_rate == pytest.approx(0.95)


@pytest.mark.parametrize(
    ("scores", "verdict"),
    [((1.0, 1.0), "handled"), ((1.0, 0.5), "partly"), ((0.0, 0.0), "not_handled")],
)
def test_candidate_feedback_counts_points_and_still_shows_one_verdict_per_mode(build, scores, verdict):
    results = [graded(f"load-{n}", "grounding", "pass" if s >= 0.9 else "fail", s) for n, s in enumerate(scores)]
    invitation = build("Cy Feedback", Invitation.GRADED, results=results)

    (row,) = feedback_summary(invitation=invitation)

    assert row["verdict"] == verdict
    assert set(row) == {"mode", "label", "hint", "verdict", "verdict_label"}  # no probe, no reason, no score


# --- A trial regrade: a score that moves is a change, and the hiring bar reads the probe score -------


@pytest.fixture
def version_two(exercise, tmp_path):
    folder = tmp_path / "tiny-echo"
    shutil.copytree(FIXTURES / "exercises" / "tiny-echo", folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = folder / "exercise.toml"
    toml.write_text(toml.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    two, _ = exercise_sync(package=load_package(folder))
    return two


def test_a_trial_that_moves_only_a_score_changes_the_rate_and_crosses_the_bar(assessment, version_two, manager):
    graded_submission(assessment, results=ADA)
    Assessment.objects.filter(pk=assessment.pk).update(hiring_bar=80)
    trial = regrade_start(assessment=Assessment.objects.get(pk=assessment.pk), exercise=version_two, actor=manager)
    run = GradingRun.objects.get(trial=trial)
    better = [result("g1", "grounding", "pass"), graded("load-burst", "grounding", "fail", 0.8, "26 of 32 (81%)")]
    grading_run_finish(run=run, lease_token=grading_run_claim(run=run), results=better, isolation={})

    (row,) = regrade_preview(regrade=trial).rows
    (change,) = row.changes

    assert (row.old_rate, row.new_rate, row.crosses) == (0.75, 0.9, UP)
    assert (change.probe_id, change.old_label, change.new_label) == ("load-burst", "fail 50%", "fail 80%")
    assert [m.changed for m in row.modes] == [True]
