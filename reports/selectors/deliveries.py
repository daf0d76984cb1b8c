"""The webhook deliveries page: every decision sent to the ATS, newest first."""

from django.db.models import QuerySet

from assessments.models import Assessment
from reports.models import WebhookDelivery


def assessment_deliveries(*, assessment: Assessment) -> QuerySet[WebhookDelivery]:
    return (
        WebhookDelivery.objects.filter(invitation__assessment=assessment)
        .select_related("endpoint", "invitation__candidate")
        .order_by("-created_at", "-pk")
    )
