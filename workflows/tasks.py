"""The grading's Celery tasks. Each imports its workflow inside its body (callers import the task at
module level as ``<name>_task``), so that the two modules never import each other at load time.

The task names are the ones they had when they lived in ``assessments.tasks``: messages already
queued under those names, the route to the grading queue and beat's schedule keep working.
"""

from celery import Task, shared_task
from django.conf import settings

from assessments.grading.pipeline import InfraError
from assessments.models import GradingRun

# A grading's task, live or a trial's: the message is acknowledged only once it is done (a worker
# lost mid-grading hands it back) and runs under the grading time limits; retries are the doorbell
# of a run the database has queued again, so there is no cap on them.
GRADING_TASK = {
    "bind": True,
    "ignore_result": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "soft_time_limit": settings.GRADING_SOFT_TIME_LIMIT,
    "time_limit": settings.GRADING_HARD_TIME_LIMIT,
    "max_retries": None,
}


# Celery ships no type information: its decorator is untyped, so the task is too.
@shared_task(name="assessments.tasks.grade_submission", **GRADING_TASK)  # type: ignore[untyped-decorator]
def grade_submission(self: Task, run_id: int) -> None:
    from workflows.grading import grading_failed_notify, grading_run_grade

    try:
        grading_run_grade(run_id=run_id)
    except InfraError:
        run = GradingRun.objects.filter(pk=run_id).select_related("submission").first()
        if run and run.state == GradingRun.QUEUED:
            # The run is queued again in the database; this retry is only the doorbell.
            raise self.retry(countdown=min(60, settings.GRADING_RETRY_DELAY_S * run.attempt)) from None
        if run and run.state == GradingRun.FAILED_INFRA:
            grading_failed_notify(run=run)


@shared_task(name="workflows.tasks.grade_trial_run", **GRADING_TASK)  # type: ignore[untyped-decorator]
def grade_trial_run(self: Task, regrade_id: int) -> None:
    """Drive a trial regrade: grade its next run, then send the next message (one run per message,
    so each keeps the grading time limits); wait while candidates' own gradings need the workers."""
    from workflows.regrades import trial_drive

    try:
        outcome = trial_drive(regrade_id=regrade_id)
    except InfraError:
        # That run is queued again (or failed for good after its attempts): go on after the same
        # pause a live grading's retry takes, so a passing fault is not retried three times at once.
        grade_trial_run.apply_async((regrade_id,), countdown=settings.GRADING_RETRY_DELAY_S)
        return
    if outcome in ("waiting", "yielded"):
        raise self.retry(countdown=settings.REGRADE_YIELD_DELAY_S)
    if outcome == "graded":
        grade_trial_run.delay(regrade_id)


@shared_task(name="assessments.tasks.sweep_grading_runs", ignore_result=True)  # type: ignore[untyped-decorator]
def sweep_grading_runs() -> None:
    """Re-queue runs whose worker went silent and re-send runs whose message may be lost (beat)."""
    from workflows.grading import grading_runs_sweep

    grading_runs_sweep()
