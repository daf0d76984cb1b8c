"""A grading that fails on our side after every attempt is told truthfully: to the manager by email
and on the dashboard ("Uploads we could not check", with Grade again), and it resumes by itself when a worker has
proved it can grade again. Nothing of it is counted against the candidate.
"""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from assessments.models import GradingRun
from candidates.models import Submission
from candidates.services import invitation_start
from core.models import AuditEvent
from tests.builders import DEFAULT_FILES, make_zip
from workflows.grading import grading_runs_resume, grading_runs_sweep
from workflows.tasks import grade_submission
from workflows.uploads import submission_upload


@pytest.fixture
def run(invitation):
    invitation_start(invitation=invitation)
    submission = submission_upload(invitation=invitation, archive=make_zip(DEFAULT_FILES))
    return submission.grading_runs.get()


def _last_attempt_fails(run: GradingRun) -> GradingRun:
    """The next attempt is the last one, and the stored archive no longer matches its checksum: our fault."""
    GradingRun.objects.filter(pk=run.pk).update(attempt=GradingRun.MAX_ATTEMPTS - 1)
    Submission.objects.filter(pk=run.submission_id).update(sha256="0" * 64)
    grade_submission.apply(args=(run.pk,))
    run.refresh_from_db()
    return run


def test_the_last_failed_attempt_emails_the_manager_once_and_puts_it_under_needs_you(
    run, invitation, client, manager, other_manager, reviewer
):
    run = _last_attempt_fails(run)

    assert run.state == GradingRun.FAILED_INFRA and "no longer matches its sha256" in run.infra_error
    (email,) = mail.outbox
    assert email.to == [manager.email]
    assert email.subject == f"Grading could not run for {invitation.candidate.name} ({invitation.assessment.title})"
    assert "no longer matches its sha256" in email.body and "Nothing is counted against the candidate" in email.body
    assert f"/assessments/{invitation.assessment_id}/" in email.body
    assert AuditEvent.objects.filter(action="grading.manager_told").count() == 1

    client.force_login(manager)
    html = client.get("/").content.decode()
    assert (
        "Uploads we could not check" in html
        and invitation.candidate.name in html
        and "no longer matches its sha256" in html
    )
    assert f'action="/assessments/{invitation.assessment_id}/runs/{run.pk}/regrade/"' in html

    # Another team's manager and a reviewer see none of it (nor the candidate's name).
    for user in (other_manager, reviewer):
        client.force_login(user)
        html = client.get("/").content.decode()
        assert "Uploads we could not check" not in html and invitation.candidate.name not in html

    client.force_login(manager)
    response = client.post(f"/assessments/{invitation.assessment_id}/runs/{run.pk}/regrade/", {"back": "dashboard"})
    assert response.status_code == 302 and response["Location"] == "/"
    run.refresh_from_db()
    assert (run.state, run.attempt) == (GradingRun.QUEUED, 0)
    assert "Uploads we could not check" not in client.get("/").content.decode()
    # "back" names a page; anything else goes to the assessment, never to an address it carries.
    GradingRun.objects.filter(pk=run.pk).update(state=GradingRun.FAILED_INFRA)
    response = client.post(
        f"/assessments/{invitation.assessment_id}/runs/{run.pk}/regrade/", {"back": "https://evil.example/"}
    )
    assert response["Location"] == f"/assessments/{invitation.assessment_id}/"


def test_a_run_taken_back_from_a_dead_worker_on_its_last_attempt_tells_the_manager(run, manager):
    long_ago = timezone.now() - timedelta(hours=1)
    GradingRun.objects.filter(pk=run.pk).update(
        state=GradingRun.RUNNING, attempt=GradingRun.MAX_ATTEMPTS, heartbeat_at=long_ago, lease_token=None
    )
    grading_runs_sweep()
    run.refresh_from_db()
    assert run.state == GradingRun.FAILED_INFRA
    assert [m.to for m in mail.outbox] == [[manager.email]]


def test_a_worker_that_can_grade_again_sends_every_failed_grading_back_with_fresh_attempts(run):
    run = _last_attempt_fails(run)
    assert run.state == GradingRun.FAILED_INFRA

    assert grading_runs_resume() == [run.pk]
    run.refresh_from_db()
    assert (run.state, run.attempt) == (GradingRun.QUEUED, 0)
    event = AuditEvent.objects.filter(action="grading.requeued").get()
    assert event.actor is None and event.actor_label == "system"  # not a member of staff
    assert grading_runs_resume() == []  # nothing failed now: nothing sent twice


def test_the_self_check_needs_the_files_of_live_versions_only(assessment, exercise):
    from assessments.grading.selfcheck import live_exercises
    from assessments.models import Assessment, Exercise

    retired = Exercise.objects.create(
        slug="retired", version="0.9.0", title="Retired", checksum="0" * 64, package_path="/nowhere",
        entry_point="x:y", time_limit_minutes=60, rubric_slug="tiny-echo", is_current=False,
    )  # fmt: skip
    assert exercise in live_exercises() and retired not in live_exercises()  # nothing uses it
    Assessment.objects.filter(pk=assessment.pk).update(archived_at=timezone.now())
    Exercise.objects.filter(pk=exercise.pk).update(is_current=False)
    assert exercise not in live_exercises()  # archived and no longer current: nobody grades it
    Assessment.objects.filter(pk=assessment.pk).update(archived_at=None)
    assert exercise in live_exercises()  # an open assessment still uses it
