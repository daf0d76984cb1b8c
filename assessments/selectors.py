from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from assessments.models import Assessment, Exercise, GradingRun, WorkerHeartbeat

WORKER_FRESH_FOR = timedelta(minutes=3)


def assessments_owned_by(user: User, qs: QuerySet[Assessment] | None = None) -> QuerySet[Assessment]:
    """The assessments a manager may see: their own, or every one for a superuser."""
    qs = Assessment.objects.all() if qs is None else qs
    return qs if user.is_superuser else qs.filter(owner=user)


def owned_assessment_or_404(*, user: User, pk: int) -> Assessment:
    """The assessment if this manager owns it (any, for a superuser); else 404, so another's is not even named.

    The one owner check of every manager view on an assessment (its page, reviews, reports).
    """
    qs = assessments_owned_by(user, Assessment.objects.select_related("exercise", "rubric", "owner"))
    return get_object_or_404(qs, pk=pk)


def workers_online(*, now: datetime | None = None) -> list[WorkerHeartbeat]:
    now = now or timezone.now()
    return list(WorkerHeartbeat.objects.filter(seen_at__gte=now - WORKER_FRESH_FOR).order_by("hostname"))


def grading_counts() -> dict[str, int]:
    rows = GradingRun.objects.values("state").annotate(n=Count("id"))
    counts = {state: 0 for state, _ in GradingRun.STATES}
    counts.update({row["state"]: row["n"] for row in rows})
    return counts


def exercise_version_checksum(*, slug: str, version: str) -> str | None:
    """The checksum recorded when this version of the package was synced, or None if it never was."""
    return Exercise.objects.filter(slug=slug, version=version).values_list("checksum", flat=True).first()
