"""The candidate portal: a magic link, then welcome, brief, start, upload and status pages.

Every page but the link itself goes through ``portal_view``: the invitation in the URL must be
one this browser's session opened with its link, else 404.
"""

import logging
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from assessments.packages import PackageUnavailable, exercise_dir
from candidates.access import (
    link_attempts_exhausted,
    link_failure_count,
    link_problem_response,
    portal_remember,
    portal_view,
)
from candidates.forms import UploadForm
from candidates.models import Invitation
from candidates.selectors import (
    duration_words,
    exercise_brief_html,
    feedback_summary,
    ignored_files_sentence,
    invitation_by_token,
    invitation_contact,
    invitation_link_problem,
    megabytes,
    upload_limit_message,
    uploads_left,
)
from candidates.services import InvitationError, UploadRejected, invitation_start
from core.htmx import render_page
from core.transitions import IllegalTransition
from grader.starterkit import build_starter_kit
from grader.unpack import ArchiveLimits
from workflows.portal import portal_status
from workflows.uploads import submission_upload

log = logging.getLogger(__name__)


@require_GET
@never_cache
def magic_link(request, token: str):
    invitation = invitation_by_token(token)
    if invitation is None:
        if link_attempts_exhausted(request):
            return link_problem_response(request, "rate_limited")
        link_failure_count(request)
        return link_problem_response(request, "invalid")
    problem = invitation_link_problem(invitation)
    if problem:
        return link_problem_response(request, problem, invitation)
    portal_remember(request, invitation)
    # Redirect at once: the token leaves the address bar, the history and any Referer.
    return redirect(_home_url(invitation))


@require_GET
@portal_view
def welcome(request, invitation: Invitation):
    return render_page(request, "candidates/welcome.html", _portal_context(invitation, "welcome"))


@require_GET
@portal_view
def brief(request, invitation: Invitation):
    html = exercise_brief_html(invitation.assessment.exercise)
    context = _portal_context(invitation, "brief", brief_html=html, brief_has_title=html.lstrip().startswith("<h1"))
    return render_page(request, "candidates/brief.html", context)


@require_http_methods(["GET", "POST"])
@portal_view
def start(request, invitation: Invitation):
    if invitation.started_at is not None:
        return redirect("candidates:upload", invitation.pk)
    error = ""
    if request.method == "POST":
        try:
            invitation_start(invitation=invitation)
        except (InvitationError, IllegalTransition) as exc:
            invitation.refresh_from_db()
            if invitation.started_at is not None:  # a double click: the first one started it
                return redirect("candidates:upload", invitation.pk)
            error = str(exc) if isinstance(exc, InvitationError) else "This take-home can no longer be started."
        else:
            messages.success(request, "The clock is running. Download the starter kit below to begin.")
            return redirect("candidates:upload", invitation.pk)
    now = timezone.now()
    assessment = invitation.assessment
    by_limit = now + timedelta(minutes=assessment.time_limit_minutes)
    context = _portal_context(
        invitation,
        "start",
        error=error,
        due_if_now=min(by_limit, assessment.closes_at),
        capped_by_close=assessment.closes_at < by_limit,
    )
    return render_page(request, "candidates/start.html", context, status=400 if error else 200)


@require_GET
@portal_view
def starter_kit(request, invitation: Invitation):
    if invitation.started_at is None:
        return redirect("candidates:start", invitation.pk)
    exercise = invitation.assessment.exercise
    try:
        folder = exercise_dir(exercise)
    except PackageUnavailable:
        log.exception("starter kit of %s %s", exercise.slug, exercise.version)
        messages.error(request, "The starter kit cannot be downloaded right now; please try again in a few minutes.")
        return redirect("candidates:upload", invitation.pk)
    response = HttpResponse(_starter_kit(str(folder), exercise.checksum), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{exercise.slug}-starter-kit.zip"'
    return response


@require_http_methods(["GET", "POST"])
@portal_view
def upload(request, invitation: Invitation):
    if invitation.started_at is None:
        return redirect("candidates:start", invitation.pk)
    limits = ArchiveLimits.from_exercise(invitation.assessment.exercise.limits)
    policy = invitation.assessment.ai_policy
    form = UploadForm(max_bytes=limits.max_compressed_bytes, ai_policy=policy)
    status = 200
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES, max_bytes=limits.max_compressed_bytes, ai_policy=policy)
        if form.is_valid():
            try:
                submission = submission_upload(
                    invitation=invitation,
                    archive=form.cleaned_data["archive"].read(),
                    notes=form.cleaned_data["notes"],
                    ai_disclosure=form.cleaned_data["ai_disclosure"],
                    ai_used_none=form.cleaned_data["ai_used_none"],
                )
            except UploadRejected as exc:
                form.add_error("archive", str(exc))
            else:
                received = f"Upload {submission.number} received. The automatic checks start in a moment."
                messages.success(request, f"{received} {ignored_files_sentence(submission.ignored_files)}".strip())
                url = reverse("candidates:status", args=[invitation.pk])
                return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        invitation.refresh_from_db()
        if not invitation.accepts_uploads:
            # The deadline passed while the page was open: the whole page changes, not just the form.
            messages.error(request, "The deadline has passed, so uploads are closed. Nothing was stored.")
            if request.htmx:
                return HttpResponseClientRedirect(reverse("candidates:upload", args=[invitation.pk]))
        elif request.htmx and not uploads_left(invitation):
            # The last upload went meanwhile (another tab): the page loses its form, so it reloads whole.
            messages.error(request, "Nothing was stored: every upload this take-home accepts is used.")
            return HttpResponseClientRedirect(reverse("candidates:upload", args=[invitation.pk]))
        # htmx swaps only 2xx responses; without JavaScript the status says what happened.
        status = 200 if request.htmx else 400
    context = _portal_context(
        invitation,
        "upload",
        form=form,
        limits=limits,
        limit_words={
            "compressed": megabytes(limits.max_compressed_bytes),
            "uncompressed": megabytes(limits.max_uncompressed_bytes),
        },
        package=invitation.assessment.exercise.entry_point.split(":", 1)[0].split(".", 1)[0],
        submissions=list(invitation.submissions.order_by("-number")),
        **_upload_allowance(invitation),
    )
    return render_page(request, "candidates/upload.html", context, fragment="upload-form", status=status)


@require_GET
@portal_view
def status(request, invitation: Invitation):
    feedback = []
    if invitation.state == Invitation.DECIDED and invitation.feedback_released_at:
        feedback = feedback_summary(invitation=invitation)
    context = _portal_context(
        invitation,
        "status",
        status_info=portal_status(invitation=invitation),
        feedback=feedback,
        **_upload_allowance(invitation),
    )
    return render_page(request, "candidates/status.html", context, fragment="live")


# --- Helpers --------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _starter_kit(package_path: str, checksum: str) -> bytes:
    """The kit's bytes, built once per package version (the build is deterministic)."""
    return build_starter_kit(Path(package_path))


def _upload_allowance(invitation: Invitation) -> dict:
    left = uploads_left(invitation)
    return {
        "uploads_left": left,
        "upload_limit": settings.MAX_UPLOADS_PER_INVITATION,
        "upload_limit_message": "" if left else upload_limit_message(invitation),
    }


def _home_url(invitation: Invitation) -> str:
    if invitation.started_at is None:
        return reverse("candidates:welcome", args=[invitation.pk])
    if invitation.submissions.exists() or not invitation.accepts_uploads:
        return reverse("candidates:status", args=[invitation.pk])
    return reverse("candidates:upload", args=[invitation.pk])


def _portal_context(invitation, step: str, **extra) -> dict:
    """What every portal page shows (the steps, the contact, the time budget), plus the page's own."""
    assessment = invitation.assessment
    return {
        "invitation": invitation,
        "assessment": assessment,
        "exercise": assessment.exercise,
        "contact": invitation_contact(invitation),
        "step": step,
        "started": invitation.started_at is not None,
        "time_budget": duration_words(assessment.time_limit_minutes),
        "retention_months": assessment.retention_months or settings.DATA_RETENTION_MONTHS,
        **extra,
    }
