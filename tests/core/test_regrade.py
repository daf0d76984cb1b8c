"""Staff see runs that failed on our side or ran unsandboxed, and can send a failed one back."""

import pytest
from django.urls import reverse

from assessments.models import GradingRun
from assessments.services import grading_run_claim, grading_run_fail_attempt, grading_run_finish
from candidates.services import invitation_start
from core.models import AuditEvent
from tests.builders import make_zip
from workflows.uploads import submission_accept

ZIP = make_zip({})  # an empty archive: these tests are about states, not contents


@pytest.fixture
def run(invitation):
    invitation_start(invitation=invitation)
    return submission_accept(invitation=invitation, archive=ZIP).grading_runs.get()


def _fail_three_times(run):
    for _ in range(3):
        lease = grading_run_claim(run=run)
        grading_run_fail_attempt(run=run, lease_token=lease, error="the fake model did not start")


def test_a_manager_sends_a_failed_run_back_to_the_queue(client, manager, run, django_capture_on_commit_callbacks):
    _fail_three_times(run)
    client.force_login(manager)
    page = client.get(reverse("assessments:detail", args=[run.submission.invitation.assessment_id])).content.decode()
    assert "Grade again" in page and "the fake model did not start" in page
    url = reverse("assessments:regrade", args=[run.submission.invitation.assessment_id, run.pk])
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url)
    assert response.status_code == 302
    run.refresh_from_db()
    assert (run.state, run.attempt) == (GradingRun.QUEUED, 0)
    assert len(callbacks) == 1  # the grading task is sent once the transaction commits
    assert AuditEvent.objects.filter(action="grading.requeued", actor=manager).exists()


def test_only_a_failed_run_can_be_sent_back(client, manager, run):
    client.force_login(manager)
    client.post(reverse("assessments:regrade", args=[run.submission.invitation.assessment_id, run.pk]))
    run.refresh_from_db()
    assert run.state == GradingRun.QUEUED and run.attempt == 0
    assert not AuditEvent.objects.filter(action="grading.requeued").exists()


def test_other_managers_and_reviewers_cannot_regrade(client, other_manager, reviewer, run):
    _fail_three_times(run)
    url = reverse("assessments:regrade", args=[run.submission.invitation.assessment_id, run.pk])
    client.force_login(other_manager)
    assert client.post(url).status_code == 404
    client.force_login(reviewer)
    assert client.post(url).status_code == 403
    run.refresh_from_db()
    assert run.state == GradingRun.FAILED_INFRA


def test_an_unsandboxed_run_says_so_to_staff_and_candidate(client, manager, run):
    lease = grading_run_claim(run=run)
    grading_run_finish(run=run, lease_token=lease, results=[], isolation={"sandboxed": False, "unsandboxed": True})
    client.force_login(manager)
    page = client.get(reverse("assessments:detail", args=[run.submission.invitation.assessment_id])).content.decode()
    assert "unsandboxed" in page
    invitation = run.submission.invitation
    session = client.session
    session["portal_invitations"] = [[invitation.pk, invitation.token_hash[:16]]]  # as opening its link does
    session.save()
    status = client.get(reverse("candidates:status", args=[run.submission.invitation_id])).content.decode()
    assert "unsandboxed" in status
