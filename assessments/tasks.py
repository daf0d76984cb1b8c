import logging
import os
import socket
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from assessments.models import GradingRun
from assessments.services import grading_runs_reclaim_stale, worker_heartbeat_record

log = logging.getLogger(__name__)


@shared_task(name="assessments.tasks.record_worker_heartbeat", ignore_result=True)
def record_worker_heartbeat() -> None:
    """Beat sends this every minute; whichever worker takes it proves it is alive and reaching the DB."""
    hostname = getattr(record_worker_heartbeat.request, "hostname", None) or socket.gethostname()
    worker_heartbeat_record(hostname=hostname, pid=os.getpid())


@shared_task(
    name="assessments.tasks.grade_submission",
    bind=True,
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.GRADING_SOFT_TIME_LIMIT,
    time_limit=settings.GRADING_HARD_TIME_LIMIT,
    max_retries=None,
)
def grade_submission(self, run_id: int) -> None:
    from assessments.grading.engine import grade_in_sandbox
    from assessments.grading.pipeline import InfraError, grading_run_execute

    try:
        grading_run_execute(run_id=run_id, grade_fn=grade_in_sandbox)
    except InfraError:
        run = GradingRun.objects.filter(pk=run_id).values("state", "attempt").first()
        if run and run["state"] == GradingRun.QUEUED:
            # The run is queued again in the database; this retry is only the doorbell.
            raise self.retry(countdown=min(60, settings.GRADING_RETRY_DELAY_S * run["attempt"])) from None


@shared_task(name="assessments.tasks.sweep_grading_runs", ignore_result=True)
def sweep_grading_runs() -> None:
    """Re-queue runs whose worker went silent and re-send runs whose message may be lost."""
    now = timezone.now()
    reclaimed = grading_runs_reclaim_stale(stale_after=timedelta(seconds=settings.GRADING_STALE_AFTER_S), now=now)
    for run in reclaimed:
        if run.state == GradingRun.QUEUED:
            grade_submission.delay(run.pk)
    waiting = GradingRun.objects.filter(
        state=GradingRun.QUEUED, queued_at__lt=now - timedelta(seconds=settings.GRADING_REQUEUE_AFTER_S)
    ).values_list("pk", flat=True)
    for run_id in waiting:
        # Touch queued_at so one lost message costs one re-send per period, not one per sweep.
        if GradingRun.objects.filter(pk=run_id, state=GradingRun.QUEUED).update(queued_at=now):
            log.info("re-sending grading run %s: queued since before %s", run_id, now)
            grade_submission.delay(run_id)
