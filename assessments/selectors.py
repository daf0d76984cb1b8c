from datetime import timedelta

from django.db.models import Count, OuterRef, Q, Subquery
from django.shortcuts import get_object_or_404
from django.utils import timezone

from assessments.models import Assessment, GradingRun, WorkerHeartbeat
from candidates.models import Invitation, Submission

WORKER_FRESH_FOR = timedelta(minutes=3)


def assessments_owned_by(user, qs=None):
    """The assessments a manager may see: their own, or every one for a superuser."""
    qs = Assessment.objects.all() if qs is None else qs
    return qs if user.is_superuser else qs.filter(owner=user)


def owned_assessment_or_404(*, user, pk: int) -> Assessment:
    """The assessment if this manager owns it (any, for a superuser); else 404, so another's is not even named.

    The one owner check of every manager view on an assessment (its page, reviews, reports).
    """
    qs = assessments_owned_by(user, Assessment.objects.select_related("exercise", "rubric", "owner"))
    return get_object_or_404(qs, pk=pk)


def assessments_with_funnel(*, include_archived: bool = False):
    """Assessments with one count per invitation state, in one query."""
    qs = Assessment.objects.select_related("exercise", "owner")
    if not include_archived:
        qs = qs.filter(archived_at__isnull=True)
    counts = {state: Count("invitations", filter=Q(invitations__state=state)) for state, _ in Invitation.STATES}
    return qs.annotate(**{f"n_{state}": c for state, c in counts.items()}, n_total=Count("invitations"))


def assessment_invitations(*, assessment: Assessment):
    """The invitations of one assessment with their latest submission and its latest run."""
    latest_submission = Submission.objects.filter(invitation=OuterRef("pk")).order_by("-number")
    latest_run = GradingRun.objects.filter(submission__invitation=OuterRef("pk")).order_by("-queued_at", "-pk")
    return (
        Invitation.objects.filter(assessment=assessment)
        .select_related("candidate")
        .annotate(
            n_submissions=Count("submissions"),
            last_upload_at=Subquery(latest_submission.values("created_at")[:1]),
            run_state=Subquery(latest_run.values("state")[:1]),
            run_done=Subquery(latest_run.values("progress_done")[:1]),
            run_total=Subquery(latest_run.values("progress_total")[:1]),
            run_id=Subquery(latest_run.values("pk")[:1]),
            run_unsandboxed=Subquery(latest_run.values("isolation__unsandboxed")[:1]),
            run_infra_error=Subquery(latest_run.values("infra_error")[:1]),
        )
        .order_by("candidate__name")
    )


def workers_online(*, now=None) -> list[WorkerHeartbeat]:
    now = now or timezone.now()
    return list(WorkerHeartbeat.objects.filter(seen_at__gte=now - WORKER_FRESH_FOR).order_by("hostname"))


def grading_counts() -> dict[str, int]:
    rows = GradingRun.objects.values("state").annotate(n=Count("id"))
    counts = {state: 0 for state, _ in GradingRun.STATES}
    counts.update({row["state"]: row["n"] for row in rows})
    return counts
