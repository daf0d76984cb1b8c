"""The managers' reviews pages (issue #20, points 3 and 13): every graded upload listed, no dead ends."""

from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages
from django.urls import reverse

from core.roles import REVIEWERS
from rubrics.models import Review
from rubrics.selectors import review_admin_rows
from rubrics.services import review_assign, review_score_save, review_submit
from tests.builders import graded_submission
from tests.conftest import PASSWORD


def _reviewer(name):
    user = User.objects.create_user(username=name, password=PASSWORD)
    user.groups.add(Group.objects.get(name=REVIEWERS))
    return user


def _submitted(submission, reviewer, level):
    review = review_assign(submission=submission, reviewer=reviewer)
    for criterion in submission.invitation.assessment.rubric.criteria.all():
        review_score_save(review=review, criterion=criterion, level=level, note=f"level {level}")
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
