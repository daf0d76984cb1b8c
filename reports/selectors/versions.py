"""Which exercise version an assessment was on, when it changed, and its trial regrades."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q

from assessments.models import Assessment, Exercise, GradingRun, Regrade


@dataclass
class VersionSpan:
    """The assessment on one version, from ``since`` until ``until`` (None: still)."""

    exercise: Exercise
    since: datetime
    until: datetime | None
    regrade: Regrade | None  # the trial made live that started this span (None: the first version)


def version_history(*, assessment: Assessment) -> list[VersionSpan]:
    """Oldest first: the version it was created on, then each trial made live."""
    live = list(
        Regrade.objects.filter(assessment=assessment, state=Regrade.LIVE)
        .select_related("exercise", "from_exercise", "decided_by")
        .order_by("decided_at", "pk")
    )
    first = live[0].from_exercise if live else assessment.exercise
    spans = [VersionSpan(exercise=first, since=assessment.created_at, until=None, regrade=None)]
    for regrade in live:
        assert regrade.decided_at is not None  # a live trial was decided (a database constraint)
        spans[-1].until = regrade.decided_at
        spans.append(VersionSpan(exercise=regrade.exercise, since=regrade.decided_at, until=None, regrade=regrade))
    return spans


def assessment_regrades(*, assessment: Assessment) -> list[Regrade]:
    """The trials, newest first, each with its run counts annotated (n_runs, n_done, n_failed, n_active)."""
    return list(
        Regrade.objects.filter(assessment=assessment)
        .select_related("exercise", "from_exercise", "started_by", "decided_by")
        .annotate(
            n_runs=Count("runs"),
            n_done=Count("runs", filter=Q(runs__state=GradingRun.DONE)),
            n_failed=Count("runs", filter=Q(runs__state=GradingRun.FAILED_INFRA)),
        )
    )
