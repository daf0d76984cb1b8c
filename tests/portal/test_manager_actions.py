"""What a hiring manager does for candidates: invite (one or CSV), resend a link, release
feedback after the decision, erase personal data on request."""

import re

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from assessments.models import GradingRun
from candidates.models import ArchiveUnavailable, Candidate, Decision, Invitation, StoredArchive, Submission, hash_token
from candidates.services import (
    candidate_erase,
    decision_record,
    invitation_mark_reviewed,
    invitation_start,
    invitation_withdraw,
)
from core.models import AuditEvent
from tests.builders import graded_submission, make_zip
from workflows.uploads import submission_upload

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://testserver/t/([A-Za-z0-9_-]{43})/")


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture(autouse=True)
def _site_url(settings):
    settings.SITE_URL = "http://testserver"


def _links(message) -> list[str]:
    return LINK.findall(message.body)


# --- Invite ------------------------------------------------------------------------------------------


def test_the_assessment_page_has_both_invite_forms(manager_client, assessment):
    html = manager_client.get(reverse("assessments:detail", args=[assessment.pk])).content.decode()
    assert reverse("assessments:invite", args=[assessment.pk]) in html
    assert reverse("assessments:invite_csv", args=[assessment.pk]) in html
    assert 'for="id_email"' in html and 'for="id_csv_file"' in html


def test_inviting_one_person_emails_a_working_magic_link(manager_client, client, assessment):
    response = manager_client.post(
        reverse("assessments:invite", args=[assessment.pk]), {"name": "Lee Park", "email": "lee@example.com"}
    )
    assert response.status_code == 302
    invitation = Invitation.objects.get(candidate__email="lee@example.com")
    assert invitation.invited_by.username == "alice"
    (message,) = mail.outbox
    assert message.to == ["lee@example.com"] and message.reply_to == ["alice@example.com"]
    assert message.subject == "Your take-home for Applied AI engineer, autumn"
    assert "1 hour from the moment you press Start" in message.body
    html_body = message.alternatives[0][0]
    (token,) = _links(message)
    assert token in html_body
    assert invitation.token_hash == hash_token(token)
    assert token not in AuditEvent.objects.values_list("data", flat=True).__str__()
    client.logout()
    assert client.get(f"/t/{token}/").status_code == 302


def test_inviting_the_same_person_twice_is_refused_clearly(manager_client, invitation):
    response = manager_client.post(
        reverse("assessments:invite", args=[invitation.assessment.pk]), {"name": "Dana", "email": "DANA@example.com"}
    )
    assert response.status_code == 400
    assert "is already invited to this assessment" in response.content.decode()
    assert Invitation.objects.count() == 1 and not mail.outbox


def test_an_invalid_email_keeps_what_was_typed(manager_client, assessment):
    response = manager_client.post(
        reverse("assessments:invite", args=[assessment.pk]), {"name": "Lee Park", "email": "not-an-email"}
    )
    html = response.content.decode()
    assert response.status_code == 400 and "Enter a valid email address." in html
    assert 'value="Lee Park"' in html and not Candidate.objects.filter(name="Lee Park").exists()


def test_a_failed_email_keeps_the_invitation_and_says_to_resend(manager_client, assessment, settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.portal.test_manager_actions.BrokenBackend"}}
    response = manager_client.post(
        reverse("assessments:invite", args=[assessment.pk]), {"name": "Lee", "email": "lee@example.com"}, follow=True
    )
    assert Invitation.objects.filter(candidate__email="lee@example.com").exists()
    assert "could not be sent; use “Resend link”" in response.content.decode()


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP is down")


def test_csv_invites_the_good_lines_and_lists_the_bad_ones(manager_client, assessment, invitation):
    csv_text = (
        "name,email\n"
        "Lee Park,lee@example.com\n"
        "\n"
        "Kim Osei,kim@example.com\n"
        "Bad Line,not-an-email\n"
        "Dana Again,dana@example.com\n"
        "Lee Twice,LEE@example.com\n"
        "Too,many,columns\n"
    )
    response = manager_client.post(
        reverse("assessments:invite_csv", args=[assessment.pk]),
        {"csv_file": SimpleUploadedFile("people.csv", csv_text.encode("utf-8-sig"), content_type="text/csv")},
        follow=True,
    )
    html = response.content.decode()
    assert set(Invitation.objects.values_list("candidate__email", flat=True)) == {
        "dana@example.com",
        "lee@example.com",
        "kim@example.com",
    }
    assert sorted(m.to[0] for m in mail.outbox) == ["kim@example.com", "lee@example.com"]
    assert "Invited 2 candidates." in html
    assert "Line 5: “not-an-email” is not an email address." in html
    assert "Line 6: dana@example.com is already invited to this assessment." in html
    assert "Line 7: LEE@example.com appears earlier in the list." in html
    assert "Line 8: expected two columns, name and email." in html


def test_csv_can_be_pasted(manager_client, assessment):
    manager_client.post(
        reverse("assessments:invite_csv", args=[assessment.pk]), {"csv_text": "Lee Park, lee@example.com"}
    )
    assert Invitation.objects.filter(candidate__email="lee@example.com").exists()


def test_an_empty_csv_is_a_form_error(manager_client, assessment):
    response = manager_client.post(reverse("assessments:invite_csv", args=[assessment.pk]), {"csv_text": "  "})
    assert response.status_code == 400
    assert "Choose a CSV file or paste lines" in response.content.decode()


# --- Resend --------------------------------------------------------------------------------------------


def test_resend_rotates_the_token_and_emails_the_new_link(manager_client, client, invitation, token):
    response = manager_client.post(reverse("assessments:resend", args=[invitation.assessment.pk, invitation.pk]))
    assert response.status_code == 302
    (message,) = mail.outbox
    (new_token,) = _links(message)
    assert new_token != token
    client.logout()
    assert client.get(f"/t/{token}/").status_code == 404
    assert client.get(f"/t/{new_token}/").status_code == 302


def test_resend_revives_an_unstarted_link_that_timed_out(manager_client, invitation):
    from datetime import timedelta

    from django.utils import timezone

    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(days=1))
    manager_client.post(reverse("assessments:resend", args=[invitation.assessment.pk, invitation.pk]))
    invitation.refresh_from_db()
    assert invitation.expires_at > timezone.now() + timedelta(days=13)


def test_resend_is_refused_for_a_withdrawn_invitation(manager_client, invitation, manager):
    invitation_withdraw(invitation=invitation, actor=manager)
    response = manager_client.post(
        reverse("assessments:resend", args=[invitation.assessment.pk, invitation.pk]), follow=True
    )
    assert "its link stays off" in response.content.decode() and not mail.outbox


# --- Feedback ----------------------------------------------------------------------------------------


def _decided(invitation, manager, valid_zip, results):
    submission = graded_submission(invitation=invitation, archive=valid_zip, results=results)
    invitation_mark_reviewed(invitation=invitation)
    decision_record(invitation=invitation, outcome="advance", reason="Dana handled retries well.", actor=manager)
    return submission


RESULTS = [
    {"probe_id": "t-429", "failure_mode": "transient", "outcome": "pass", "reason": "retried"},
    {"probe_id": "t-stall", "failure_mode": "transient", "outcome": "fail", "reason": "hung"},
]


def test_feedback_preview_then_release(manager_client, portal, invitation, manager, valid_zip):
    _decided(invitation, manager, valid_zip, RESULTS)
    url = reverse("assessments:feedback", args=[invitation.assessment.pk, invitation.pk])
    html = manager_client.get(url).content.decode()
    assert "Preview" in html and "Partly handled" in html and "t-429" not in html
    status = reverse("candidates:status", args=[invitation.pk])
    assert "Partly handled" not in portal.get(status).content.decode()
    assert manager_client.post(url).status_code == 302
    invitation.refresh_from_db()
    assert invitation.feedback_released_at is not None
    assert "Partly handled" in portal.get(status).content.decode()
    assert AuditEvent.objects.filter(action="invitation.feedback_released").count() == 1


def test_feedback_cannot_be_released_before_a_decision(manager_client, started):
    url = reverse("assessments:feedback", args=[started.assessment.pk, started.pk])
    response = manager_client.post(url)
    assert response.status_code == 400 and "only after a decision" in response.content.decode()
    started.refresh_from_db()
    assert started.feedback_released_at is None


# --- Erase ---------------------------------------------------------------------------------------------


def test_erase_asks_first_then_removes_personal_data_and_files_but_keeps_aggregates(
    manager_client, invitation, manager, valid_zip, token, client, django_capture_on_commit_callbacks
):
    submission = _decided(invitation, manager, valid_zip, RESULTS)
    invitation_withdraw_reason = AuditEvent.objects.filter(action="decision.recorded").get()
    assert invitation_withdraw_reason.data["reason"] == "Dana handled retries well."
    assert StoredArchive.objects.filter(submission=submission).exists()
    url = reverse("assessments:erase", args=[invitation.assessment.pk, invitation.pk])
    confirm = manager_client.get(url).content.decode()
    assert "Erase Dana Candidate’s data" in confirm and "1 uploaded archive" in confirm
    assert Candidate.objects.get(pk=invitation.candidate_id).erased_at is None

    with django_capture_on_commit_callbacks(execute=True):
        assert manager_client.post(url).status_code == 302
    candidate = Candidate.objects.get(pk=invitation.candidate_id)
    assert candidate.name == f"Erased candidate #{candidate.pk}"
    assert candidate.email == f"erased-{candidate.pk}@invalid.example"
    assert candidate.erased_at is not None
    submission.refresh_from_db()
    assert submission.notes == "" and not StoredArchive.objects.filter(submission=submission).exists()
    assert submission.sha256 and submission.size_bytes == len(valid_zip)
    with pytest.raises(ArchiveUnavailable, match="not stored"):
        submission.archive_bytes()
    assert Decision.objects.get(invitation=invitation).reason != "Dana handled retries well."
    assert not any("Dana" in str(e.data) for e in AuditEvent.objects.all())
    assert AuditEvent.objects.filter(action="candidate.erased", actor__username="alice").exists()
    # Aggregates stay.
    invitation.refresh_from_db()
    assert invitation.state == Invitation.DECIDED and invitation.started_at is not None
    assert GradingRun.objects.get(submission=submission).results.count() == 2
    assert Submission.objects.count() == 1
    # The link stops working and the page lists the candidate as erased.
    assert client.get(f"/t/{token}/").status_code == 410
    detail = manager_client.get(reverse("assessments:detail", args=[invitation.assessment.pk])).content.decode()
    assert "dana@example.com" not in detail and "Dana Candidate" not in detail and ">erased<" in detail


def test_erasing_twice_changes_nothing(manager_client, invitation):
    url = reverse("assessments:erase", args=[invitation.assessment.pk, invitation.pk])
    manager_client.post(url)
    events = AuditEvent.objects.count()
    manager_client.post(url)
    assert AuditEvent.objects.count() == events
    assert "Already erased" in manager_client.get(url).content.decode()


def test_the_withdrawal_reason_is_redacted_on_erasure(manager_client, invitation, manager):
    invitation_withdraw(invitation=invitation, actor=manager, reason="Dana took a job at Acme.")
    manager_client.post(reverse("assessments:erase", args=[invitation.assessment.pk, invitation.pk]))
    assert not any("Acme" in str(event.data) for event in AuditEvent.objects.all())


def test_erasure_forgets_the_names_of_the_files_left_out_of_an_upload(invitation, manager):
    invitation_start(invitation=invitation)
    archive = make_zip({"echo/__init__.py": "x = 1\n", "dana-smith/__pycache__/x.pyc": b"\0"})
    submission = submission_upload(invitation=invitation, archive=archive)
    assert submission.ignored_files[0]["path"] == "dana-smith/__pycache__/x.pyc"

    candidate_erase(candidate=invitation.candidate, actor=manager)

    submission.refresh_from_db()
    assert submission.ignored_files == [] and submission.size_bytes == len(archive)
