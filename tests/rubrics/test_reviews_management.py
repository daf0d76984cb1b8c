"""The managers' reviews pages (issue #20, points 3 and 13): every graded upload listed, no dead ends."""

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages
from django.urls import reverse

from core.roles import REVIEWERS
from rubrics.models import Disagreement, GoldStandard, Review
from rubrics.selectors import review_admin_rows
from rubrics.services import review_assign, review_score_save, review_submit
from tests.builders import graded_submission, review_verdict
from tests.conftest import PASSWORD


def _reviewer(name):
    user = User.objects.create_user(username=name, password=PASSWORD)
    user.groups.add(Group.objects.get(name=REVIEWERS))
    return user


def _submitted(submission, reviewer, level):
    review = review_assign(submission=submission, reviewer=reviewer)
    for criterion in submission.invitation.assessment.rubric.criteria.all():
        review_score_save(review=review, criterion=criterion, level=level, note=f"level {level}")
    review_verdict(review)
    return review_submit(review=review)


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


# --- Point 3: every graded upload is on the page, the ones without reviewers first -----------------


def test_it_lists_a_graded_upload_without_reviewers_first_and_flagged(client, manager, assessment, reviewer):
    staffed = graded_submission(assessment, name="Sam Staffed", email="sam@example.com")
    review_assign(submission=staffed, reviewer=reviewer)
    review_assign(submission=staffed, reviewer=_reviewer("dave"))
    bare = graded_submission(assessment)
    client.force_login(manager)
    html = client.get(reverse("rubrics:manage", args=[assessment.pk])).content.decode()
    assert "Dana Candidate" in html and "Sam Staffed" in html
    assert html.index("Dana Candidate") < html.index("Sam Staffed")
    assert f'id="submission-{bare.pk}" class="needs-reviewers"' in html
    assert "Needs reviewers" in html and "1 graded upload needs reviewers" in html
    assert "Balance automatically (adds 2)" in html


def test_it_does_not_list_an_upload_still_being_graded_nor_flag_a_decided_one(assessment, reviewer):
    from candidates.models import Invitation
    from candidates.services import decision_record

    graded_submission(assessment, mark_graded=False)
    decided = graded_submission(assessment, name="Dee Cided", email="dee@example.com")
    review = _submitted(decided, reviewer, 2)
    invitation = Invitation.objects.get(pk=decided.invitation_id)
    decision_record(invitation=invitation, outcome="reject", reason="no", actor=assessment.owner)
    rows = review_admin_rows(assessment=assessment)
    assert [r.submission for r in rows] == [review.submission]
    assert not rows[0].needs_reviewers


def test_the_assign_picker_offers_the_assessments_reviewers_only(client, manager, assessment, reviewer, reviewer2):
    assessment.reviewers.set([reviewer])
    submission = graded_submission(assessment)
    client.force_login(manager)
    html = client.get(reverse("rubrics:manage", args=[assessment.pk])).content.decode()
    assert f'<option value="{reviewer.pk}">bob</option>' in html
    assert f'<option value="{reviewer2.pk}">' not in html
    response = client.post(reverse("rubrics:assign", args=[submission.pk]), {"reviewer": reviewer2.pk})
    assert not Review.objects.filter(submission=submission, reviewer=reviewer2).exists()
    assert _messages(response)[0][0] == "error"
    response = client.post(reverse("rubrics:assign", args=[submission.pk]), {"reviewer": reviewer.pk})
    assert response.url.endswith(f"/reviews/manage/{assessment.pk}/#submission-{submission.pk}")
    assert Review.objects.filter(submission=submission, reviewer=reviewer).exists()


def test_balancing_fills_a_bare_upload_from_the_page(client, manager, assessment, reviewer, reviewer2):
    submission = graded_submission(assessment)
    client.force_login(manager)
    response = client.post(reverse("rubrics:assign", args=[submission.pk]), {"reviewer": ""})
    assert set(Review.objects.filter(submission=submission).values_list("reviewer__username", flat=True)) == {
        "bob",
        "carol",
    }
    assert _messages(response) == [("success", "Assigned bob, carol.")]


# --- Point 13: the dead ends ---------------------------------------------------------------------


def test_assigning_nobody_is_not_a_success(client, manager, assessment, reviewer, reviewer2):
    submission = graded_submission(assessment)
    review_assign(submission=submission, reviewer=reviewer)
    review_assign(submission=submission, reviewer=reviewer2)
    client.force_login(manager)
    response = client.post(reverse("rubrics:assign", args=[submission.pk]), {"reviewer": ""})
    [(level, text)] = _messages(response)
    assert level == "error" and "every reviewer of this assessment is already on it" in text
    _reviewer("dave")
    response = client.post(reverse("rubrics:assign", args=[submission.pk]), {"reviewer": ""}, follow=True)
    level, text = _messages(response)[-1]
    assert level == "info" and "already has its 2 reviewers" in text
    assert Review.objects.filter(submission=submission).count() == 2


def test_no_add_control_when_nobody_is_left_to_add(client, manager, assessment, reviewer, reviewer2):
    submission = graded_submission(assessment)
    _submitted(submission, reviewer, 0)
    _submitted(submission, reviewer2, 3)
    client.force_login(manager)
    for url in (reverse("rubrics:disagreements"), reverse("rubrics:manage", args=[assessment.pk])):
        html = client.get(url).content.decode()
        assert "Every reviewer of this assessment is already on it" in html
        assert "Or add another reviewer" not in html and f'action="/reviews/submissions/{submission.pk}/' not in html
        assert reverse("assessments:edit", args=[assessment.pk]) in html
    _reviewer("dave")
    html = client.get(reverse("rubrics:disagreements")).content.decode()
    assert "Or add another reviewer" in html and ">dave</option>" in html


def test_an_empty_gold_form_is_refused(client, manager, assessment):
    submission = graded_submission(assessment)
    client.force_login(manager)
    response = client.post(reverse("rubrics:gold", args=[submission.pk]), {"label": "reference"})
    assert response.status_code == 200
    assert "Nothing to save: choose the expected level of at least one criterion." in response.content.decode()
    assert not GoldStandard.objects.filter(submission=submission).exists()


def test_gold_pickers_show_the_anchors_and_can_be_removed(client, manager, assessment):
    submission = graded_submission(assessment)
    first, *rest = assessment.rubric.criteria.all()
    client.force_login(manager)
    html = client.get(reverse("rubrics:gold", args=[submission.pk])).content.decode()
    for level in range(4):
        assert first.anchor(level) in html
    response = client.post(reverse("rubrics:gold", args=[submission.pk]), {f"c{first.pk}": "2"})
    assert _messages(response) == [("success", f"Calibration levels saved for 1 of {1 + len(rest)} criteria.")]
    assert GoldStandard.objects.get(submission=submission).expected_level == 2
    assert "Remove calibration" in client.get(reverse("rubrics:gold", args=[submission.pk])).content.decode()
    client.post(reverse("rubrics:gold", args=[submission.pk]), {"clear": "1"})
    assert not GoldStandard.objects.filter(submission=submission).exists()


@pytest.fixture
def disagreement(assessment, reviewer, reviewer2):
    submission = graded_submission(assessment)
    _submitted(submission, reviewer, 0)
    _submitted(submission, reviewer2, 2)
    return Disagreement.objects.filter(submission=submission).order_by("pk").first()


def test_resolve_pickers_show_the_anchors_and_who_chose_what(client, manager, disagreement):
    client.force_login(manager)
    html = client.get(reverse("rubrics:disagreements")).content.decode()
    for level in range(4):
        assert disagreement.criterion.anchor(level) in html
    assert "chosen by bob" in html and "chosen by carol" in html


def test_resolving_returns_to_the_same_filter_at_the_row(client, manager, assessment, disagreement):
    client.force_login(manager)
    here = reverse("rubrics:disagreements") + f"?show=open&assessment={assessment.pk}"
    response = client.post(
        reverse("rubrics:resolve", args=[disagreement.pk]), {"level": "1", "note": "Checks ids.", "next": here}
    )
    assert response.url == f"{here}&resolved={disagreement.pk}#disagreement-{disagreement.pk}"
    html = client.get(response.url).content.decode()
    # The open list keeps the row just resolved in its place, showing how it was resolved.
    assert f'id="disagreement-{disagreement.pk}"' in html and "Resolved at level 1 by alice: Checks ids." in html
    assert f'value="{here.replace("&", "&amp;")}&amp;resolved={disagreement.pk}"' in html


def test_resolving_with_htmx_swaps_the_row_and_keeps_input_on_error(client, manager, disagreement):
    client.force_login(manager)
    url = reverse("rubrics:resolve", args=[disagreement.pk])
    here = reverse("rubrics:disagreements") + "?show=all"
    response = client.post(url, {"level": "3", "note": "", "next": here}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith("<article")
    assert "Choose a final level and write a calibration note." in html
    assert 'value="3" required checked' in html and f'value="{here}"' in html
    response = client.post(
        url, {"level": "1", "note": "Both half right.", "next": here}, headers={"HX-Request": "true"}
    )
    assert "Resolved at level 1 by alice: Both half right." in response.content.decode()
    assert not _messages(response)  # the row says it; a message would surface on the next page instead


def test_a_next_outside_the_site_is_ignored(client, manager, disagreement):
    client.force_login(manager)
    response = client.post(
        reverse("rubrics:resolve", args=[disagreement.pk]),
        {"level": "1", "note": "ok", "next": "https://evil.example/x"},
    )
    assert response.url.startswith(reverse("rubrics:disagreements") + "?show=open&resolved=")
    response = client.post(
        reverse("rubrics:assign", args=[disagreement.submission_id]), {"reviewer": "", "next": "//evil.example/"}
    )
    assert response.url.startswith("/reviews/manage/")


def test_outsiders_cannot_use_the_managers_actions(client, other_manager, reviewer, disagreement):
    resolve = reverse("rubrics:resolve", args=[disagreement.pk])
    client.force_login(other_manager)
    assert client.post(resolve, {"level": "1", "note": "x"}).status_code == 404
    assert client.post(reverse("rubrics:assign", args=[disagreement.submission_id]), {}).status_code == 404
    assert client.post(reverse("rubrics:gold", args=[disagreement.submission_id]), {"clear": "1"}).status_code == 404
    client.force_login(reviewer)
    assert client.post(resolve, {"level": "1", "note": "x"}).status_code == 403
    disagreement.refresh_from_db()
    assert not disagreement.is_resolved
