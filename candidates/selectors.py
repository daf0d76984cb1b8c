"""Reads for the candidate portal and the manager's invitation pages.

Everything a candidate can see goes through here, so this is also where the line is drawn:
no probe id, name, reason or evidence leaves these functions for a candidate; only counts and,
once a manager releases it, one verdict per failure mode.
"""

import calendar
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

import markdown
import nh3
from django.conf import settings
from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import dateformat, timezone

from assessments.models import Assessment, Exercise, GradingRun, OutcomeCounts, ProbeResult
from assessments.packages import PackageUnavailable, exercise_dir
from assessments.selectors import run_failure_modes
from candidates.models import Candidate, Invitation, Submission, hash_token

if TYPE_CHECKING:  # django-stubs-ext is a development dependency: only the type checker reads it
    from django_stubs_ext import WithAnnotations

# A raw token is secrets.token_urlsafe(32): 43 characters. Anything far longer is not ours, and
# refusing it before hashing keeps a flood of huge URLs cheap.
MAX_TOKEN_LENGTH = 100

# Images are left out: a brief comes from a package, but an <img> pointing elsewhere would tell a
# third party who opened the portal and when.
_BRIEF_TAGS = nh3.ALLOWED_TAGS - {"img", "area", "map"}

LINK_INVALID = "invalid"
LINK_INACTIVE = "inactive"
LINK_EXPIRED = "expired"

HANDLED = "handled"
PARTLY = "partly"
NOT_HANDLED = "not_handled"
VERDICT_LABELS = {HANDLED: "Handled", PARTLY: "Partly handled", NOT_HANDLED: "Not handled"}


def invitation_by_token(token: str) -> Invitation | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return (
        Invitation.objects.select_related("assessment__exercise", "candidate", "invited_by", "assessment__owner")
        .filter(token_hash=hash_token(token))
        .first()
    )


def invitation_link_problem(invitation: Invitation) -> str | None:
    """Why this invitation's link opens nothing (LINK_INACTIVE / LINK_EXPIRED), or None if it works."""
    if invitation.candidate.erased_at is not None or invitation.state == Invitation.WITHDRAWN:
        return LINK_INACTIVE
    if invitation.is_expired:
        return LINK_EXPIRED
    return None


def portal_invitation_get(*, pk: int) -> Invitation | None:
    return (
        Invitation.objects.select_related("assessment__exercise", "candidate", "invited_by", "assessment__owner")
        .filter(pk=pk)
        .first()
    )


def invitation_contact(invitation: Invitation) -> dict[str, str]:
    """Who the candidate should talk to: the person who invited them, else the assessment's owner."""
    person = invitation.invited_by or invitation.assessment.owner
    if person is None:
        return {"name": "", "email": ""}
    return {"name": person.get_full_name() or person.get_username(), "email": person.email}


def uploads_left(invitation: Invitation) -> int:
    """How many more uploads this take-home accepts from the candidate (MAX_UPLOADS_PER_INVITATION)."""
    return max(0, settings.MAX_UPLOADS_PER_INVITATION - invitation.submissions.count())


def upload_limit_message(invitation: Invitation) -> str:
    """What a candidate who has used every upload is told; plain text, shown as is."""
    latest = invitation.submissions.order_by("-number").first()
    contact = invitation_contact(invitation)
    who = contact["name"] or "the person who invited you"
    if contact["email"]:
        who = f"{who} ({contact['email']})"
    assessed = ""
    if latest is not None:
        received = dateformat.format(timezone.localtime(latest.created_at), "D j M Y, H:i T")
        assessed = f"; your latest upload (number {latest.number}, received {received}) is the one assessed"
    return (
        f"You have uploaded {settings.MAX_UPLOADS_PER_INVITATION} times, the most this take-home accepts"
        f"{assessed}. If you need to replace it, write to {who}."
    )


def ignored_files_sentence(ignored: list[dict[str, Any]], *, named: int = 3) -> str:
    """ "We ignored 3 files: a, b and c (compiled Python: we run your source files)." or "" for none."""
    if not ignored:
        return ""
    parts = []
    for reason in dict.fromkeys(item["reason"] for item in ignored):
        paths = [item["path"] for item in ignored if item["reason"] == reason]
        shown = paths[:named]
        if len(paths) > named:
            listed = f"{', '.join(shown)} and {len(paths) - named} more"
        else:
            listed = " and ".join([", ".join(shown[:-1]), shown[-1]]) if len(shown) > 1 else shown[0]
        parts.append(f"{listed} ({reason})")
    total = len(ignored)
    return f"We ignored {total} file{'s' if total != 1 else ''}: {'; '.join(parts)}."


def megabytes(n: int) -> str:
    """5242880 -> "5 MB"; 1572864 -> "1.5 MB"."""
    return f"{n / 1048576:.1f}".removesuffix(".0") + " MB"


def duration_words(minutes: int) -> str:
    """90 -> "1 hour 30 minutes"; 180 -> "3 hours"; 45 -> "45 minutes"."""
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if rest or not hours:
        parts.append(f"{rest} minute{'s' if rest != 1 else ''}")
    return " ".join(parts)


def exercise_brief_html(exercise: Exercise) -> str:
    """The exercise's brief.md as sanitised HTML ('' when the package has no brief on this machine)."""
    try:
        text = (exercise_dir(exercise) / "brief.md").read_text(encoding="utf-8")
    except (OSError, PackageUnavailable):
        return ""
    # Briefs are written the CommonMark way: a list may follow a paragraph directly, and a numbered
    # item's content is indented three spaces. Python-Markdown wants a blank line before a list and
    # reads indentation in tab_length steps, so give it both.
    html = markdown.markdown(
        _blank_line_before_lists(text), extensions=["fenced_code", "tables", "sane_lists"], tab_length=3
    )
    return nh3.clean(html, tags=_BRIEF_TAGS)


_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s")
_FENCE = re.compile(r"^\s*(?:```|~~~)")


def _blank_line_before_lists(text: str) -> str:
    lines, fenced, previous = [], False, ""
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and _LIST_ITEM.match(line) and previous.strip() and not _LIST_ITEM.match(previous):
            lines.append("")
        lines.append(line)
        previous = line
    return "\n".join(lines) + "\n"


# --- Feedback per failure mode ----------------------------------------------------------------------


def feedback_summary(*, invitation: Invitation) -> list[dict[str, str]]:
    """One verdict per failure mode from the latest finished run of the latest upload.

    All probes of a mode passed: handled; some: partly; none: not handled. Counted in points, as
    the reports are: a graded probe short of full marks leaves its mode partly handled at best.
    Infrastructure errors are ours, not the candidate's, so they count for nothing either way.
    """
    latest = invitation.submissions.order_by("-number").first()
    if latest is None:
        return []
    run = (
        latest.grading_runs.filter(state=GradingRun.DONE, live=True)
        .select_related("exercise")
        .order_by("-finished_at", "-pk")
        .first()
    )
    if run is None:
        return []
    counts: dict[str, OutcomeCounts] = {}
    for mode, outcome, score in run.results.exclude(outcome=ProbeResult.ERROR).values_list(
        "failure_mode", "outcome", "score"
    ):
        counts.setdefault(mode, OutcomeCounts()).add(outcome, score)
    summary = []
    # Titles and hints are the exercise version's own: the package words them for candidates.
    for info in run_failure_modes(run).ordered(counts):
        mode_counts = counts[info.slug]
        points, judged = mode_counts.points, mode_counts.judged
        verdict = HANDLED if points >= judged else NOT_HANDLED if points <= 0 else PARTLY
        summary.append(
            {
                "mode": info.slug,
                "label": info.title,
                "hint": info.hint,
                "verdict": verdict,
                "verdict_label": VERDICT_LABELS[verdict],
            }
        )
    return summary


# --- Retention ------------------------------------------------------------------------------------


def months_before(moment: datetime, months: int) -> datetime:
    """The same time ``months`` calendar months earlier (the 31st falls back to the month's last day)."""
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def candidates_past_retention(*, now: datetime, months: int) -> QuerySet[Candidate]:
    """Candidates whose data the portal promised to delete: every invitation ended its assessment's
    retention (``Assessment.retention_months``, else ``months``) ago or more.

    An invitation has ended when it was decided, expired or withdrawn (``closed_at``), or when its
    link lapsed without the take-home being started. One still in progress (started, submitted,
    graded, reviewed and awaiting a decision) keeps the candidate's data.
    """
    ended_long_ago = Q(pk__in=[])
    # Each assessment may keep data for its own number of months (empty: ``months``). The few
    # distinct values give one cutoff each, so the count stays one query.
    chosen = {
        value
        for value in Assessment.objects.exclude(retention_months=None).values_list("retention_months", flat=True)
        if value is not None
    }
    for kept, on_assessment in [(months, Q(invitations__assessment__retention_months=None))] + [
        (value, Q(invitations__assessment__retention_months=value)) for value in sorted(chosen)
    ]:
        cutoff = months_before(now, kept)
        ended_long_ago |= on_assessment & (
            Q(
                invitations__state__in=[Invitation.DECIDED, Invitation.EXPIRED, Invitation.WITHDRAWN],
                invitations__closed_at__lt=cutoff,
            )
            | Q(invitations__state=Invitation.INVITED, invitations__expires_at__lt=cutoff)
        )
    return (
        Candidate.objects.filter(erased_at__isnull=True)
        .annotate(n_invitations=Count("invitations"), n_ended=Count("invitations", filter=ended_long_ago))
        .filter(n_invitations__gt=0, n_ended=F("n_invitations"))
        .order_by("pk")
    )


# --- The manager's lists ------------------------------------------------------------------------------


def assessments_with_funnel(*, include_archived: bool = False) -> QuerySet[Assessment]:
    """Assessments with one count per invitation state, in one query."""
    qs = Assessment.objects.select_related("exercise", "owner")
    if not include_archived:
        qs = qs.filter(archived_at__isnull=True)
    counts = {state: Count("invitations", filter=Q(invitations__state=state)) for state, _ in Invitation.STATES}
    return qs.annotate(**{f"n_{state}": c for state, c in counts.items()}, n_total=Count("invitations"))


class InvitationProgress(TypedDict):
    """What ``assessment_invitations`` annotates each invitation with (the latest run's figures)."""

    n_submissions: int
    last_upload_at: datetime | None
    run_state: str | None
    run_done: int | None
    run_total: int | None
    run_id: int | None
    run_unsandboxed: bool | None
    run_infra_error: str | None


def assessment_invitations(*, assessment: Assessment) -> "QuerySet[WithAnnotations[Invitation, InvitationProgress]]":
    """The invitations of one assessment with their latest submission and its latest run."""
    latest_submission = Submission.objects.filter(invitation=OuterRef("pk")).order_by("-number")
    # A trial's runs are not the candidate's grading until the trial is made live.
    latest_run = GradingRun.objects.filter(submission__invitation=OuterRef("pk"), live=True).order_by(
        "-queued_at", "-pk"
    )
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


def cohort_latest_submissions(*, assessment: Assessment) -> QuerySet[Submission]:
    """Each candidate's latest upload that is still on file: what the assessment's results are about.

    Withdrawn candidates are not assessed, and an erased upload cannot be graded again.
    """
    newest = (
        Submission.objects.filter(invitation=OuterRef("invitation"))
        .order_by()
        .values("invitation")
        .annotate(n=Max("number"))
        .values("n")
    )
    return (
        Submission.objects.filter(invitation__assessment=assessment, number=Subquery(newest[:1]))
        .exclude(invitation__state=Invitation.WITHDRAWN)
        .filter(stored_archive__isnull=False)
        .select_related("invitation")
        .order_by("pk")
    )
