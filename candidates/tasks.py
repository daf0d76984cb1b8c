from celery import shared_task

from candidates.services import candidates_erase_past_retention


@shared_task(name="candidates.tasks.erase_past_retention", ignore_result=True)
def erase_past_retention() -> None:
    """Keep the portal's promise: personal data and uploads go DATA_RETENTION_MONTHS after the end.

    Beat runs it every 6 hours; manage.py erase_past_retention does the same by hand.
    """
    candidates_erase_past_retention()
