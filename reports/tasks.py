"""Webhook delivery tasks. Each imports its service inside its body; the services import these tasks
at module level as ``<name>_task`` (the styleguide's rule, which keeps the two modules acyclic)."""

from celery import shared_task
from django.conf import settings


@shared_task(name="reports.tasks.deliver_webhook", bind=True, ignore_result=True, max_retries=None)
def deliver_webhook(self, delivery_id: int, retry_base_s: float | None = None) -> None:
    """Send one decision webhook; on failure retry after base·2^(attempt-1) seconds.

    The delivery row, not the message, decides: a duplicate message finds it delivered (or being
    sent) and does nothing, and the row gives up after WEBHOOK_MAX_ATTEMPTS.
    """
    from reports.services import webhook_delivery_attempt, webhook_delivery_schedule

    attempt = webhook_delivery_attempt(delivery_id=delivery_id)
    if not attempt.retry:
        return
    base = settings.WEBHOOK_RETRY_BASE_S if retry_base_s is None else retry_base_s
    countdown = min(base * 2 ** max(attempt.attempts - 1, 0), 6 * 3600)
    webhook_delivery_schedule(delivery_id=delivery_id, countdown=countdown)
    raise self.retry(countdown=countdown)


@shared_task(name="reports.tasks.sweep_webhook_deliveries", ignore_result=True)
def sweep_webhook_deliveries() -> None:
    """Re-send deliveries whose message the broker lost, so no decision goes unannounced (beat, every minute)."""
    from reports.services import webhook_deliveries_take_back_lost

    for delivery_id in webhook_deliveries_take_back_lost():
        deliver_webhook.delay(delivery_id, retry_base_s=settings.WEBHOOK_RETRY_BASE_S)


# One call's SDK tries at the default timeout (3 × 120 s) fit inside; the limit stops a worker that
# hangs, and the service turns it into a failed guide.
@shared_task(
    name="reports.tasks.draft_debrief",
    bind=True,
    ignore_result=True,
    max_retries=None,
    soft_time_limit=600,
    time_limit=660,
)
def draft_debrief(self, guide_id: int) -> None:
    """Draft one debrief guide; a rate limit, overload or timeout is tried again after a pause.

    The guide row decides, as for webhooks: a duplicate message finds it no longer queued and does
    nothing, and the row gives up after DEBRIEF_MAX_ATTEMPTS.
    """
    from reports.debrief_services import debrief_draft

    attempt = debrief_draft(guide_id=guide_id)
    if attempt.retry:
        raise self.retry(countdown=attempt.countdown)
