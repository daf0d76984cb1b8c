from celery import shared_task
from django.conf import settings

from reports.services import webhook_delivery_attempt, webhook_delivery_schedule


@shared_task(name="reports.tasks.deliver_webhook", bind=True, ignore_result=True, max_retries=None)
def deliver_webhook(self, delivery_id: int, retry_base_s: float | None = None) -> None:
    """Send one decision webhook; on failure retry after base·2^(attempt-1) seconds.

    The delivery row, not the message, decides: a duplicate message finds it delivered (or being
    sent) and does nothing, and the row gives up after WEBHOOK_MAX_ATTEMPTS.
    """
    attempt = webhook_delivery_attempt(delivery_id=delivery_id)
    if not attempt.retry:
        return
    base = settings.WEBHOOK_RETRY_BASE_S if retry_base_s is None else retry_base_s
    countdown = min(base * 2 ** max(attempt.attempts - 1, 0), 6 * 3600)
    webhook_delivery_schedule(delivery_id=delivery_id, countdown=countdown)
    raise self.retry(countdown=countdown)
