"""State machines move only along their edges, and say clearly when they cannot."""

from datetime import timedelta
from uuid import uuid4

import pytest
from django.utils import timezone

from assessments.models import GradingRun, ProbeResult
from assessments.services import (
    LeaseLost,
    grading_run_claim,
    grading_run_fail_attempt,
    grading_run_finish,
    grading_run_heartbeat,
    grading_runs_reclaim_stale,
)
from candidates.models import Invitation
from candidates.services import (
    InvitationError,
    decision_record,
    invitation_mark_graded,
    invitation_start,
    invitation_withdraw,
)
from core.models import AuditEvent
from core.transitions import IllegalTransition
from rubrics.models import Review
from rubrics.services import RubricError, review_assign, review_score_save, review_submit
from tests.builders import make_zip, review_verdict
from workflows.uploads import submission_accept

ZIP = make_zip({})  # an empty archive: these tests are about states, not contents


def test_it_starts_the_clock_at_the_earlier_of_limit_and_close(invitation):
    now = timezone.now()
    invitation_start(invitation=invitation, now=now)
    invitation.refresh_from_db()
    assert invitation.state == Invitation.STARTED
    assert invitation.due_at == now + timedelta(minutes=invitation.assessment.time_limit_minutes)

    assessment = invitation.assessment
    assessment.closes_at = now + timedelta(minutes=5)
    assessment.save()
    other = Invitation.objects.create(
        assessment=assessment, candidate=invitation.candidate.__class__.objects.create(name="Z", email="z@e.com"),
        token_hash="b" * 64, expires_at=now + timedelta(days=1),
    )  # fmt: skip
    invitation_start(invitation=other, now=now)
    assert other.due_at == assessment.closes_at


def test_it_says_clearly_when_a_transition_is_illegal(invitation):
    with pytest.raises(IllegalTransition, match="cannot go from 'invited' to 'graded'"):
        invitation_mark_graded(invitation=invitation)
    invitation.refresh_from_db()
    assert invitation.state == Invitation.INVITED


def test_it_refuses_to_start_an_expired_link(invitation):
    invitation.expires_at = timezone.now() - timedelta(seconds=1)
    invitation.save()
    with pytest.raises(IllegalTransition):
        invitation_start(invitation=invitation)


def test_a_stale_copy_loses_the_race(invitation):
    stale = Invitation.objects.get(pk=invitation.pk)
    invitation_start(invitation=invitation)
    with pytest.raises(IllegalTransition):
        invitation_start(invitation=stale)


def test_it_refuses_uploads_before_start_and_after_the_deadline(invitation):
    with pytest.raises(InvitationError, match="not accepting uploads"):
        submission_accept(invitation=invitation, archive=ZIP)
    invitation_start(invitation=invitation)
    Invitation.objects.filter(pk=invitation.pk).update(
        started_at=timezone.now() - timedelta(hours=4), due_at=timezone.now() - timedelta(seconds=1)
    )
    invitation.refresh_from_db()
    with pytest.raises(InvitationError, match="deadline has passed"):
        submission_accept(invitation=invitation, archive=ZIP)
    assert invitation.submissions.count() == 0


def test_resubmission_keeps_every_upload_queues_the_newest_and_supersedes_the_older_grading(invitation):
    invitation_start(invitation=invitation)
    first = submission_accept(invitation=invitation, archive=ZIP, notes="v1")
    invitation_mark_graded(invitation=invitation)
    second = submission_accept(invitation=invitation, archive=ZIP + b"x", notes="v2")
    invitation.refresh_from_db()
    assert (first.number, second.number) == (1, 2)
    assert invitation.state == Invitation.SUBMITTED
    assert first.grading_runs.get().state == GradingRun.SUPERSEDED
    assert second.grading_runs.get().state == GradingRun.QUEUED
    assert AuditEvent.objects.filter(action="grading.superseded").count() == 1
    assert second.archive_bytes() == ZIP + b"x"
    assert AuditEvent.objects.filter(action="submission.accepted").count() == 2


@pytest.fixture
def run(invitation):
    invitation_start(invitation=invitation)
    submission = submission_accept(invitation=invitation, archive=ZIP)
    return submission.grading_runs.get()


RESULTS = [
    {"probe_id": "g1", "failure_mode": "grounding", "outcome": "pass", "reason": "ok", "duration_s": 1.0},
    {"probe_id": "t1", "failure_mode": "transient", "outcome": "fail", "reason": "hung", "duration_s": 20.0},
]


def test_results_land_only_under_the_current_lease(run):
    lease = grading_run_claim(run=run)
    assert run.state == GradingRun.RUNNING and run.attempt == 1
    with pytest.raises(LeaseLost):
        grading_run_finish(run=run, lease_token=uuid4(), results=RESULTS, isolation={})
    grading_run_heartbeat(run=run, lease_token=lease, done=1, total=2)
    grading_run_finish(run=run, lease_token=lease, results=RESULTS, isolation={"sandboxed": True})
    run.refresh_from_db()
    assert run.state == GradingRun.DONE and run.progress_done == 2
    assert ProbeResult.objects.filter(run=run).count() == 2
    with pytest.raises(LeaseLost):
        grading_run_finish(run=run, lease_token=lease, results=RESULTS, isolation={})
    assert ProbeResult.objects.filter(run=run).count() == 2


def test_a_reclaimed_run_cannot_be_finished_by_its_old_worker(run):
    old_lease = grading_run_claim(run=run, now=timezone.now() - timedelta(minutes=10))
    reclaimed = grading_runs_reclaim_stale(stale_after=timedelta(minutes=2))
    assert [r.pk for r in reclaimed] == [run.pk]
    run.refresh_from_db()
    assert run.state == GradingRun.QUEUED
    new_lease = grading_run_claim(run=run)
    with pytest.raises(LeaseLost):
        grading_run_heartbeat(run=run, lease_token=old_lease, done=1, total=2)
    grading_run_finish(run=run, lease_token=new_lease, results=RESULTS, isolation={})
    assert ProbeResult.objects.filter(run=run).count() == 2
    assert run.attempt == 2


def test_infra_failures_retry_then_stop_after_three_attempts(run):
    for attempt in range(1, 4):
        lease = grading_run_claim(run=run)
        grading_run_fail_attempt(run=run, lease_token=lease, error="fake model did not start")
        run.refresh_from_db()
        assert run.attempt == attempt
    assert run.state == GradingRun.FAILED_INFRA
    assert "fake model" in run.infra_error
    with pytest.raises(IllegalTransition):
        grading_run_claim(run=run)


def test_a_review_locks_on_submit_and_needs_every_level_and_note(run, reviewer):
    invitation = run.submission.invitation
    lease = grading_run_claim(run=run)
    grading_run_finish(run=run, lease_token=lease, results=RESULTS, isolation={})
    invitation_mark_graded(invitation=invitation)
    review = review_assign(submission=run.submission, reviewer=reviewer)
    criteria = list(invitation.assessment.rubric.criteria.all())
    review_score_save(review=review, criterion=criteria[0], level=2, note="checks quotes")
    assert review.state == Review.IN_PROGRESS
    with pytest.raises(RubricError, match="Choose a level for"):
        review_submit(review=review)
    review_score_save(review=review, criterion=criteria[1], level=1, note="")
    with pytest.raises(RubricError, match="Write a note for"):
        review_submit(review=review)
    review_score_save(review=review, criterion=criteria[1], level=1, note="lists two failure modes")
    review_verdict(review)
    review_submit(review=review)
    assert review.state == Review.SUBMITTED
    with pytest.raises(RubricError, match="locked"):
        review_score_save(review=review, criterion=criteria[0], level=3, note="changed my mind")
    invitation.refresh_from_db()
    assert invitation.state == Invitation.REVIEWED


def test_a_decision_needs_a_reason_and_is_audited(run, manager, reviewer):
    invitation = run.submission.invitation
    lease = grading_run_claim(run=run)
    grading_run_finish(run=run, lease_token=lease, results=RESULTS, isolation={})
    invitation_mark_graded(invitation=invitation)
    with pytest.raises(InvitationError, match="needs a reason"):
        decision_record(invitation=invitation, outcome="advance", reason="  ", actor=manager)
    with pytest.raises(IllegalTransition):
        decision_record(invitation=invitation, outcome="advance", reason="strong", actor=manager)
    Invitation.objects.filter(pk=invitation.pk).update(state=Invitation.REVIEWED)
    invitation.refresh_from_db()
    decision_record(invitation=invitation, outcome="advance", reason="Handles every transient fault.", actor=manager)
    assert invitation.state == Invitation.DECIDED
    event = AuditEvent.objects.get(action="decision.recorded")
    assert event.actor == manager and event.data["outcome"] == "advance"


def test_withdrawn_is_final(invitation, manager):
    invitation_withdraw(invitation=invitation, actor=manager, reason="took another offer")
    with pytest.raises(IllegalTransition):
        invitation_start(invitation=invitation)
