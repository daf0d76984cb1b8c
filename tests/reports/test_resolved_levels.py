"""A disagreement a manager resolved: its level is the level in every report, marked with who set it."""

import csv
import io

import pytest
from django.urls import reverse

from candidates.models import Invitation
from reports.selectors import assessment_overview, candidate_rows, invitation_scorecard
from rubrics.models import CriterionScore, Disagreement
from rubrics.selectors import criterion_levels, resolutions
from rubrics.services import disagreement_resolve
from tests.reports.conftest import login, result

# Bob and Carol two levels apart on grounding (×2): a flag. Both give notes (×1) a 2.
SPLIT = dict(
    results=[result("g1", "grounding", "pass"), result("g2", "grounding", "fail")],
    levels={"bob": {"grounding": 0, "notes": 2}, "carol": {"grounding": 2, "notes": 2}},
)


def _resolve(invitation, manager, level=0):
    disagreement = Disagreement.objects.get(submission__invitation=invitation, criterion__slug="grounding")
    return disagreement_resolve(disagreement=disagreement, level=level, note="Cites nothing it reads.", actor=manager)


def test_it_counts_the_reviewers_mean_until_a_manager_resolves(build, assessment, manager):
    ada = build("Ada Reviewed", Invitation.REVIEWED, **SPLIT)
    submission = ada.submissions.get()
    grounding = assessment.rubric.criteria.get(slug="grounding").pk
    before = criterion_levels(submission_ids=[submission.pk])[submission.pk][grounding]
    assert (before.level, before.mean, before.n, before.resolution) == (1.0, 1.0, 2, None)

    _resolve(ada, manager)
    after = criterion_levels(assessment=assessment)[submission.pk][grounding]
    assert (after.level, after.mean, after.n) == (0, 1.0, 2)
    assert after.resolved_by == "Alice Manager"
    assert resolutions(submission_ids=[submission.pk])[(submission.pk, grounding)].level == 0


def test_an_open_disagreement_counts_at_the_mean(build, assessment):
    ada = build("Ada Reviewed", Invitation.REVIEWED, **SPLIT)
    row = candidate_rows(assessment=assessment)[0]
    assert row.rubric_total == 2 * 1.0 + 2 and row.resolved_by == []
    card = invitation_scorecard(invitation=ada)
    assert [c.slug for c in card.agreement["disagreements"]] == ["grounding"]
    assert [d.criterion.slug for d in card.open_disagreements] == ["grounding"]


def test_the_resolved_level_is_the_level_in_rows_overview_and_scorecard(build, assessment, manager):
    ada = build("Ada Reviewed", Invitation.REVIEWED, **SPLIT)
    _resolve(ada, manager)

    row = candidate_rows(assessment=assessment)[0]
    assert row.modes["grounding"].rubric == 0
    assert row.rubric_total == 2 * 0 + 1 * 2
    assert row.resolved_by == ["Alice Manager"]
    assert assessment_overview(assessment=assessment).totals == [2.0]

    card = invitation_scorecard(invitation=ada)
    grounding = assessment.rubric.criteria.get(slug="grounding")
    assert card.levels[grounding.pk].level == 0 and card.levels[grounding.pk].mean == 1.0
    assert card.rubric_total == 2.0 and card.resolved_by == ["Alice Manager"]
    # The warning is about what is left to do: nothing. The reviewers' own agreement figures stay theirs.
    assert card.agreement["disagreements"] == [] and card.open_disagreements == []
    assert [c.slug for c, _level in card.agreement["resolved"]] == ["grounding"]
    assert card.agreement["within_one"] == 0.5


def test_a_resolved_level_without_submitted_scores_still_counts(build, assessment, manager):
    """A resolution is the level whatever the scores behind it: say a reviewer's scores were cleared."""
    ada = build("Ada Reviewed", Invitation.REVIEWED, **SPLIT)
    _resolve(ada, manager, level=3)
    submission = ada.submissions.get()
    grounding = assessment.rubric.criteria.get(slug="grounding").pk
    CriterionScore.objects.filter(review__submission=submission, criterion_id=grounding).update(level=None)
    counted = criterion_levels(submission_ids=[submission.pk])[submission.pk][grounding]
    assert (counted.level, counted.mean, counted.n) == (3, None, 0)


def test_the_pages_show_the_resolved_level_and_who_set_it(client, build, assessment, manager):
    ada = build("Ada Reviewed", Invitation.REVIEWED, **SPLIT)
    login(client, manager)
    scorecard = reverse("reports:scorecard", args=[assessment.pk, ada.pk])
    html = client.get(scorecard).content.decode()
    assert 'data-figure="rubric-total">4.0<' in html and "two or more levels apart on: Grounding" in html

    _resolve(ada, manager)
    html = client.get(scorecard).content.decode()
    assert 'data-figure="rubric-total">2.0<' in html
    assert "resolved by Alice Manager" in html and "reviewers’ mean 1.0" in html
    assert "levels apart" not in html and "Grounding resolved at level 0 by Alice Manager" in html

    comparison = client.get(reverse("reports:comparison", args=[assessment.pk])).content.decode()
    assert '<span data-figure="total">2.0</span><span class="resolved-note">resolved by Alice Manager</span>' in (
        comparison
    )
    assert 'title="Grounding resolved at 0 by Alice Manager"' in comparison

    exported = client.get(reverse("reports:comparison_csv", args=[assessment.pk])).content.decode()
    line = next(csv.DictReader(io.StringIO(exported)))
    assert line["rubric_total"] == "2.0" and line["grounding_rubric"] == "0.0"
    assert float(line["criterion_grounding_level"]) == 0 and line["criterion_grounding_resolved_by"] == "Alice Manager"
    assert float(line["criterion_notes_level"]) == 2 and line["criterion_notes_resolved_by"] == ""


@pytest.mark.parametrize("view", ["reports:comparison", "reports:comparison_csv", "reports:overview"])
def test_resolved_levels_cost_no_query_per_candidate(
    client, manager, assessment, build, view, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    login(client, manager)
    url = reverse(view, args=[assessment.pk])

    def grow(n):
        while build.n < n:
            _resolve(build(f"Cand {build.n:02d}", Invitation.REVIEWED, **SPLIT), manager, level=build.n % 4)

    grow(3)
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    grow(15)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(url).status_code == 200
    assert Disagreement.objects.filter(resolved_at__isnull=False).count() == 15
