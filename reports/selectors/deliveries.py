"""The webhook pages: a manager's endpoints, and every event sent to them, newest first."""

from django.contrib.auth.models import User
from django.db.models import Count, Max, Q, QuerySet

from assessments.models import Assessment
from reports.models import WebhookDelivery, WebhookEndpoint


def assessment_deliveries(*, assessment: Assessment) -> QuerySet[WebhookDelivery]:
    return (
        WebhookDelivery.objects.filter(invitation__assessment=assessment)
        .select_related("endpoint", "invitation__candidate")
        .order_by("-created_at", "-pk")
    )


def decision_endpoints(*, assessment: Assessment) -> QuerySet[WebhookEndpoint]:
    """Where a decision on the assessment is sent: its owner's active endpoints, no other team's."""
    return WebhookEndpoint.objects.filter(active=True, owner_id=assessment.owner_id)


def owned_endpoints(*, user: User) -> QuerySet[WebhookEndpoint]:
    """A manager's own endpoints (every one, for a superuser), with their delivery counts."""
    qs = WebhookEndpoint.objects.select_related("owner").annotate(
        n_delivered=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.DELIVERED)),
        n_failed=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.FAILED)),
        last_sent_at=Max("deliveries__created_at"),
    )
    return qs if user.is_superuser else qs.filter(owner=user)


def endpoint_deliveries(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .select_related("invitation__candidate", "invitation__assessment")
        .order_by("-created_at", "-pk")
    )
