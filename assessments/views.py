from collections import Counter
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_http_methods, require_POST

from assessments.forms import AssessmentForm
from assessments.models import Assessment, Exercise, GradingRun, Regrade
from assessments.selectors import (
    assessments_owned_by,
    grading_availability,
    grading_counts,
    grading_failures,
    owned_assessment_or_404,
)
from assessments.services import assessment_archive, assessment_create, assessment_unarchive, assessment_update
from candidates.forms import CsvInviteForm, InviteForm
from candidates.models import Invitation, Submission
from candidates.selectors import assessment_invitations, assessments_with_funnel, feedback_summary
from candidates.services import (
    InvitationError,
    candidate_erase,
    invitation_feedback_release,
    invitation_invite,
    invitation_link_resend,
    invitations_invite_many,
)
from core.access import manager_required, staff_required
from core.htmx import render_page
from core.roles import is_manager, is_reviewer
from core.transitions import IllegalTransition
from reports.selectors.tasks import REACH_STAGES, assessments_with_reach, manager_tasks
from rubrics.selectors import review_counts
from workflows import grading as grading_workflow


def _visible_assessments(user):
    return assessments_owned_by(user, assessments_with_funnel())


@staff_required
def dashboard(request):
    context: dict[str, Any] = {"grading_workers": grading_availability()}
    if is_manager(request.user):
        context["assessments"] = list(assessments_with_reach(user=request.user)[:10])
        context["reach_stages"] = REACH_STAGES
        context["tasks"] = manager_tasks(user=request.user)
        context["grading"] = grading_counts(user=request.user)
        context["grading_failures"] = grading_failures(user=request.user)
    if is_reviewer(request.user):
        context["reviews"] = review_counts(reviewer=request.user)
    return render_page(request, "assessments/dashboard.html", context)


@manager_required
def assessment_list(request):
    archived = request.GET.get("archived") == "1"
    qs = assessments_owned_by(request.user, assessments_with_funnel(include_archived=archived))
    if archived:
        qs = qs.filter(archived_at__isnull=False)
    return render_page(
        request,
        "assessments/assessment_list.html",
        {
            "assessments": qs,
            "funnel_states": Invitation.FUNNEL,
            "archived": archived,
            "n_archived": assessments_owned_by(request.user).filter(archived_at__isnull=False).count(),
        },
    )


@manager_required
@require_http_methods(["GET", "POST"])
def assessment_new(request):
    form = AssessmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        assessment = assessment_create(
            owner=request.user,
            title=data["title"],
            exercise=data["exercise"],
            rubric=data["rubric"],
            closes_at=data["closes_at"],
            time_limit_minutes=data["time_limit_minutes"],
            reviewers_per_submission=data["reviewers_per_submission"],
            reviewers=data["reviewers"],
            retention_months=data["retention_months"],
            ai_policy=data["ai_policy"],
        )
        messages.success(request, f"“{assessment.title}” is open. Invite your first candidates below.")
        return redirect("assessments:detail", assessment.pk)
    status = 400 if request.method == "POST" else 200
    return render_page(request, "assessments/assessment_form.html", {"form": form}, status=status)


@manager_required
@require_http_methods(["GET", "POST"])
def assessment_edit(request, pk: int):
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    form = AssessmentForm(request.POST or None, instance=assessment)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        assessment_update(
            assessment=assessment,
            actor=request.user,
            reviewers=data["reviewers"],
            title=data["title"],
            closes_at=data["closes_at"],
            time_limit_minutes=data["time_limit_minutes"] or assessment.exercise.time_limit_minutes,
            reviewers_per_submission=data["reviewers_per_submission"],
            retention_months=data["retention_months"],
            ai_policy=data["ai_policy"],
        )
        messages.success(request, "Changes saved.")
        return redirect("assessments:detail", assessment.pk)
    status = 400 if request.method == "POST" else 200
    return render_page(
        request, "assessments/assessment_form.html", {"form": form, "assessment": assessment}, status=status
    )


@manager_required
@require_POST
def assessment_archive_view(request, pk: int):
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    if request.POST.get("undo") == "1":
        assessment_unarchive(assessment=assessment, actor=request.user)
        messages.success(request, f"“{assessment.title}” is back in your list.")
    else:
        assessment_archive(assessment=assessment, actor=request.user)
        messages.success(request, f"“{assessment.title}” is archived: no more uploads, and it leaves your lists.")
    return redirect("assessments:detail", assessment.pk)


@manager_required
def assessment_detail(request, pk: int):
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    return render_page(
        request, "assessments/assessment_detail.html", _detail_context(request, assessment), fragment="invitations"
    )


def _owned_invitation(request, pk: int, invitation_pk: int) -> Invitation:
    """An invitation of an assessment this manager owns, else 404."""
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    qs = Invitation.objects.select_related("candidate", "assessment__exercise", "assessment__owner", "invited_by")
    return get_object_or_404(qs, pk=invitation_pk, assessment=assessment)


def _detail_context(request, assessment: Assessment, **extra) -> dict:
    invitations = list(assessment_invitations(assessment=assessment))
    run_states = dict(GradingRun.STATES)
    for invitation in invitations:
        # For the template, beside what the query annotated; not a field, so set by name.
        setattr(invitation, "run_state_label", run_states.get(invitation.run_state or "", ""))  # noqa: B010
    counts = Counter(invitation.state for invitation in invitations)
    grading_now = any(i.run_state in (GradingRun.QUEUED, GradingRun.RUNNING) for i in invitations)
    state_filter = request.GET.get("state", "")
    if state_filter in dict(Invitation.STATES):
        invitations = [i for i in invitations if i.state == state_filter]
    else:
        state_filter = ""
    return {
        "assessment": assessment,
        "invitations": invitations,
        # Each filter with its count; the empty states are still offered, greyed, so the list is stable.
        "states": [(value, label, counts.get(value, 0)) for value, label in Invitation.STATES],
        "n_all": sum(counts.values()),
        # While an upload is being checked, the list refreshes itself (the "Running 8/40" figure).
        "grading_now": grading_now,
        "state_filter": state_filter,
        "running": GradingRun.RUNNING,
        "invite_form": extra.pop("invite_form", None) or InviteForm(),
        "csv_form": extra.pop("csv_form", None) or CsvInviteForm(),
        "invite_ttl_days": settings.INVITATION_TTL_DAYS,
        "newer_version": Exercise.objects.filter(slug=assessment.exercise.slug, is_current=True)
        .exclude(pk=assessment.exercise_id)
        .first(),
        "open_regrade": Regrade.objects.filter(assessment=assessment, state=Regrade.OPEN).first(),
        **extra,
    }


# --- Inviting candidates, and what a manager does for one of them afterwards ----------------------

MAX_LISTED_PROBLEMS = 20


@manager_required
@require_POST
def invite(request, pk: int):
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation, sent = invitation_invite(
                assessment=assessment,
                name=form.cleaned_data["name"],
                email=form.cleaned_data["email"],
                invited_by=request.user,
            )
        except InvitationError as exc:
            form.add_error(None, str(exc))
        else:
            _report_sent(request, [invitation], [] if sent else [invitation])
            return redirect("assessments:detail", assessment.pk)
    context = _detail_context(request, assessment, invite_form=form)
    return render_page(request, "assessments/assessment_detail.html", context, status=400)


@manager_required
@require_POST
def invite_csv(request, pk: int):
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    form = CsvInviteForm(request.POST, request.FILES)
    if not form.is_valid():
        context = _detail_context(request, assessment, csv_form=form)
        return render_page(request, "assessments/assessment_detail.html", context, status=400)
    report = invitations_invite_many(assessment=assessment, rows=form.cleaned_data["rows"], invited_by=request.user)
    problems = form.cleaned_data["problems"] + report.problems
    _report_sent(request, report.invited, report.unsent)
    for problem in problems[:MAX_LISTED_PROBLEMS]:
        messages.warning(request, f"Not invited: {problem}")
    if len(problems) > MAX_LISTED_PROBLEMS:
        messages.warning(request, f"…and {len(problems) - MAX_LISTED_PROBLEMS} more lines not invited.")
    return redirect("assessments:detail", assessment.pk)


def _report_sent(request, invited: list[Invitation], unsent: list[Invitation]) -> None:
    if len(invited) == 1:
        candidate = invited[0].candidate
        messages.success(request, f"Invited {candidate.name} ({candidate.email}).")
    elif invited:
        messages.success(request, f"Invited {len(invited)} candidates.")
    sent = len(invited) - len(unsent)
    if sent:
        messages.info(request, f"{sent} email{pluralize(sent)} with a personal link sent.")
    for invitation in unsent:
        messages.error(
            request, f"The email to {invitation.candidate.email} could not be sent; use “Resend link” to try again."
        )


@manager_required
@require_POST
def invitation_resend(request, pk: int, invitation_pk: int):
    invitation = _owned_invitation(request, pk, invitation_pk)
    try:
        sent = invitation_link_resend(invitation=invitation, actor=request.user)
    except InvitationError as exc:
        messages.error(request, str(exc))
    else:
        if sent:
            messages.success(request, f"A new link went to {invitation.candidate.email}; the old one no longer works.")
        else:
            messages.error(request, f"The email to {invitation.candidate.email} could not be sent; try again later.")
    return redirect("assessments:detail", pk)


@manager_required
@require_http_methods(["GET", "POST"])
def invitation_erase(request, pk: int, invitation_pk: int):
    invitation = _owned_invitation(request, pk, invitation_pk)
    candidate = invitation.candidate
    if request.method == "POST" and candidate.erased_at is None:
        name = candidate.name
        candidate_erase(candidate=candidate, actor=request.user)
        messages.success(request, f"{name}’s personal data and uploaded files are erased.")
        return redirect("assessments:detail", pk)
    return render_page(
        request,
        "assessments/invitation_erase.html",
        {
            "assessment": invitation.assessment,
            "invitation": invitation,
            "candidate": candidate,
            "other_invitations": candidate.invitations.exclude(pk=invitation.pk).select_related("assessment"),
            "n_uploads": Submission.objects.filter(
                invitation__candidate=candidate, stored_archive__isnull=False
            ).count(),
        },
    )


@manager_required
@require_http_methods(["GET", "POST"])
def invitation_feedback(request, pk: int, invitation_pk: int):
    invitation = _owned_invitation(request, pk, invitation_pk)
    error = ""
    if request.method == "POST":
        try:
            invitation_feedback_release(invitation=invitation, actor=request.user)
        except InvitationError as exc:
            error = str(exc)
        else:
            messages.success(request, f"Feedback released: {invitation.candidate.name} sees it on their status page.")
            return redirect("assessments:feedback", pk, invitation.pk)
    return render_page(
        request,
        "assessments/invitation_feedback.html",
        {
            "assessment": invitation.assessment,
            "invitation": invitation,
            "summary": feedback_summary(invitation=invitation),
            "decided": invitation.state == Invitation.DECIDED,
            "error": error,
        },
        status=400 if error else 200,
    )


@manager_required
@require_POST
def grading_run_regrade(request, pk: int, run_pk: int):
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    run = get_object_or_404(GradingRun, pk=run_pk, submission__invitation__assessment=assessment)
    try:
        grading_workflow.grading_run_regrade(run=run, actor=request.user)
    except IllegalTransition:
        messages.error(request, "Only a run that failed on our side can be graded again.")
    else:
        messages.success(request, "The upload is queued for grading again.")
    if request.POST.get("back") == "dashboard":  # a fixed name, not a URL: nothing to redirect elsewhere
        return redirect("assessments:dashboard")
    return redirect("assessments:detail", pk=assessment.pk)
