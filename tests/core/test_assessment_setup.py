"""Managers set up openings in the app (#15, finding 2): create, edit, archive; reviewers and retention."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from assessments.models import Assessment
from candidates.models import Candidate, Invitation
from candidates.services import candidate_get_or_create, candidates_erase_past_retention, invitation_create
from core.models import AuditEvent
from rubrics.models import Review
from rubrics.services import reviews_assign_for_submission
from tests.builders import make_zip


def _form(exercise, **extra) -> dict:
    closes = timezone.localtime() + timedelta(days=20)
    return {
        "title": "Platform engineer, winter",
        "exercise": exercise.pk,
        "time_limit_minutes": "",
        "closes_at": closes.strftime("%Y-%m-%dT%H:%M"),
        "reviewers_per_submission": "1",
        "retention_months": "",
        **extra,
    }


def test_the_empty_dashboard_leads_to_the_new_assessment_page_not_the_admin(client, manager, exercise):
    client.force_login(manager)
    page = client.get(reverse("assessments:dashboard")).content.decode()
    assert reverse("assessments:new") in page and "admin" not in page.lower()


def test_a_manager_creates_an_assessment_with_its_reviewers(client, manager, exercise, reviewer, reviewer2):
    client.force_login(manager)
    form = client.get(reverse("assessments:new")).content.decode()
    assert exercise.title in form and "bob" in form and "carol" in form
    response = client.post(reverse("assessments:new"), _form(exercise, reviewers=[reviewer2.pk], retention_months="6"))
    assessment = Assessment.objects.get(title="Platform engineer, winter")
    assert response.status_code == 302 and response["Location"] == reverse("assessments:detail", args=[assessment.pk])
    assert assessment.owner == manager and assessment.exercise == exercise
    assert (
        assessment.time_limit_minutes == exercise.time_limit_minutes and assessment.rubric.slug == exercise.rubric_slug
    )
    assert list(assessment.reviewers.all()) == [reviewer2] and assessment.retention_months == 6
    assert AuditEvent.objects.filter(action="assessment.created", actor=manager).exists()


def test_bad_input_is_shown_beside_its_field(client, manager, exercise):
    client.force_login(manager)
    past = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("assessments:new"), _form(exercise, title="  ", closes_at=past, reviewers_per_submission="9")
    )
    page = response.content.decode()
    assert response.status_code == 400 and not Assessment.objects.exists()
    assert "An assessment needs a title." in page and "must be in the future" in page
    assert "less than or equal to 5" in page


def test_editing_changes_what_a_manager_may_change_and_never_the_version(client, assessment, manager, exercise):
    client.force_login(manager)
    url = reverse("assessments:edit", args=[assessment.pk])
    closes = timezone.localtime(assessment.closes_at).strftime("%Y-%m-%dT%H:%M")
    # A forged version in the POST is ignored: the field is disabled.
    data = {**_form(exercise, title="Renamed", closes_at=closes, time_limit_minutes="90"), "exercise": "999999"}
    assert client.post(url, data).status_code == 302
    assessment.refresh_from_db()
    assert assessment.title == "Renamed" and assessment.time_limit_minutes == 90
    assert assessment.exercise == exercise and assessment.reviewers_per_submission == 1
    assert AuditEvent.objects.filter(action="assessment.changed", target_id=str(assessment.pk)).exists()


def test_archiving_closes_uploads_and_hides_it_and_can_be_undone(client, assessment, manager):
    client.force_login(manager)
    client.post(reverse("assessments:archive", args=[assessment.pk]), follow=True)  # the message is read there
    assessment.refresh_from_db()
    assert assessment.archived_at is not None and not assessment.is_open
    assert assessment.title not in client.get(reverse("assessments:list")).content.decode()
    archived = client.get(reverse("assessments:list"), {"archived": "1"}).content.decode()
    assert assessment.title in archived
    client.post(reverse("assessments:archive", args=[assessment.pk]), {"undo": "1"})
    assessment.refresh_from_db()
    assert assessment.archived_at is None


def test_the_chosen_reviewers_are_the_only_ones_assigned(assessment, reviewer, reviewer2):
    from candidates.services import invitation_start
    from workflows.uploads import submission_accept

    assessment.reviewers.set([reviewer2])
    Assessment.objects.filter(pk=assessment.pk).update(reviewers_per_submission=2)
    assessment.refresh_from_db()
    candidate = candidate_get_or_create(name="Rae", email="rae@example.com")
    invitation, _ = invitation_create(assessment=assessment, candidate=candidate, invited_by=assessment.owner)
    invitation_start(invitation=invitation)
    submission = submission_accept(invitation=invitation, archive=make_zip({}))
    reviews_assign_for_submission(submission=submission)
    assert list(Review.objects.filter(submission=submission).values_list("reviewer__username", flat=True)) == ["carol"]


@pytest.mark.parametrize(("months", "erased"), [(None, False), (3, True)])
def test_an_assessments_retention_decides_when_its_candidates_are_erased(assessment, manager, months, erased):
    Assessment.objects.filter(pk=assessment.pk).update(retention_months=months)
    candidate = candidate_get_or_create(name="Old Candidate", email="old@example.com")
    invitation, _ = invitation_create(assessment=assessment, candidate=candidate, invited_by=manager)
    Invitation.objects.filter(pk=invitation.pk).update(
        state=Invitation.WITHDRAWN, closed_at=timezone.now() - timedelta(days=130)
    )
    # Four months ago: past a 3-month retention, well inside the default 12.
    candidates_erase_past_retention(months=12)
    assert (Candidate.objects.get(pk=candidate.pk).erased_at is not None) is erased
