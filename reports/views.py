"""Hiring-manager reports: manager-only, and only for assessments the manager owns (404 otherwise)."""

from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from assessments.models import Assessment, Exercise, Regrade
from assessments.selectors import assessments_owned_by, owned_assessment_or_404
from assessments.services import assessment_set_hiring_bar
from candidates.models import Decision, Invitation
from candidates.services import InvitationError
from candidates.similarity import THRESHOLD as SIMILARITY_THRESHOLD
from candidates.similarity import known_solution_add, similarity_matches
from core.access import manager_required, staff_required
from core.htmx import render_page
from core.transitions import IllegalTransition
from grader.unpack import ArchiveLimits, ArchiveRejected
from reports import charts, exports
from reports.debrief_services import DebriefUnavailable, debrief_request
from reports.forms import DecisionForm, HiringBarForm, KnownSolutionForm, RegradeStartForm, WebhookEndpointForm
from reports.models import WebhookDelivery, WebhookEndpoint
from reports.selectors.comparison import DEFAULT_SORT, ComparisonQuery, assessment_comparison, first_direction
from reports.selectors.debrief import debrief_card, debrief_submission_for_user
from reports.selectors.deliveries import (
    assessment_deliveries,
    decision_endpoints,
    endpoint_deliveries,
    owned_endpoints,
)
from reports.selectors.overview import assessment_overview
from reports.selectors.regrade import regrade_preview
from reports.selectors.scorecard import invitation_scorecard
from reports.selectors.versions import assessment_regrades, version_history
from reports.services import (
    EndpointError,
    decision_submit,
    webhook_delivery_retry,
    webhook_endpoint_create,
    webhook_endpoint_new_secret,
    webhook_endpoint_update,
    webhook_test_send,
)
from reports.templatetags.report_format import heat, level, level_class, pct
from rubrics.selectors import open_disagreements
from workflows import regrades

COMPARISON_PAGE_SIZE = 100


def _owned_invitation(request, pk: int, invitation_pk: int) -> Invitation:
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    qs = Invitation.objects.select_related("candidate", "assessment__rubric", "assessment__exercise", "decision")
    invitation = get_object_or_404(qs, pk=invitation_pk, assessment=assessment)
    invitation.assessment = assessment
    return invitation


@manager_required
def index(request):
    qs = assessments_owned_by(request.user, Assessment.objects.select_related("exercise")).filter(
        archived_at__isnull=True
    )
    return render_page(request, "reports/index.html", {"assessments": qs})


@manager_required
def overview(request, pk: int):
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    data = assessment_overview(assessment=assessment)
    return render_page(
        request,
        "reports/overview.html",
        {
            "assessment": assessment,
            "overview": data,
            "funnel_chart": charts.funnel_bars(data.funnel),
            "histogram": charts.histogram(data.totals, maximum=data.rubric_max),
            "mode_chart": charts.mode_bars(data.modes),
            "tab": "overview",
        },
    )


def _comparison_context(request, assessment: Assessment) -> dict:
    data = assessment_comparison(assessment=assessment, params=request.GET)
    query = data.query
    # A heatmap of thousands of rows is read a page at a time; sorting and filtering span all of them.
    page = Paginator(data.rows, COMPARISON_PAGE_SIZE).get_page(request.GET.get("page"))
    heat_rows = [_heat_row(row, data.modes, data.criteria) | _identical(data, row) for row in page.object_list]
    return {
        "assessment": assessment,
        "page": page,
        # The page's links and its CSV link carry the filters and the order, so the file is what is on screen.
        "query_string": urlencode(query.params),
        "order_query": urlencode({"sort": query.sort, "dir": query.direction}),
        "sort_urls": _sort_urls(data.modes, query),
        "rows_with_results": [r for r in heat_rows if r["row"].has_results],
        "rows_without_results": [r for r in heat_rows if not r["row"].has_results],
        "n_shown": len(data.rows),
        "n_without_results": data.n_without_results,
        "n_all": data.n_all,
        "modes": [data.failure_modes.get(m) for m in data.modes],
        "mode_keys": data.modes,
        "n_cols": 2 * len(data.modes) + 6,
        "n_cols_rest": 2 * len(data.modes) + 5,
        "reference": data.reference,
        "sort": query.sort,
        "dir": query.direction,
        "default_order": query.sort == DEFAULT_SORT and query.direction == first_direction(DEFAULT_SORT),
        "state": query.state,
        "min_pass": query.min_pass,
        "states": Invitation.STATES,
        "rubric_max": data.rubric_max,
        "versions": data.versions,
    }


def _heat_row(row, modes: list[str], criteria: list) -> dict:
    """The page's cells as display strings, so the template prints rather than computes."""
    resolved = {c.pk: c for c in criteria if c.pk in row.levels and row.levels[c.pk].resolution is not None}
    cells = []
    for mode in modes:
        cell = row.cell(mode)
        title = f"{cell.passed} passed, {cell.failed} failed" + (f", {cell.errors} infra errors" if cell.errors else "")
        if cell.scored:  # graded probes: the rate shown is points over probes, not passes
            title += f"; {cell.points_text} of {cell.judged} points"
        rubric_title = "; ".join(
            f"{c.title} resolved at {row.levels[pk].resolution.level} by {row.levels[pk].resolved_by}"
            for pk, c in resolved.items()
            if mode in (c.failure_modes or [])
        )
        cells.append(
            {"rate": pct(cell.rate), "heat": heat(cell.rate), "rubric": level(cell.rubric),
             "lvl": level_class(cell.rubric), "title": title, "rubric_title": rubric_title}
        )  # fmt: skip
    return {"row": row, "cells": cells, "pass": pct(row.pass_rate), "pass_heat": heat(row.pass_rate)}


def _identical(data, row) -> dict:
    """The badge beside a name whose upload is byte-identical to another candidate's, and its tooltip."""
    matches = data.identical.get(row.pk, [])
    names = sorted({m.other_name for m in matches})
    return {"identical": "Byte-identical to an upload by " + ", ".join(names) if names else ""}


def _sort_urls(modes: list[str], query: ComparisonQuery) -> dict[str, dict]:
    """Per sortable column: its link (same filters; clicking the sorted column flips the order) and aria-sort."""
    urls = {}
    for key in ["name", "state", "pass", "errors", "total", "recommendation", *modes, *(f"{m}-rubric" for m in modes)]:
        current = key == query.sort
        ascending = query.direction == "asc"
        flipped = ("desc" if ascending else "asc") if current else first_direction(key)
        urls[key] = {
            "url": "?" + urlencode(query.filters | {"sort": key, "dir": flipped}),
            "aria": ("ascending" if ascending else "descending") if current else "none",
            "arrow": ("▲" if ascending else "▼") if current else "",
        }
    return urls


@manager_required
def comparison(request, pk: int):
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    context = _comparison_context(request, assessment) | {"tab": "comparison"}
    return render_page(request, "reports/comparison.html", context, fragment="heatmap")


@manager_required
def comparison_csv(request, pk: int):
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    # The same selector and query string as the page: the file holds the rows on screen, in their order.
    data = assessment_comparison(assessment=assessment, params=request.GET)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"{slugify(assessment.title) or 'assessment'}-comparison.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    exports.comparison_csv(response, comparison=data)
    return response


def _scorecard_context(request, invitation: Invitation, form=None) -> dict:
    history_run = request.GET.get("run", "")
    card = invitation_scorecard(
        invitation=invitation, history_run_id=int(history_run) if history_run.isdigit() else None
    )
    return {
        "assessment": invitation.assessment,
        "invitation": invitation,
        "card": card,
        "form": form or _decision_form(invitation, card.open_disagreements),
        "can_decide": invitation.state in (Invitation.REVIEWED, Invitation.DECIDED),
        "ats_endpoints": list(decision_endpoints(assessment=invitation.assessment).values_list("name", flat=True)),
        "similar": _similar(card),
        "tab": "scorecard",
        "debrief": debrief_card(submission=invitation.submissions.order_by("-number").first()),
    }


def _similar(card) -> list:
    """The latest upload's matches worth a look, named (managers see names; this is their candidate)."""
    latest = card.submissions[0] if card.submissions else None
    return similarity_matches(submission=latest, blind=False) if latest is not None else []


def _decision_form(invitation: Invitation, open_disagreements) -> DecisionForm:
    decision = getattr(invitation, "decision", None)
    initial = {"outcome": decision.outcome, "reason": decision.reason} if decision else {}
    return DecisionForm(initial=initial, open_disagreements=open_disagreements)


@manager_required
def scorecard(request, pk: int, invitation_pk: int):
    invitation = _owned_invitation(request, pk, invitation_pk)
    return render_page(request, "reports/scorecard.html", _scorecard_context(request, invitation))


@manager_required
def scorecard_pdf(request, pk: int, invitation_pk: int):
    from weasyprint import HTML  # loads pango and fonts: only the PDF view pays for it

    invitation = _owned_invitation(request, pk, invitation_pk)
    context = _scorecard_context(request, invitation) | {"pdf": True, "inline_css": _pdf_css()}
    html = render_to_string("reports/scorecard_pdf.html", context, request=request)
    # Nothing is fetched while rendering: the stylesheet is inlined and no other URL is followed.
    pdf = HTML(string=html, url_fetcher=_refuse_fetch).write_pdf()
    response = HttpResponse(pdf, content_type="application/pdf")
    name = f"scorecard-{slugify(invitation.candidate.name) or invitation.pseudonym}-{invitation.pk}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _pdf_css() -> str:
    return (Path(settings.BASE_DIR) / "static" / "css" / "app.css").read_text(encoding="utf-8")


def _refuse_fetch(url, *args, **kwargs):
    raise ValueError(f"The scorecard PDF fetches nothing ({url[:60]!r}).")


@manager_required
@require_POST
def decide(request, pk: int, invitation_pk: int):
    invitation = _owned_invitation(request, pk, invitation_pk)
    form = DecisionForm(request.POST, open_disagreements=open_disagreements(invitation=invitation))
    if form.is_valid():
        try:
            decision = decision_submit(
                invitation=invitation,
                outcome=form.cleaned_data["outcome"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
        except (InvitationError, IllegalTransition) as exc:
            form.add_error(None, str(exc))
        else:
            label = dict(Decision.OUTCOMES)[decision.outcome]
            # Said only when it is so: with no active endpoint, no ATS hears of the decision.
            sent_to = list(decision_endpoints(assessment=invitation.assessment).values_list("name", flat=True))
            sent = f" On its way to {', '.join(sent_to)}: see “Sent to the ATS” below." if sent_to else ""
            messages.success(request, f"Decision recorded: {label}.{sent}")
            return redirect("reports:scorecard", pk, invitation.pk)
    invitation.refresh_from_db()
    return render_page(request, "reports/scorecard.html", _scorecard_context(request, invitation, form), status=400)


@manager_required
def known_solutions(request, pk: int):
    """Public solutions of the exercise, uploaded so that candidates' code is compared with them too."""
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    limits = ArchiveLimits.from_exercise(assessment.exercise.limits)
    form = KnownSolutionForm(max_bytes=limits.max_compressed_bytes)
    status = 200
    if request.method == "POST":
        form = KnownSolutionForm(request.POST, request.FILES, max_bytes=limits.max_compressed_bytes)
        if form.is_valid():
            try:
                known = known_solution_add(
                    assessment=assessment,
                    label=form.cleaned_data["label"],
                    archive=form.cleaned_data["archive"].read(),
                    actor=request.user,
                )
            except ArchiveRejected as exc:
                form.add_error("archive", str(exc))
            else:
                messages.success(request, f"“{known.label}” added: graded uploads were compared with it.")
                return redirect("reports:known_solutions", pk)
        status = 400
    context = {
        "assessment": assessment,
        "form": form,
        "solutions": assessment.known_solutions.select_related("uploaded_by").order_by("-created_at"),
        "threshold": round(SIMILARITY_THRESHOLD * 100),
        "tab": "similarity",
    }
    return render_page(request, "reports/known_solutions.html", context, status=status)


@manager_required
def deliveries(request, pk: int):
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    return render_page(
        request,
        "reports/deliveries.html",
        {
            "assessment": assessment,
            "deliveries": assessment_deliveries(assessment=assessment)[:200],
            "tab": "deliveries",
        },
    )


@manager_required
@require_POST
def delivery_retry(request, pk: int, delivery_pk: int):
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    delivery = get_object_or_404(WebhookDelivery, pk=delivery_pk, invitation__assessment=assessment)
    _retry(request, delivery)
    return redirect("reports:deliveries", pk)


def _retry(request, delivery: WebhookDelivery) -> None:
    """A manager's "Retry now", from an assessment's deliveries or an endpoint's page."""
    try:
        webhook_delivery_retry(delivery=delivery, actor=request.user)
    except InvitationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Delivery queued again.")


# --- A manager's webhook endpoints -----------------------------------------------------------------


def _owned_endpoint(request, pk: int) -> WebhookEndpoint:
    """One of this manager's endpoints (any, for a superuser); another's is a 404, not even named."""
    return get_object_or_404(owned_endpoints(user=request.user), pk=pk)


@manager_required
@never_cache
@require_http_methods(["GET", "POST"])
def webhooks(request):
    """The list of endpoints, and the form that adds one (its secret is then shown once)."""
    form = WebhookEndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = webhook_endpoint_create(owner=request.user, **form.cleaned_data)
        except EndpointError as exc:
            form.add_error("url", str(exc))
        else:
            return _show_secret(request, endpoint, created=True)
    return render_page(
        request,
        "reports/webhooks.html",
        {"endpoints": owned_endpoints(user=request.user), "form": form},
        status=400 if form.errors else 200,
    )


def _show_secret(request, endpoint: WebhookEndpoint, *, created: bool):
    # Rendered in the POST's answer, never stored for a later page: reloading cannot show it again.
    response = render_page(
        request, "reports/webhook_secret.html", {"endpoint": endpoint, "secret": endpoint.secret, "created": created}
    )
    response["Cache-Control"] = "no-store"
    return response


@manager_required
@never_cache
@require_http_methods(["GET", "POST"])
def webhook(request, pk: int):
    endpoint = _owned_endpoint(request, pk)
    initial = {"name": endpoint.name, "url": endpoint.url, "active": endpoint.active}
    form = WebhookEndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            webhook_endpoint_update(endpoint=endpoint, actor=request.user, **form.cleaned_data)
        except EndpointError as exc:
            form.add_error("url", str(exc))
        else:
            messages.success(request, "Endpoint saved.")
            return redirect("reports:webhook", endpoint.pk)
    deliveries = list(endpoint_deliveries(endpoint=endpoint)[:50])
    return render_page(
        request,
        "reports/webhook.html",
        {
            "endpoint": endpoint,
            "form": form,
            "deliveries": deliveries,
            "waiting": any(d.status in (WebhookDelivery.PENDING, WebhookDelivery.SENDING) for d in deliveries),
        },
        fragment="deliveries",
        status=400 if form.errors else 200,
    )


@manager_required
@require_POST
def webhook_test(request, pk: int):
    endpoint = _owned_endpoint(request, pk)
    webhook_test_send(endpoint=endpoint, actor=request.user)
    messages.info(request, f"A test event is on its way to {endpoint.name}; its result shows below.")
    return redirect("reports:webhook", endpoint.pk)


@manager_required
@never_cache
@require_POST
def webhook_secret(request, pk: int):
    endpoint = _owned_endpoint(request, pk)
    webhook_endpoint_new_secret(endpoint=endpoint, actor=request.user)
    return _show_secret(request, endpoint, created=False)


@manager_required
@require_POST
def webhook_delivery_retry_view(request, pk: int, delivery_pk: int):
    endpoint = _owned_endpoint(request, pk)
    delivery = get_object_or_404(WebhookDelivery, pk=delivery_pk, endpoint=endpoint)
    _retry(request, delivery)
    return redirect("reports:webhook", endpoint.pk)


# --- Exercise versions and trial regrades ---------------------------------------------------------


def _owned_regrade(request, pk: int, regrade_pk: int) -> Regrade:
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    qs = Regrade.objects.select_related("exercise", "from_exercise", "started_by", "decided_by")
    regrade = get_object_or_404(qs, pk=regrade_pk, assessment=assessment)
    regrade.assessment = assessment
    return regrade


@manager_required
def versions(request, pk: int, start_form=None, bar_form=None, status=200):
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    context = {
        "assessment": assessment,
        "tab": "versions",
        "history": version_history(assessment=assessment),
        "synced": Exercise.objects.filter(slug=assessment.exercise.slug).order_by("-synced_at"),
        "regrades": assessment_regrades(assessment=assessment),
        "open_regrade": Regrade.objects.filter(assessment=assessment, state=Regrade.OPEN).first(),
        "start_form": start_form or RegradeStartForm(assessment=assessment),
        "bar_form": bar_form or HiringBarForm(initial={"hiring_bar": assessment.hiring_bar}),
    }
    return render_page(request, "reports/versions.html", context, status=status)


@manager_required
@require_POST
def regrade_start(request, pk: int):
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    form = RegradeStartForm(request.POST, assessment=assessment)
    if form.is_valid():
        try:
            regrade = regrades.regrade_start(
                assessment=assessment, exercise=form.cleaned_data["exercise"], actor=request.user
            )
        except regrades.RegradeError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request, f"Trial started on v{regrade.exercise.version}: the live results do not change meanwhile."
            )
            return redirect("reports:regrade", pk, regrade.pk)
    return versions(request, pk, start_form=form, status=400)


@manager_required
@require_POST
def hiring_bar(request, pk: int):
    assessment = owned_assessment_or_404(user=request.user, pk=pk)
    form = HiringBarForm(request.POST)
    if not form.is_valid():
        return versions(request, pk, bar_form=form, status=400)
    assessment_set_hiring_bar(assessment=assessment, bar=form.cleaned_data["hiring_bar"], actor=request.user)
    bar = assessment.hiring_bar
    messages.success(request, f"Hiring bar set to {bar}%." if bar is not None else "Hiring bar removed.")
    back = request.POST.get("back", "")
    if back.isdigit() and Regrade.objects.filter(pk=int(back), assessment=assessment).exists():
        return redirect("reports:regrade", pk, int(back))
    return redirect("reports:versions", pk)


def _regrade_context(regrade: Regrade) -> dict:
    readiness = regrades.regrade_readiness(regrade=regrade)
    preview = regrade_preview(regrade=regrade)
    return {
        "assessment": regrade.assessment,
        "regrade": regrade,
        "readiness": readiness,
        "preview": preview,
        "waiting_for_live": regrade.state == Regrade.OPEN and regrades.live_grading_pending(),
        "bar_form": HiringBarForm(initial={"hiring_bar": regrade.assessment.hiring_bar}),
        "page_title": f"Trial regrade {regrade.pk}",
        "tab": "versions",
    }


@manager_required
def regrade(request, pk: int, regrade_pk: int):
    trial = _owned_regrade(request, pk, regrade_pk)
    return render_page(request, "reports/regrade.html", _regrade_context(trial), fragment="trial")


@manager_required
def regrade_csv(request, pk: int, regrade_pk: int):
    trial = _owned_regrade(request, pk, regrade_pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"{slugify(trial.assessment.title) or 'assessment'}-trial-{trial.pk}-v{trial.exercise.version}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    exports.regrade_csv(response, preview=regrade_preview(regrade=trial))
    return response


def _regrade_action(request, pk: int, regrade_pk: int, action, done: str):
    trial = _owned_regrade(request, pk, regrade_pk)
    try:
        result = action(regrade=trial, actor=request.user)
    except regrades.RegradeError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done.format(trial=trial, result=result))
    return redirect("reports:regrade", pk, trial.pk)


@manager_required
@require_POST
def regrade_make_live(request, pk: int, regrade_pk: int):
    done = "Made live: the assessment is on v{trial.exercise.version}; the old results stay as history."
    return _regrade_action(request, pk, regrade_pk, regrades.regrade_make_live, done)


@manager_required
@require_POST
def regrade_discard(request, pk: int, regrade_pk: int):
    done = "Trial discarded: its results are deleted and nothing live changed."
    return _regrade_action(request, pk, regrade_pk, regrades.regrade_discard, done)


@manager_required
@require_POST
def regrade_rerun(request, pk: int, regrade_pk: int):
    done = "The cohort is being graded again on v{trial.exercise.version}."
    return _regrade_action(request, pk, regrade_pk, regrades.regrade_rerun, done)


@manager_required
@require_POST
def regrade_retry(request, pk: int, regrade_pk: int):
    done = "{result} failed grading(s) queued again."
    return _regrade_action(request, pk, regrade_pk, regrades.regrade_retry_failed, done)


@staff_required
@never_cache
def debrief(request, submission_id: int):
    """The upload's debrief card: its own page, and the fragment the scorecard and review page poll."""
    submission = debrief_submission_for_user(user=request.user, submission_id=submission_id)
    context = {"debrief": debrief_card(submission=submission), "submission": submission}
    return render_page(request, "reports/debrief.html", context, fragment="debrief")


@staff_required
@require_POST
def debrief_draft(request, submission_id: int):
    submission = debrief_submission_for_user(user=request.user, submission_id=submission_id)
    try:
        debrief_request(submission=submission, requested_by=request.user)
    except DebriefUnavailable as exc:
        messages.error(request, str(exc))
    if request.htmx:
        context = {"debrief": debrief_card(submission=submission), "submission": submission}
        return render_page(request, "reports/debrief.html", context, fragment="debrief")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("reports:debrief", args=[submission.pk])
    return redirect(f"{back}#debrief")
