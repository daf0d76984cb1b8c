from django.shortcuts import get_object_or_404, render

from assessments.access import manager_required, staff_required
from assessments.models import Assessment, GradingRun
from assessments.roles import is_manager, is_reviewer
from assessments.selectors import assessment_invitations, assessments_with_funnel, grading_counts, workers_online
from candidates.models import Invitation
from rubrics.selectors import review_counts


def _visible_assessments(user):
    qs = assessments_with_funnel()
    return qs if user.is_superuser else qs.filter(owner=user)


@staff_required
def dashboard(request):
    context = {"workers": workers_online()}
    if is_manager(request.user):
        context["assessments"] = _visible_assessments(request.user)[:10]
        context["grading"] = grading_counts()
        context["funnel_states"] = Invitation.FUNNEL
    if is_reviewer(request.user):
        context["reviews"] = review_counts(reviewer=request.user)
    return render(request, "assessments/dashboard.html", context)


@manager_required
def assessment_list(request):
    return render(
        request,
        "assessments/assessment_list.html",
        {"assessments": _visible_assessments(request.user), "funnel_states": Invitation.FUNNEL},
    )


@manager_required
def assessment_detail(request, pk: int):
    qs = Assessment.objects.select_related("exercise", "rubric", "owner")
    if not request.user.is_superuser:
        qs = qs.filter(owner=request.user)
    assessment = get_object_or_404(qs, pk=pk)
    invitations = list(assessment_invitations(assessment=assessment))
    state_filter = request.GET.get("state", "")
    if state_filter in dict(Invitation.STATES):
        invitations = [i for i in invitations if i.state == state_filter]
    else:
        state_filter = ""
    template = "assessments/assessment_detail.html"
    if request.htmx:
        template += "#invitations"
    return render(
        request,
        template,
        {
            "assessment": assessment,
            "invitations": invitations,
            "states": Invitation.STATES,
            "state_filter": state_filter,
            "running": GradingRun.RUNNING,
        },
    )
