from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from assessments.selectors import owned_assessment_or_404
from candidates.similarity import similarity_matches
from core.access import manager_required, reviewer_required, staff_required
from core.htmx import render_page
from core.transitions import IllegalTransition
from grader.unpack import ArchiveLimits
from rubrics import selectors
from rubrics.forms import GoldForm, ResolveForm, ReviewerChoiceForm, ScoreForm, VerdictForm
from rubrics.highlight import CodeView, code_file, code_view, notes_html
from rubrics.models import Review
from rubrics.services import (
    ReviewIncomplete,
    RubricError,
    disagreement_resolve,
    gold_standard_set,
    review_assign,
    review_reassign,
    review_score_save,
    review_scores_save,
    review_submit,
    review_verdict_save,
    reviews_assign_for_submission,
)

QUEUE_PAGE_SIZE = 50


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- Reviewers -----------------------------------------------------------------------------------


@reviewer_required
def queue(request):
    state = request.GET.get("state", "")
    if state not in dict(Review.STATES):
        state = ""
    assessment_id = _int_or_none(request.GET.get("assessment"))
    reviews = selectors.reviews_for_reviewer(reviewer=request.user, state=state or None, assessment_id=assessment_id)
    page = Paginator(reviews, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "reviews": page.object_list,
        "page": page,
        "counts": selectors.review_counts(reviewer=request.user, assessment_id=assessment_id),
        "states": selectors.QUEUE_STATES,
        "state_filter": state,
        "assessments": selectors.assessments_reviewed_by(reviewer=request.user),
        "assessment_filter": assessment_id,
    }
    return render_page(request, "rubrics/queue.html", context, fragment="queue")


def _can_score(request, review: Review) -> bool:
    return review.reviewer_id == request.user.pk and not review.is_locked


@staff_required
def review_detail(request, review_id: int):
    review = selectors.review_for_user(user=request.user, review_id=review_id)
    submission = review.submission
    if request.htmx and request.htmx.target == "code-file":
        # The file list swaps only the viewer: skip the evidence and the rubric the page would compute.
        return render_page(request, "rubrics/review.html", _code_context(request, review), fragment="code-file")
    part = request.GET.get("part", "")
    if request.htmx and part in ("code", "diff"):
        # The page fetches the code pane and the diff when the reviewer reaches them: unpacking and
        # highlighting the archive is most of a first load's time, and the diff most of its bytes.
        return render_page(request, "rubrics/review.html", _code_context(request, review), fragment=f"{part}-pane")
    run = selectors.latest_done_run(submission=submission)
    open_probe = request.GET.get("probe")
    if request.htmx and open_probe and run is not None:
        probe = selectors.probe_evidence(run=run, probe_id=open_probe)
        if probe is None:
            raise Http404
        fragment = "probe-requests" if request.GET.get("requests") else "probe-body"
        return render_page(request, "rubrics/review.html", {"review": review, "p": probe}, fragment=fragment)
    results = list(run.results.all()) if run else []
    can_score = _can_score(request, review)
    # A refused submit comes back here with ?incomplete: the rubric then marks every gap at once.
    groups = selectors.evidence_groups(run=run, results=results, open_probe=open_probe)
    rows = selectors.criterion_rows(
        review=review, results=results, mark_gaps=can_score and bool(request.GET.get("incomplete"))
    )
    is_mine_done = review.reviewer_id == request.user.pk and review.state == Review.SUBMITTED
    context = {
        "review": review,
        "submission": submission,
        "pseudonym": submission.invitation.pseudonym,
        "assessment": submission.invitation.assessment,
        "run": run,
        "groups": groups,
        "n_failed": sum(group.failed for group in groups),
        "rows": rows,
        "gaps": [row for row in rows if row.missing_level or row.missing_note],
        "verdict_gaps": selectors.verdict_problems(review) if can_score and request.GET.get("incomplete") else [],
        "recommendations": Review.RECOMMENDATIONS,
        # Like the other reviewers' levels: hidden until this review is submitted (blind review).
        "other_verdicts": selectors.other_verdicts(review=review),
        "notes_html": notes_html(submission.notes),
        "can_score": can_score,
        "show_next": is_mine_done,
        "next_review": selectors.next_review(reviewer=request.user, after=review) if is_mine_done else None,
        # Only once this review is submitted: a match must not anchor the blind scoring.
        "similar": similarity_matches(submission=submission, blind=True) if review.state == Review.SUBMITTED else [],
    }
    # Without JavaScript the links to the code (?file=, ?part=code) and the diff (?part=diff) ask for
    # the page with that part drawn in; with it, htmx fetches the part when it scrolls into view.
    context["open_requests"] = open_probe if request.GET.get("requests") else None
    context["code_inline"] = "file" in request.GET or part == "code"
    context["diff_inline"] = part == "diff"
    # The part the page opens on: the evidence, unless a link asked for the code or the diff.
    context["tab"] = "code" if context["code_inline"] else "diff" if context["diff_inline"] else "evidence"
    if context["code_inline"] or context["diff_inline"]:
        context.update(_code_context(request, review))
    return render_page(request, "rubrics/review.html", context)


@staff_required
def review_file(request, review_id: int):
    """One file of the submission as an attachment: the code pane shows none over 200 KB, nor binaries."""
    review = selectors.review_for_user(user=request.user, review_id=review_id)
    path = request.GET.get("path", "")
    data = _archive_bytes(review.submission)
    _starter, exercise = selectors.starter_dir_for(review.submission)
    content = None
    if data is not None and path:
        content = code_file(archive=data, path=path, limits=ArchiveLimits.from_exercise(exercise.limits))
    if content is None:
        raise Http404
    response = HttpResponse(content, content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=path.rsplit("/", 1)[-1])
    return response


def _archive_bytes(submission) -> bytes | None:
    try:
        return submission.archive_bytes()
    except OSError:  # ArchiveUnavailable: erased, or its bytes changed
        return None


def _code_context(request, review: Review) -> dict:
    submission = review.submission
    starter, exercise = selectors.starter_dir_for(submission)
    data = _archive_bytes(submission)
    if data is None:
        code = CodeView(error="The uploaded archive is not available (erased, or no longer matching its checksum).")
    else:
        code = code_view(
            archive=data,
            starter_dir=starter,
            selected=request.GET.get("file", ""),
            limits=ArchiveLimits.from_exercise(exercise.limits),
        )
    return {"review": review, "code": code}


@reviewer_required
@require_POST
def review_score(request, review_id: int, criterion_id: int):
    """Autosave one criterion (htmx), answering with that criterion's fragment."""
    review = selectors.own_review(user=request.user, review_id=review_id)
    criterion = review.submission.invitation.assessment.rubric.criteria.filter(pk=criterion_id).first()
    if criterion is None:
        raise Http404
    prefix = f"c{criterion.pk}"
    form = ScoreForm({"level": request.POST.get(f"{prefix}-level", ""), "note": request.POST.get(f"{prefix}-note", "")})
    error = ""
    if form.is_valid():
        try:
            review_score_save(
                review=review, criterion=criterion, level=form.cleaned_data["level"], note=form.cleaned_data["note"]
            )
        except RubricError as exc:
            error = str(exc)
    else:
        error = "That level is not on the scale."
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("rubrics:review", review_id=review.pk)
    run = selectors.latest_done_run(submission=review.submission)
    row = selectors.criterion_rows(
        review=review, results=list(run.results.all()) if run else [], only_criterion_id=criterion.pk
    )[0]
    row.error, row.saved = error, not error
    return render_page(
        request,
        "rubrics/review.html",
        # htmx swaps only 2xx answers, and the fragment carries its own error message.
        {"review": review, "row": row, "can_score": _can_score(request, review)},
        fragment="criterion",
    )


@reviewer_required
@require_POST
def review_verdict(request, review_id: int):
    """Autosave the recommendation and takeaways (htmx), answering with their fragment."""
    review = selectors.own_review(user=request.user, review_id=review_id)
    error = _save_verdict(request, review)
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("rubrics:review", review_id=review.pk)
    context = {
        "review": review,
        "recommendations": Review.RECOMMENDATIONS,
        "can_score": _can_score(request, review),
        "verdict_error": error,
        "verdict_saved": not error,
    }
    return render_page(request, "rubrics/review.html", context, fragment="verdict")


def _save_verdict(request, review: Review) -> str:
    form = VerdictForm(
        {"recommendation": request.POST.get("recommendation", ""), "takeaways": request.POST.get("takeaways", "")}
    )
    if not form.is_valid():
        return "Choose strong yes, yes, no or strong no, and keep the takeaways under 2,000 characters."
    try:
        review_verdict_save(
            review=review,
            recommendation=form.cleaned_data["recommendation"],
            takeaways=form.cleaned_data["takeaways"],
        )
    except RubricError as exc:
        return str(exc)
    return ""


@reviewer_required
@require_POST
def review_scores(request, review_id: int):
    """Without JavaScript: save every criterion, then back to the page."""
    review = selectors.own_review(user=request.user, review_id=review_id)
    entries = {}
    for criterion in review.submission.invitation.assessment.rubric.criteria.all():
        prefix = f"c{criterion.pk}"
        form = ScoreForm(
            {"level": request.POST.get(f"{prefix}-level", ""), "note": request.POST.get(f"{prefix}-note", "")}
        )
        if form.is_valid():
            entries[criterion.pk] = (form.cleaned_data["level"], form.cleaned_data["note"])
    try:
        review_scores_save(review=review, entries=entries)
        error = _save_verdict(request, review)
        if error:
            raise RubricError(error)
        messages.success(request, "Scores saved.")
    except RubricError as exc:
        messages.error(request, str(exc))
    return redirect("rubrics:review", review_id=review.pk)


@reviewer_required
@require_POST
def review_submit_view(request, review_id: int):
    review = selectors.own_review(user=request.user, review_id=review_id)
    try:
        review_submit(review=review)
        messages.success(request, "Review submitted. Your scores are locked; the other reviewers' scores are shown.")
    except ReviewIncomplete:
        # The page lists what is missing beside each criterion (see review_detail); a redirect keeps
        # the page's own address, so its links and a reload behave.
        return redirect(reverse("rubrics:review", args=[review.pk]) + "?incomplete=1#submit-problems")
    except RubricError as exc:
        messages.error(request, str(exc))
    except IllegalTransition:
        messages.error(request, "This review is already submitted or was reassigned.")
    return redirect("rubrics:review", review_id=review.pk)


# --- Managers ------------------------------------------------------------------------------------


def _back(request, default: str) -> str:
    """Where the form was (its ``next``: a path on this site, with its query and anchor); else ``default``."""
    target = request.POST.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _manage_row_url(submission) -> str:
    return reverse("rubrics:manage", args=[submission.invitation.assessment_id]) + f"#submission-{submission.pk}"


@manager_required
def manage(request, assessment_id: int):
    assessment = owned_assessment_or_404(user=request.user, pk=assessment_id)
    rows = selectors.review_admin_rows(assessment=assessment)
    return render_page(
        request,
        "rubrics/manage.html",
        {
            "assessment": assessment,
            "rows": rows,
            "needing": sum(1 for r in rows if r.needs_reviewers),
            "pool_size": selectors.reviewer_pool(assessment=assessment).count(),
            "open_states": (Review.ASSIGNED, Review.IN_PROGRESS),
        },
    )


@manager_required
def manage_index(request):
    return render_page(
        request,
        "rubrics/manage_index.html",
        {
            "assessments": selectors.assessments_for_manager(user=request.user),
            "open_disagreements": selectors.open_disagreement_count(user=request.user),
        },
    )


@manager_required
@require_POST
def review_reassign_view(request, review_id: int):
    review = selectors.review_for_user(user=request.user, review_id=review_id)
    # Its reviewer may be a manager too: reassigning is for the assessment's owner.
    owned_assessment_or_404(user=request.user, pk=review.submission.invitation.assessment_id)
    form = ReviewerChoiceForm(request.POST, reviewers=selectors.reviewers_to_add(submission=review.submission))
    if form.is_valid():
        try:
            review_reassign(review=review, reviewer=form.cleaned_data["reviewer"], actor=request.user)
            messages.success(request, f"Reassigned to {form.cleaned_data['reviewer'].get_username()}.")
        except RubricError as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, "Choose a reviewer of this assessment who is not on this upload yet.")
    return redirect(_manage_row_url(review.submission))


@manager_required
@require_POST
def submission_assign(request, submission_id: int):
    """Add one named reviewer, or (no name) fill the upload up to the assessment's number of reviewers."""
    submission = selectors.submission_for_manager(user=request.user, submission_id=submission_id)
    back = _back(request, _manage_row_url(submission))
    if request.POST.get("reviewer"):
        form = ReviewerChoiceForm(request.POST, reviewers=selectors.reviewers_to_add(submission=submission))
        if not form.is_valid():
            messages.error(request, "That reviewer cannot be added: they are on it already or not a reviewer of it.")
            return redirect(back)
        try:
            review_assign(submission=submission, reviewer=form.cleaned_data["reviewer"], actor=request.user)
            messages.success(request, f"{form.cleaned_data['reviewer'].get_username()} now reviews this upload.")
        except RubricError as exc:
            messages.error(request, str(exc))
        return redirect(back)
    assigned = reviews_assign_for_submission(submission=submission)
    if assigned:
        names = ", ".join(r.reviewer.get_username() for r in assigned)
        messages.success(request, f"Assigned {names}.")
    elif not selectors.reviewers_to_add(submission=submission).exists():
        messages.error(
            request,
            "Nobody was assigned: every reviewer of this assessment is already on it. "
            "Add reviewers to the assessment to assign someone else.",
        )
    else:
        wanted = submission.invitation.assessment.reviewers_per_submission
        messages.info(
            request,
            f"Nobody was assigned: it already has its {wanted} reviewer{pluralize(wanted)}. "
            "Choose a reviewer by name to add one more.",
        )
    return redirect(back)


@manager_required
def disagreements(request):
    show = request.GET.get("show", "open")
    if show not in ("open", "resolved", "all"):
        show = "open"
    assessment_id = _int_or_none(request.GET.get("assessment"))
    context = {
        "disagreements": selectors.disagreements_for_manager(
            user=request.user,
            assessment_id=assessment_id,
            show=show,
            keep_id=_int_or_none(request.GET.get("resolved")),
        ),
        "show": show,
        "assessment_filter": assessment_id,
        "assessments": selectors.assessments_for_manager(user=request.user),
        # Forms on the page send it back, so that acting on a row returns to this filter at that row.
        "here": request.get_full_path(),
    }
    return render_page(request, "rubrics/disagreements.html", context, fragment="list")


def _with_resolved(url: str, disagreement_id: int) -> str:
    """``url`` (the list as it was filtered) that still shows the row just resolved, scrolled to it."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "resolved"]
    query.append(("resolved", str(disagreement_id)))
    return urlunsplit(parts._replace(query=urlencode(query), fragment=f"disagreement-{disagreement_id}"))


@manager_required
@require_POST
def disagreement_resolve_view(request, disagreement_id: int):
    """Resolve one disagreement; htmx swaps its row in place, a plain form returns to the same filter at that row."""
    disagreement = selectors.disagreement_for_manager(user=request.user, disagreement_id=disagreement_id)
    back = _back(request, reverse("rubrics:disagreements") + "?show=open")
    form = ResolveForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            disagreement_resolve(
                disagreement=disagreement,
                level=form.cleaned_data["level"],
                note=form.cleaned_data["note"],
                actor=request.user,
            )
        except RubricError as exc:
            error = str(exc)
    else:
        error = "Choose a final level and write a calibration note."
    if request.htmx:
        # htmx swaps only 2xx answers: the row carries its own error, and keeps what was typed.
        context = {
            "d": selectors.disagreement_row_for_manager(user=request.user, disagreement_id=disagreement.pk),
            "here": back,
            "error": error,
            "posted": {"level": request.POST.get("level", ""), "note": request.POST.get("note", "")},
        }
        return render_page(request, "rubrics/disagreements.html", context, fragment="disagreement")
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Resolved: {disagreement.criterion.title} at level {disagreement.resolved_level}.")
    return redirect(_with_resolved(back, disagreement.pk))


@manager_required
def agreement(request, assessment_id: int):
    assessment = owned_assessment_or_404(user=request.user, pk=assessment_id)
    return render_page(
        request,
        "rubrics/agreement.html",
        {
            "assessment": assessment,
            "min_submissions": selectors.AGREEMENT_MIN_SUBMISSIONS,
            **selectors.agreement_for_assessment(assessment=assessment),
        },
    )


@manager_required
def gold(request, submission_id: int):
    submission = selectors.submission_for_manager(user=request.user, submission_id=submission_id)
    criteria = list(submission.invitation.assessment.rubric.criteria.all())
    current = {g.criterion_id: g for g in submission.gold_levels.all()}
    if request.method == "POST" and request.POST.get("clear"):
        if current:
            gold_standard_set(submission=submission, levels={pk: None for pk in current}, label="", actor=request.user)
            messages.success(request, "No longer a calibration submission: its expected levels are removed.")
        else:
            messages.info(request, "It was not a calibration submission: nothing to remove.")
        return redirect(_manage_row_url(submission))
    label = next((g.label for g in current.values()), "")
    form = GoldForm(
        request.POST or None,
        criteria=criteria,
        initial_levels={k: g.expected_level for k, g in current.items()},
        initial={"label": label},
    )
    if request.method == "POST" and form.is_valid():
        try:
            gold_standard_set(
                submission=submission, levels=form.levels(), label=form.cleaned_data["label"], actor=request.user
            )
            marked = sum(1 for level in form.levels().values() if level is not None)
            messages.success(request, f"Calibration levels saved for {marked} of {len(criteria)} criteria.")
            return redirect(_manage_row_url(submission))
        except RubricError as exc:
            messages.error(request, str(exc))
    return render_page(request, "rubrics/gold.html", {"submission": submission, "form": form, "is_gold": bool(current)})
