"""Reads for the candidate portal and the manager's invitation pages.

Everything a candidate can see goes through here, so this is also where the line is drawn:
no probe id, name, reason or evidence leaves these functions for a candidate; only counts and,
once a manager releases it, one verdict per failure mode.
"""

import calendar
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import markdown
import nh3
from django.conf import settings
from django.db.models import Count, F, Prefetch, Q
from django.utils import dateformat, timezone

from assessments.models import FAILURE_MODES, GradingRun, ProbeResult
from candidates.models import Candidate, Invitation, Submission, hash_token
from rubrics.models import Review

# A raw token is secrets.token_urlsafe(32): 43 characters. Anything far longer is not ours, and
# refusing it before hashing keeps a flood of huge URLs cheap.
MAX_TOKEN_LENGTH = 100

# Images are left out: a brief comes from a package, but an <img> pointing elsewhere would tell a
# third party who opened the portal and when.
_BRIEF_TAGS = nh3.ALLOWED_TAGS - {"img", "area", "map"}

LINK_INVALID = "invalid"
LINK_INACTIVE = "inactive"
LINK_EXPIRED = "expired"

# The public description of each failure mode, as the brief itself words them.
FAILURE_MODE_HINTS = {
    "grounding": "Answers the sources do not support; made-up citations or quotes.",
    "injection": "Untrusted text steering the model; attempts to extract instructions or secrets.",
    "transient": "Rate limits, overloads, server errors, dropped connections, a model that hangs.",
    "output": "Replies that are not quite the expected format, or not usable at all.",
    "input": "Questions that are empty, huge, malformed or not in English.",
    "load": "Many concurrent requests against a model that allows only a few in flight.",
    "cost": "Tokens per request, output limits, needless requests.",
}

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


def invitation_contact(invitation: Invitation) -> dict:
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


def ignored_files_sentence(ignored: list[dict], *, named: int = 3) -> str:
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


def exercise_brief_html(exercise) -> str:
    """The exercise's brief.md as sanitised HTML ('' when the package has no brief on this machine)."""
    path = Path(exercise.package_path) / "brief.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
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


# --- The status page ------------------------------------------------------------------------------

STAGES = [
    ("received", "Received"),
    ("checking", "Checking"),
    ("checked", "Checked"),
    ("review", "Under review"),
    ("decided", "Decided"),
]


@dataclass
class PortalStatus:
    stage: str  # "none" before the first upload, else one of STAGES
    submissions: list[Submission] = field(default_factory=list)
    run_done: int = 0
    run_total: int = 0
    unsandboxed: bool = False  # development mode: the run says so wherever it is shown
    retrying: bool = False

    @property
    def latest(self) -> Submission | None:
        return self.submissions[0] if self.submissions else None

    @property
    def is_live(self) -> bool:
        """Still moving without anyone's action: the page keeps polling."""
        return self.stage in ("received", "checking")

    @property
    def stage_index(self) -> int:
        return next((i for i, (key, _label) in enumerate(STAGES) if key == self.stage), -1)

    @property
    def steps(self) -> list[dict]:
        current = self.stage_index
        return [
            {"key": key, "label": label, "done": i < current, "current": i == current}
            for i, (key, label) in enumerate(STAGES)
        ]

    @property
    def progress_percent(self) -> int:
        return round(100 * self.run_done / self.run_total) if self.run_total else 0


def portal_status(*, invitation: Invitation) -> PortalStatus:
    """Where the candidate's take-home stands, in words that say nothing about results."""
    runs = GradingRun.objects.order_by("-queued_at", "-pk")
    submissions = list(
        Submission.objects.filter(invitation=invitation)
        .order_by("-number")
        .prefetch_related(Prefetch("grading_runs", queryset=runs))
    )
    status = PortalStatus(stage="none", submissions=submissions)
    if invitation.state == Invitation.DECIDED:
        status.stage = "decided"
        return status
    if not submissions:
        return status
    latest_runs = list(submissions[0].grading_runs.all())
    run = latest_runs[0] if latest_runs else None
    reviewed = invitation.state == Invitation.REVIEWED or (
        Review.objects.filter(submission=submissions[0]).exclude(state=Review.WITHDRAWN).exists()
    )
    status.unsandboxed = bool(run and run.is_unsandboxed)
    if run is None:
        status.stage = "received"
    elif run.state == GradingRun.DONE:
        status.stage = "review" if reviewed else "checked"
    elif run.state == GradingRun.FAILED_INFRA:
        status.stage, status.retrying = "checking", True
    elif run.state == GradingRun.RUNNING:
        status.stage, status.retrying = "checking", run.attempt > 1
        status.run_done, status.run_total = run.progress_done, run.progress_total
    elif run.attempt >= 1:
        # Queued again after a failed attempt: to the candidate it is still being checked.
        status.stage, status.retrying = "checking", True
    else:
        status.stage = "received"
    return status


# --- Feedback per failure mode ----------------------------------------------------------------------


def feedback_summary(*, invitation: Invitation) -> list[dict]:
    """One verdict per failure mode from the latest finished run of the latest upload.

    All probes of a mode passed: handled; some: partly; none: not handled. Infrastructure
    errors are ours, not the candidate's, so they count for nothing either way.
    """
    latest = invitation.submissions.order_by("-number").first()
    if latest is None:
        return []
    run = latest.grading_runs.filter(state=GradingRun.DONE).order_by("-finished_at", "-pk").first()
    if run is None:
        return []
    counts: dict[str, list[int]] = {}
    for mode, outcome in run.results.exclude(outcome=ProbeResult.ERROR).values_list("failure_mode", "outcome"):
        passed_total = counts.setdefault(mode, [0, 0])
        passed_total[1] += 1
        if outcome == ProbeResult.PASS:
            passed_total[0] += 1
    summary = []
    for mode, label in FAILURE_MODES:
        if mode not in counts:
            continue
        passed, total = counts[mode]
        verdict = HANDLED if passed == total else NOT_HANDLED if passed == 0 else PARTLY
        summary.append(
            {
                "mode": mode,
                "label": label,
                "hint": FAILURE_MODE_HINTS.get(mode, ""),
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


def candidates_past_retention(*, now: datetime, months: int):
    """Candidates whose data the portal promised to delete: every invitation ended ``months`` ago or more.

    An invitation has ended when it was decided, expired or withdrawn (``closed_at``), or when its
    link lapsed without the take-home being started. One still in progress (started, submitted,
    graded, reviewed and awaiting a decision) keeps the candidate's data.
    """
    cutoff = months_before(now, months)
    ended_long_ago = Q(
        invitations__state__in=[Invitation.DECIDED, Invitation.EXPIRED, Invitation.WITHDRAWN],
        invitations__closed_at__lt=cutoff,
    ) | Q(invitations__state=Invitation.INVITED, invitations__expires_at__lt=cutoff)
    return (
        Candidate.objects.filter(erased_at__isnull=True)
        .annotate(n_invitations=Count("invitations"), n_ended=Count("invitations", filter=ended_long_ago))
        .filter(n_invitations__gt=0, n_ended=F("n_invitations"))
        .order_by("pk")
    )
