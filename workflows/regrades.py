"""Trial regrades: the cohort graded again on another exercise version, apart, then made live or discarded.

The model is CMS's datasets: a trial grades every latest upload of the assessment's cohort on the
chosen version in the background; its runs are not live, so no page a candidate, a reviewer or a
report reads changes. A manager looks at the preview (reports.selectors.regrade) and makes it live,
which switches the assessment's version and every live result in one transaction, or discards it.

A trial never floods the queue or delays a candidate: it is driven by at most
``REGRADE_PARALLEL`` messages on the ``regrade`` queue, each grading one run and sending the next;
a driver waits while any candidate's own grading is queued or running, and a trial run in
progress gives its worker slot back as soon as one is (``live_grading_pending``). Its runs use the
same leases as live gradings, so a worker killed mid-trial loses nothing and grades nothing twice.
"""

import logging
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from assessments.grading.engine import grade_in_sandbox
from assessments.grading.pipeline import grading_run_execute
from assessments.models import Assessment, Exercise, GradingRun, Regrade
from assessments.services import grading_run_create, grading_run_requeue
from candidates.models import Invitation
from candidates.selectors import cohort_latest_submissions
from core.audit import audit_record
from core.transitions import apply_transition
from workflows.grading import grading_finished
from workflows.tasks import grade_trial_run as grade_trial_run_task

log = logging.getLogger(__name__)


class RegradeError(Exception):
    """What a manager asked cannot be done now; the message says why and what to do."""


def live_grading_pending() -> bool:
    """Whether a candidate's own grading is waiting or running anywhere: trials give way to it."""
    return GradingRun.objects.filter(live=True, state__in=[GradingRun.QUEUED, GradingRun.RUNNING]).exists()


def _send_drivers(regrade: Regrade, count: int) -> None:
    regrade_id = regrade.pk
    for _ in range(count):
        transaction.on_commit(lambda: grade_trial_run_task.delay(regrade_id))


def _queue_runs(regrade: Regrade) -> int:
    submissions = list(cohort_latest_submissions(assessment=regrade.assessment))
    for submission in submissions:
        grading_run_create(submission=submission, exercise=regrade.exercise, trial=regrade)
    _send_drivers(regrade, min(settings.REGRADE_PARALLEL, len(submissions)))
    return len(submissions)


def regrade_start(*, assessment: Assessment, exercise: Exercise, actor: User) -> Regrade:
    """Open a trial of ``exercise`` (a version of the assessment's take-home) on the whole cohort."""
    with transaction.atomic():
        # The live version is read under the lock that making a trial live takes too.
        assessment = Assessment.objects.select_for_update().get(pk=assessment.pk)
        live = assessment.exercise
        if exercise.slug != live.slug:
            raise RegradeError(f"{exercise.slug} {exercise.version} is not a version of {live.slug}.")
        if Regrade.objects.filter(assessment=assessment, state=Regrade.OPEN).exists():
            raise RegradeError("A trial is already open for this assessment: make it live or discard it first.")
        regrade = Regrade.objects.create(assessment=assessment, exercise=exercise, from_exercise=live, started_by=actor)
        queued = _queue_runs(regrade)
        if not queued:
            raise RegradeError("Nobody has uploaded yet: there is nothing to regrade.")
        audit_record(
            actor=actor,
            action="regrade.started",
            target=regrade,
            data={"from": live.version, "to": exercise.version, "submissions": queued},
        )
    return regrade


def _open(regrade: Regrade) -> Regrade:
    """The trial's row, locked; RegradeError unless it is still open."""
    locked = Regrade.objects.select_for_update().select_related("assessment", "exercise").get(pk=regrade.pk)
    if locked.state != Regrade.OPEN:
        raise RegradeError(f"This trial was {locked.get_state_display().lower()} already.")
    return locked


def regrade_rerun(*, regrade: Regrade, actor: User) -> Regrade:
    """Grade the whole cohort again in the same trial (after a platform fix, say): its results so far go."""
    with transaction.atomic():
        regrade = _open(regrade)
        GradingRun.objects.filter(trial=regrade).delete()
        regrade.reruns += 1
        regrade.save(update_fields=["reruns"])
        queued = _queue_runs(regrade)
        audit_record(actor=actor, action="regrade.rerun", target=regrade, data={"submissions": queued})
    return regrade


def regrade_retry_failed(*, regrade: Regrade, actor: User) -> int:
    """Send the trial's runs that failed on our side back to its queue. Returns how many."""
    with transaction.atomic():
        regrade = _open(regrade)
        failed = list(GradingRun.objects.filter(trial=regrade, state=GradingRun.FAILED_INFRA).select_for_update())
        for run in failed:
            grading_run_requeue(run=run, actor=actor)
        if failed:
            _send_drivers(regrade, min(settings.REGRADE_PARALLEL, len(failed)))
    return len(failed)


def regrade_discard(*, regrade: Regrade, actor: User) -> Regrade:
    """Close the trial and delete its results; a worker grading one of its runs loses its lease and stops."""
    with transaction.atomic():
        regrade = _open(regrade)
        deleted = GradingRun.objects.filter(trial=regrade).count()
        GradingRun.objects.filter(trial=regrade).delete()
        apply_transition(regrade, Regrade.DISCARDED, decided_by=actor, decided_at=timezone.now())
        audit_record(actor=actor, action="regrade.discarded", target=regrade, data={"runs_deleted": deleted})
    return regrade


@dataclass
class Readiness:
    """Whether a trial can be made live: every latest upload graded on the trial's version."""

    total: int
    done: int
    running: int
    queued: int
    failed: int
    missing: int  # latest uploads the trial has no run for (none, unless the cohort changed oddly)

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.done == self.total

    @property
    def problem(self) -> str:
        if self.complete:
            return ""
        if self.failed:
            return f"{self.failed} of the trial's gradings failed on our side: grade them again first."
        if self.missing:
            return f"{self.missing} latest upload(s) have no trial grading: rerun the trial."
        left = self.total - self.done
        return f"{left} of {self.total} uploads are still being graded on the trial's version."


def regrade_readiness(*, regrade: Regrade) -> Readiness:
    latest = set(cohort_latest_submissions(assessment=regrade.assessment).values_list("pk", flat=True))
    states = dict(
        GradingRun.objects.filter(trial=regrade, submission_id__in=latest).values_list("submission_id", "state")
    )
    count = Counter(states.values())
    return Readiness(
        total=len(latest),
        done=count[GradingRun.DONE],
        running=count[GradingRun.RUNNING],
        queued=count[GradingRun.QUEUED],
        failed=count[GradingRun.FAILED_INFRA],
        missing=len(latest - set(states)),
    )


def regrade_make_live(*, regrade: Regrade, actor: User) -> Regrade:
    """Switch the assessment to the trial's version and its results, all in one transaction.

    The results they replace stay as history (``live`` false); a live grading of the old version
    still in flight is superseded, since the trial graded that upload already. Reviews and
    decisions are untouched, so nobody is notified; an upload that was waiting for its grading is
    graded now and gets its reviewers.
    """
    with transaction.atomic():
        assessment = Assessment.objects.select_for_update().get(pk=regrade.assessment_id)
        regrade = _open(regrade)
        readiness = regrade_readiness(regrade=regrade)
        if not readiness.complete:
            raise RegradeError(f"Not ready to make live: {readiness.problem}")
        latest = cohort_latest_submissions(assessment=assessment).values_list("pk", flat=True)
        trial_runs = list(
            GradingRun.objects.filter(trial=regrade, submission_id__in=list(latest)).select_related(
                "submission__invitation"
            )
        )
        replaced = GradingRun.objects.filter(submission_id__in=[r.submission_id for r in trial_runs], live=True)
        superseded = 0
        for run in replaced.filter(state__in=[GradingRun.QUEUED, GradingRun.RUNNING]).select_for_update():
            apply_transition(run, GradingRun.SUPERSEDED, lease_token=None, finished_at=timezone.now())
            superseded += 1
        replaced_count = replaced.update(live=False)
        GradingRun.objects.filter(pk__in=[r.pk for r in trial_runs]).update(live=True)
        previous = assessment.exercise_id
        assessment.exercise = regrade.exercise
        assessment.save(update_fields=["exercise"])
        apply_transition(regrade, Regrade.LIVE, decided_by=actor, decided_at=timezone.now())
        audit_record(
            actor=actor,
            action="regrade.made_live",
            target=regrade,
            data={
                "assessment": assessment.pk,
                "from_exercise": previous,
                "to": regrade.exercise.version,
                "runs_live": len(trial_runs),
                "runs_replaced": replaced_count,
                "gradings_superseded": superseded,
            },
        )
        for run in trial_runs:
            # Only an upload still waiting for its grading moves on; the others were graded before.
            if run.submission.invitation.state == Invitation.SUBMITTED:
                run.live = True
                grading_finished(run=run)
    return regrade


def trial_drive(*, regrade_id: int) -> str:
    """Grade the trial's next queued run, unless candidates' gradings need the workers.

    Returns "waiting" (try again shortly), "yielded" (a candidate's grading arrived meanwhile: the
    run is queued again), "graded" (send the next), or "idle" (nothing queued: this driver stops).
    """
    if not Regrade.objects.filter(pk=regrade_id, state=Regrade.OPEN).update(driven_at=timezone.now()):
        return "idle"
    regrade = Regrade(pk=regrade_id)
    if live_grading_pending():
        return "waiting"
    queued = GradingRun.objects.filter(trial=regrade, state=GradingRun.QUEUED).order_by("queued_at", "pk")
    for run_id in queued.values_list("pk", flat=True)[:5]:
        run = grading_run_execute(run_id=run_id, grade_fn=grade_in_sandbox, should_yield=live_grading_pending)
        if run is not None:
            return "graded"
        state = GradingRun.objects.filter(pk=run_id).values_list("state", flat=True).first()
        if state == GradingRun.QUEUED:
            # Not claimed by another driver: this one gave its slot back.
            return "yielded"
    return "idle" if not queued.exists() else "graded"
