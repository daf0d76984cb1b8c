"""An upload is accepted: stored, its grading queued, the older uploads' grading and reviews stopped."""

from typing import Any

from django.db import transaction

from assessments.services import grading_run_create, grading_runs_supersede
from candidates.models import Invitation, Submission
from candidates.services import submission_store, upload_check
from rubrics.services import reviews_withdraw_superseded
from workflows.tasks import grade_submission as grade_submission_task


def submission_accept(
    *, invitation: Invitation, archive: bytes, notes: str = "", ignored_files: list[dict[str, Any]] | None = None
) -> Submission:
    """Store one upload and queue its grading, all in one transaction; the task is sent on commit.

    A newer upload is the one assessed: the older uploads' queued, running or failed gradings end
    as superseded (a worker running one stops within a second) and their open reviews are withdrawn.
    """
    with transaction.atomic():
        submission = submission_store(invitation=invitation, archive=archive, notes=notes, ignored_files=ignored_files)
        run = grading_run_create(submission=submission, exercise_version=submission.exercise_version)
        grading_runs_supersede(submission=submission)
        reviews_withdraw_superseded(submission=submission)
        transaction.on_commit(lambda: grade_submission_task.delay(run.pk))
    return submission


def submission_upload(*, invitation: Invitation, archive: bytes, notes: str = "") -> Submission:
    """The portal's upload: checked exactly as the grader will unpack it, then accepted.

    A refused upload raises UploadRejected and leaves nothing behind.
    """
    checked = upload_check(invitation=invitation, archive=archive, notes=notes)
    return submission_accept(
        invitation=invitation, archive=archive, notes=checked.notes, ignored_files=checked.ignored_files
    )
