"""A grading runs and finishes: the run is graded, then the invitation is graded and reviewers assigned."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from assessments.grading.engine import grade_in_sandbox
from assessments.grading.pipeline import grading_run_execute
from assessments.models import GradingRun
from assessments.services import grading_run_requeue, grading_runs_reclaim_stale
from candidates.models import Invitation
from candidates.services import invitation_mark_graded
from core.transitions import IllegalTransition
from rubrics.services import reviews_assign_for_submission
from workflows.tasks import grade_submission as grade_submission_task

log = logging.getLogger(__name__)


def grading_run_grade(*, run_id: int) -> GradingRun | None:
    """Grade one run in the sandbox (raises InfraError to be retried), then what follows a grading."""
    run = grading_run_execute(run_id=run_id, grade_fn=grade_in_sandbox)
    if run is not None:
        grading_finished(run=run)
    return run


def grading_finished(*, run: GradingRun) -> None:
    """The invitation is graded when its newest upload is, and that upload gets its reviewers.

    An older upload's run changes nothing: its invitation has moved on.
    """
    invitation = Invitation.objects.get(pk=run.submission.invitation_id)
    newest = invitation.submissions.order_by("-number").values_list("pk", flat=True).first()
    if newest == run.submission_id and invitation.state == Invitation.SUBMITTED:
        try:
            invitation_mark_graded(invitation=invitation)
            reviews_assign_for_submission(submission=run.submission)
        except IllegalTransition:
            # A resubmission or a withdrawal got there first; its own path decides the state.
            log.info("invitation %s moved on before run %s finished", invitation.pk, run.pk)


def grading_run_regrade(*, run: GradingRun, actor: User) -> GradingRun:
    """Staff send a run that failed on our side back to the queue; its task is sent on commit."""
    with transaction.atomic():
        run = grading_run_requeue(run=run, actor=actor)
        transaction.on_commit(lambda: grade_submission_task.delay(run.pk))
    return run


def grading_runs_sweep(*, now: datetime | None = None) -> list[int]:
    """Re-queue runs whose worker went silent and re-send runs whose message may be lost.

    Returns the ids of the runs whose task was sent again.
    """
    now = now or timezone.now()
    sent = []
    reclaimed = grading_runs_reclaim_stale(stale_after=timedelta(seconds=settings.GRADING_STALE_AFTER_S), now=now)
    for run in reclaimed:
        if run.state == GradingRun.QUEUED:
            grade_submission_task.delay(run.pk)
            sent.append(run.pk)
    waiting = GradingRun.objects.filter(
        state=GradingRun.QUEUED, queued_at__lt=now - timedelta(seconds=settings.GRADING_REQUEUE_AFTER_S)
    ).values_list("pk", flat=True)
    for run_id in waiting:
        # Touch queued_at so one lost message costs one re-send per period, not one per sweep.
        if GradingRun.objects.filter(pk=run_id, state=GradingRun.QUEUED).update(queued_at=now):
            log.info("re-sending grading run %s: queued since before %s", run_id, now)
            grade_submission_task.delay(run_id)
            sent.append(run_id)
    return sent
