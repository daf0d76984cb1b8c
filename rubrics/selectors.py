from django.db.models import Count, Q

from rubrics.models import Review


def reviews_for_reviewer(*, reviewer, state: str | None = None):
    qs = (
        Review.objects.filter(reviewer=reviewer)
        .select_related("submission__invitation__assessment")
        .order_by("assigned_at", "pk")
    )
    if state:
        qs = qs.filter(state=state)
    return qs


def review_counts(*, reviewer) -> dict[str, int]:
    agg = Review.objects.filter(reviewer=reviewer).aggregate(
        **{state: Count("id", filter=Q(state=state)) for state, _ in Review.STATES}
    )
    return agg
