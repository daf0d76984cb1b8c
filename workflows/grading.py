"""A grading runs and finishes: the run is graded, then the invitation is graded and reviewers assigned."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from assessments.grading.engine import grade_in_sandbox
from assessments.grading.pipeline import grading_run_execute
from assessments.models import GradingRun, Regrade
from assessments.services import grading_run_requeue, grading_runs_reclaim_stale
from candidates.models import Invitation
from candidates.services import invitation_mark_graded
from candidates.tasks import compare_submission as compare_submission_task
from core.audit import audit_record
from core.transitions import IllegalTransition
from rubrics.services import reviews_assign_for_submission
from workflows.tasks import grade_submission as grade_submission_task
from workflows.tasks import grade_trial_run as grade_trial_run_task

log = logging.getLogger(__name__)


def grading_run_grade(*, run_id: int) -> GradingRun | None:
    """Grade one run in the sandbox (raises InfraError to be retried), then what follows a grading."""
    run = grading_run_execute(run_id=run_id, grade_fn=grade_in_sandbox)
    if run is not None:
        grading_finished(run=run)
    return run


def grading_finished(*, run: GradingRun) -> None:
    """The invitation is graded when its newest upload is, and that upload gets its reviewers.

    An older upload's run changes nothing: its invitation has moved on; nor does an open trial's.
    """
    if not run.live:
        return
    if run.state == GradingRun.DONE:
        # Similarity triage reads the stored archive, not the run: any graded upload is compared.
        submission_id = run.submission_id
        transaction.on_commit(lambda: compare_submission_task.delay(submission_id))
    invitation = Invitation.objects.get(pk=run.submission.invitation_id)
    newest = invitation.submissions.order_by("-number").values_list("pk", flat=True).first()
    if newest == run.submission_id and invitation.state == Invitation.SUBMITTED:
        try:
            invitation_mark_graded(invitation=invitation)
            reviews_assign_for_submission(submission=run.submission)
        except IllegalTransition:
            # A resubmission or a withdrawal got there first; its own path decides the state.
            log.info("invitation %s moved on before run %s finished", invitation.pk, run.pk)


def grading_run_regrade(*, run: GradingRun, actor: User | None) -> GradingRun:
    """Staff (or a worker that has just proved it can grade: actor None) send a run that failed on
    our side back to the queue; its task is sent on commit."""
    with transaction.atomic():
        run = grading_run_requeue(run=run, actor=actor)
        if run.trial_id is None:
            transaction.on_commit(lambda: grade_submission_task.delay(run.pk))
        else:
            trial_id = run.trial_id
            transaction.on_commit(lambda: grade_trial_run_task.delay(trial_id))
    return run


def grading_runs_resume() -> list[int]:
    """Send every run that failed on our side back to the queue, with a fresh attempt budget.

    Called when a grading worker has just proved it can grade (workflows.worker): the fault that
    stopped them (a missing runtime, a sandbox that would not start) has been fixed, and nobody
    should have to press "Grade again" for each candidate. Returns the ids of the runs sent.
    """
    resumed = []
    for run in GradingRun.objects.filter(state=GradingRun.FAILED_INFRA).order_by("pk"):
        try:
            grading_run_regrade(run=run, actor=None)
        except IllegalTransition:  # superseded or sent back by someone else meanwhile
            continue
        resumed.append(run.pk)
    return resumed


def grading_failed_notify(*, run: GradingRun) -> bool:
    """Tell the assessment's manager that a candidate's grading could not run on our side.

    Sent when a live run has used up its attempts (FAILED_INFRA); the dashboard lists it under
    "Needs you" until it is graded. Returns whether the email went out (a refused email is logged;
    the dashboard still shows it).
    """
    if not run.live or run.state != GradingRun.FAILED_INFRA:
        return False
    invitations = Invitation.objects.select_related("assessment__owner", "candidate")
    invitation = invitations.get(pk=run.submission.invitation_id)
    owner = invitation.assessment.owner
    if not owner.email:
        log.warning("grading run %s failed on our side; the assessment's owner has no email address", run.pk)
        return False
    context = {
        "run": run,
        "invitation": invitation,
        "assessment": invitation.assessment,
        "candidate": invitation.candidate,
        "manager": owner,
        "link": settings.SITE_URL + reverse("assessments:detail", args=[invitation.assessment_id]),
    }
    subject = render_to_string("assessments/email/grading_failed_subject.txt", context)
    try:
        send_mail(
            " ".join(subject.split()),
            render_to_string("assessments/email/grading_failed.txt", context),
            settings.DEFAULT_FROM_EMAIL,
            [owner.email],
        )
    except Exception:
        log.exception("grading run %s: the email to the manager could not be sent", run.pk)
        return False
    audit_record(actor=None, action="grading.manager_told", target=run, data={"to": owner.email})
    return True


def grading_runs_sweep(*, now: datetime | None = None) -> list[int]:
    """Re-queue runs whose worker went silent and re-send runs whose message may be lost.

    Returns the ids of the runs whose task was sent again.
    """
    now = now or timezone.now()
    sent = []
    reclaimed = grading_runs_reclaim_stale(stale_after=timedelta(seconds=settings.GRADING_STALE_AFTER_S), now=now)
    stalled_after = now - timedelta(seconds=settings.GRADING_REQUEUE_AFTER_S)
    for run in reclaimed:
        if run.state == GradingRun.QUEUED and run.trial_id is None:
            grade_submission_task.delay(run.pk)
            sent.append(run.pk)
        elif run.state == GradingRun.FAILED_INFRA:
            grading_failed_notify(run=run)
    # A trial is driven by a few messages, not one per run: revive one whose drivers went quiet
    # (a reclaimed run of it, or none of its workers has looked for work for a while).
    revived = {run.trial_id for run in reclaimed if run.trial_id is not None and run.state == GradingRun.QUEUED}
    # A driver grading a long run does not look for work meanwhile, but its heartbeat is fresh.
    busy = GradingRun.objects.filter(
        trial=OuterRef("pk"),
        state=GradingRun.RUNNING,
        heartbeat_at__gte=now - timedelta(seconds=settings.GRADING_STALE_AFTER_S),
    )
    quiet = (
        Regrade.objects.filter(state=Regrade.OPEN, runs__state=GradingRun.QUEUED)
        .filter(Q(driven_at__lt=stalled_after) | Q(driven_at__isnull=True, started_at__lt=stalled_after))
        .exclude(Exists(busy))
    )
    revived.update(quiet.values_list("pk", flat=True))
    for regrade_id in sorted(revived):
        if Regrade.objects.filter(pk=regrade_id, state=Regrade.OPEN).update(driven_at=now):
            log.info("reviving trial regrade %s", regrade_id)
            grade_trial_run_task.delay(regrade_id)
    waiting = GradingRun.objects.filter(
        state=GradingRun.QUEUED, trial__isnull=True, queued_at__lt=stalled_after
    ).values_list("pk", flat=True)
    for run_id in waiting:
        # Touch queued_at so one lost message costs one re-send per period, not one per sweep.
        if GradingRun.objects.filter(pk=run_id, state=GradingRun.QUEUED).update(queued_at=now):
            log.info("re-sending grading run %s: queued since before %s", run_id, now)
            grade_submission_task.delay(run_id)
            sent.append(run_id)
    return sent
