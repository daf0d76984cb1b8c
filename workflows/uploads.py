"""An upload is accepted: stored, its grading queued, the older uploads' grading and reviews stopped."""

from typing import Any

from django.db import transaction

from assessments.models import Assessment, GradingRun, Regrade
from assessments.services import grading_run_create, grading_runs_supersede
from candidates.models import Invitation, Submission
from candidates.services import submission_store, upload_check
from candidates.tasks import read_git_history as read_git_history_task
from rubrics.services import reviews_withdraw_superseded
from workflows.tasks import grade_submission as grade_submission_task
from workflows.tasks import grade_trial_run as grade_trial_run_task


def submission_accept(
    *,
    invitation: Invitation,
    archive: bytes,
    notes: str = "",
    ignored_files: list[dict[str, Any]] | None = None,
    ai_disclosure: str = "",
    ai_used_none: bool = False,
) -> Submission:
    """Store one upload and queue its grading, all in one transaction; the task is sent on commit.

    A newer upload is the one assessed: the older uploads' queued, running or failed gradings end
    as superseded (a worker running one stops within a second) and their open reviews are withdrawn.
    An open trial regrade grades it too, so that the trial still covers the whole cohort.
    """
    with transaction.atomic():
        # Under the assessment's lock: making a trial live switches its version in one transaction,
        # and an upload is graded on the version it finds after that, never the one before.
        assessment = (
            Assessment.objects.select_for_update(of=("self",))
            .select_related("exercise")
            .get(pk=invitation.assessment_id)
        )
        submission = submission_store(
            invitation=invitation,
            archive=archive,
            notes=notes,
            ignored_files=ignored_files,
            ai_disclosure=ai_disclosure,
            ai_used_none=ai_used_none,
        )
        if not submission.git_history:
            submission_id = submission.pk
            transaction.on_commit(lambda: read_git_history_task.delay(submission_id))
        run = grading_run_create(submission=submission, exercise=assessment.exercise)
        grading_runs_supersede(submission=submission)
        reviews_withdraw_superseded(submission=submission)
        transaction.on_commit(lambda: grade_submission_task.delay(run.pk))
        trial = Regrade.objects.filter(assessment=assessment, state=Regrade.OPEN).select_related("exercise").first()
        if trial is not None:
            trial_run = grading_run_create(submission=submission, exercise=trial.exercise, trial=trial)
            busy = trial.runs.filter(state__in=[GradingRun.QUEUED, GradingRun.RUNNING]).exclude(pk=trial_run.pk)
            if not busy.exists():
                # Its drivers stopped once nothing was left; with work left they take this run too
                # (one more message per upload would let a trial outgrow REGRADE_PARALLEL).
                trial_id = trial.pk
                transaction.on_commit(lambda: grade_trial_run_task.delay(trial_id))
    return submission


def submission_upload(
    *, invitation: Invitation, archive: bytes, notes: str = "", ai_disclosure: str = "", ai_used_none: bool = False
) -> Submission:
    """The portal's upload: checked exactly as the grader will unpack it, then accepted.

    A refused upload raises UploadRejected and leaves nothing behind.
    """
    checked = upload_check(invitation=invitation, archive=archive, notes=notes)
    return submission_accept(
        invitation=invitation,
        archive=archive,
        notes=checked.notes,
        ignored_files=checked.ignored_files,
        ai_disclosure=ai_disclosure,
        ai_used_none=ai_used_none,
    )
