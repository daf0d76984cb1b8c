from celery import shared_task

from candidates.services import candidates_erase_past_retention, submission_git_history_read


@shared_task(name="candidates.tasks.erase_past_retention", ignore_result=True)
def erase_past_retention() -> None:
    """Keep the portal's promise: personal data and uploads go DATA_RETENTION_MONTHS after the end.

    Beat runs it every 6 hours; manage.py erase_past_retention does the same by hand.
    """
    candidates_erase_past_retention()


@shared_task(name="candidates.tasks.compare_submission", ignore_result=True, soft_time_limit=120, time_limit=150)
def compare_submission(submission_id: int) -> None:
    """Similarity triage of a graded submission (candidates.similarity): stored, so pages only read."""
    from candidates.similarity import submission_similarity_compute

    submission_similarity_compute(submission_id=submission_id)


# Reading runs in a child process capped at 60 s of CPU (grader.githistory); these limits sit above it.
@shared_task(name="candidates.tasks.read_git_history", ignore_result=True, soft_time_limit=120, time_limit=150)
def read_git_history(submission_id: int) -> None:
    """The commit timeline of an upload's git history, read once after the upload is stored."""
    submission_git_history_read(submission_id=submission_id)
