from django.shortcuts import render

from assessments.access import reviewer_required
from rubrics.models import Review
from rubrics.selectors import review_counts, reviews_for_reviewer


@reviewer_required
def queue(request):
    state = request.GET.get("state", "")
    if state not in dict(Review.STATES):
        state = ""
    return render(
        request,
        "rubrics/queue.html",
        {
            "reviews": reviews_for_reviewer(reviewer=request.user, state=state or None),
            "counts": review_counts(reviewer=request.user),
            "states": Review.STATES,
            "state_filter": state,
        },
    )
