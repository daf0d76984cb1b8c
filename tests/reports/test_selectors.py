from datetime import timedelta

from assessments.models import GradingRun
from candidates.models import Invitation
from reports.models import ReferenceRun
from reports.selectors import (
    ComparisonQuery,
    assessment_overview,
    candidate_rows,
    comparison_rows,
    invitation_scorecard,
)
from tests.reports.conftest import result


def _cast(build):
    """Five candidates with hand-countable figures on the tiny-echo rubric (grounding ×2, notes ×1)."""
    build("Ann Invited")
    build("Bo Started", Invitation.STARTED)
    ada = build(
        "Ada Reviewed",
        Invitation.REVIEWED,
        results=[result("g1", "grounding", "pass"), result("g2", "grounding", "fail"), result("i1", "input", "pass")],
        levels={"bob": {"grounding": 3, "notes": 1}, "carol": {"grounding": 2, "notes": 2}},
        minutes=40,
    )
    cy = build(
        "Cy Graded",
        Invitation.GRADED,
        results=[result("g1", "grounding", "pass"), result("g2", "grounding", "error"), result("i1", "input", "fail")],
        minutes=20,
    )
    di = build("Di Submitted", Invitation.SUBMITTED, minutes=60)
    return ada, cy, di


def test_it_counts_the_funnel_completion_and_median_time(build, assessment):
    _cast(build)
    overview = assessment_overview(assessment=assessment)
    counts = {stage["state"]: stage["count"] for stage in overview.funnel}
    assert counts == {"invited": 5, "started": 4, "submitted": 3, "graded": 2, "reviewed": 1, "decided": 0}
    conversions = [stage["conversion"] for stage in overview.funnel]
    assert conversions[0] is None and conversions[1] == 4 / 5 and conversions[3] == 2 / 3
    assert overview.completion_rate == 3 / 4
    assert overview.median_time_spent == timedelta(minutes=40)
    assert overview.n_timed == 3


def test_it_leaves_infra_errors_out_of_pass_rates_and_counts_them_apart(build, assessment):
    _cast(build)
    overview = assessment_overview(assessment=assessment)
    modes = {m.mode: m for m in overview.modes}
    assert (modes["grounding"].passed, modes["grounding"].failed, modes["grounding"].errors) == (2, 1, 1)
    assert modes["grounding"].rate == 2 / 3
    # Ada passed one of two grounding probes (partly); Cy passed the only one that was judged (handled).
    assert (modes["grounding"].handled, modes["grounding"].partly, modes["grounding"].missed) == (1, 1, 0)
    assert modes["input"].rate == 1 / 2 and modes["input"].discriminates
    assert overview.infra_errors == 1 and overview.infra_candidates == 1


def test_it_scores_rubric_levels_per_mode_and_the_weighted_total(build, assessment):
    ada, cy, _di = _cast(build)
    rows = {row.pk: row for row in candidate_rows(assessment=assessment)}
    ada_row = rows[ada.pk]
    # grounding: mean of 3 and 2; notes: mean of 1 and 2; weights 2 and 1.
    assert ada_row.modes["grounding"].rubric == 2.5
    assert ada_row.rubric_total == 2 * 2.5 + 1 * 1.5
    assert ada_row.modes["input"].rubric is None
    assert rows[cy.pk].rubric_total is None
    assert assessment_overview(assessment=assessment).totals == [6.5]


def test_it_uses_the_latest_uploads_latest_finished_run(build, assessment):
    ada, *_ = _cast(build)
    latest = ada.submissions.order_by("-number").first()
    old = latest.grading_runs.get()
    GradingRun.objects.filter(pk=old.pk).update(finished_at=old.finished_at - timedelta(hours=1))
    newer = GradingRun.objects.create(submission=latest, state=GradingRun.DONE, exercise=old.exercise)
    GradingRun.objects.filter(pk=newer.pk).update(finished_at=old.finished_at)
    newer.results.create(probe_id="only", failure_mode="cost", outcome="pass", reason="ok")
    row = next(r for r in candidate_rows(assessment=assessment) if r.pk == ada.pk)
    assert row.passed == 1 and row.modes["cost"].passed == 1 and row.modes["grounding"].judged == 0


def test_it_filters_and_sorts_with_empty_values_last(build, assessment):
    ada, cy, _di = _cast(build)
    rows = candidate_rows(assessment=assessment)
    modes = ["grounding", "input"]
    by_pass = comparison_rows(rows, modes, sort="pass", direction="desc", state="", min_pass=None)
    assert [r.pk for r in by_pass[:2]] == [ada.pk, cy.pk]  # 2/3 before 1/2
    assert all(r.pass_rate is None for r in by_pass[2:])
    assert [r.pk for r in comparison_rows(rows, modes, sort="pass", direction="asc", state="", min_pass=None)[:2]] == [
        cy.pk,
        ada.pk,
    ]
    assert [
        r.pk for r in comparison_rows(rows, modes, sort="name", direction="asc", state="graded", min_pass=None)
    ] == [cy.pk]
    assert [r.pk for r in comparison_rows(rows, modes, sort="name", direction="asc", state="", min_pass=60)] == [ada.pk]
    assert (
        comparison_rows(rows, modes, sort="bogus", direction="asc", state="", min_pass=None)[0].name == "Ada Reviewed"
    )


def test_it_puts_the_highest_total_first_then_the_probes_and_those_without_results_last(build, assessment):
    ada, cy, _di = _cast(build)
    # Eve ties Ada's total (6.5) with every probe passed: the probe rate breaks the tie.
    eve = build(
        "Eve Reviewed",
        Invitation.REVIEWED,
        results=[result("g1", "grounding", "pass")],
        levels={"bob": {"grounding": 3, "notes": 1}, "carol": {"grounding": 2, "notes": 2}},
    )
    rows = candidate_rows(assessment=assessment)
    modes = ["grounding", "input"]
    names = [row.name for row in comparison_rows(rows, modes)]
    # Cy is graded but not reviewed (no total); Ann, Bo and Di have nothing to compare.
    assert names == ["Eve Reviewed", "Ada Reviewed", "Cy Graded", "Ann Invited", "Bo Started", "Di Submitted"]
    assert [r.pk for r in comparison_rows(rows, modes, sort="total", direction="desc")[:3]] == [eve.pk, ada.pk, cy.pk]
    # Whatever the order asked for, the group without results stays below.
    by_name = [row.name for row in comparison_rows(rows, modes, sort="name", direction="desc")]
    assert by_name == ["Eve Reviewed", "Cy Graded", "Ada Reviewed", "Di Submitted", "Bo Started", "Ann Invited"]
    by_total_asc = [row.name for row in comparison_rows(rows, modes, sort="total", direction="asc")]
    assert by_total_asc[:3] == ["Eve Reviewed", "Ada Reviewed", "Cy Graded"]  # a tie keeps the better probes first
    assert not any(row.has_results for row in comparison_rows(rows, modes)[3:])


def test_the_comparison_query_falls_back_to_the_default_for_what_the_page_never_writes():
    query = ComparisonQuery.from_params({"sort": "bogus", "dir": "sideways", "state": "x", "min_pass": "150"}, modes=[])
    assert (query.sort, query.direction, query.state, query.min_pass) == ("total", "desc", "", 100)
    assert ComparisonQuery.from_params({"sort": "name"}, modes=[]).direction == "asc"
    assert ComparisonQuery.from_params({"sort": "grounding-rubric"}, modes=["grounding"]).direction == "desc"
    assert ComparisonQuery.from_params({"state": "reviewed", "min_pass": "5"}, modes=[]).params == {
        "state": "reviewed", "min_pass": 5, "sort": "total", "dir": "desc",
    }  # fmt: skip


def test_the_scorecard_has_probes_reviews_agreement_and_history(build, assessment):
    ada, *_ = _cast(build)
    ReferenceRun.objects.create(exercise=assessment.exercise, results=[result("g1", "grounding", "pass")])
    card = invitation_scorecard(invitation=ada)
    # In the order tiny-echo declares its modes, with its titles.
    assert [(g["mode"], g["label"]) for g in card.probe_groups] == [
        ("input", "Input handling"),
        ("grounding", "Grounding"),
    ]
    assert card.probe_groups[1]["reference"].rate == 1.0
    assert (card.probe_passed, card.probe_judged, card.probe_errors) == (2, 3, 0)
    assert len(card.reviewers) == 2 and card.rubric_total == 6.5
    assert card.agreement["exact"] == 0.0 and card.agreement["within_one"] == 1.0
    assert card.time_spent == timedelta(minutes=40)
    assert [s.number for s in card.submissions] == [1]
