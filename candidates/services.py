import hashlib
import logging
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from assessments.models import Assessment
from candidates.models import (
    ArchiveUnavailable,
    Candidate,
    CodeFingerprint,
    Decision,
    Invitation,
    StoredArchive,
    Submission,
    hash_token,
    new_pseudonym,
    new_token,
)
from candidates.selectors import (
    candidates_past_retention,
    duration_words,
    feedback_summary,
    invitation_contact,
    upload_limit_message,
    uploads_left,
)
from core.audit import audit_record
from core.models import AuditEvent
from core.transitions import IllegalTransition, apply_transition, check_transition
from grader.githistory import has_git_history, read_history_isolated
from grader.unpack import ArchiveLimits, ArchiveRejected, unpack_archive

log = logging.getLogger(__name__)


class InvitationError(Exception):
    """A user-facing refusal: the message is safe and meant to be shown."""


class UploadRejected(InvitationError):
    """The upload breaks a rule; nothing was stored and the message tells the candidate why."""


def candidate_get_or_create(*, name: str, email: str) -> Candidate:
    email = email.strip()
    candidate = Candidate.objects.filter(email__iexact=email).first()
    if candidate:
        return candidate
    return Candidate.objects.create(name=name.strip(), email=email)


def invitation_create(
    *, assessment: Assessment, candidate: Candidate, invited_by: User, ttl_days: int | None = None
) -> tuple[Invitation, str]:
    """Create an invitation and return it with its raw token, which is never stored or shown again."""
    if not assessment.is_open:
        raise InvitationError("This assessment is closed; nobody new can be invited.")
    if Invitation.objects.filter(assessment=assessment, candidate=candidate).exists():
        raise InvitationError(f"{candidate.email} is already invited to this assessment.")
    ttl = timedelta(days=ttl_days if ttl_days is not None else settings.INVITATION_TTL_DAYS)
    token = new_token()
    for _ in range(5):
        try:
            with transaction.atomic():
                invitation = Invitation.objects.create(
                    assessment=assessment,
                    candidate=candidate,
                    token_hash=hash_token(token),
                    pseudonym=new_pseudonym(),
                    expires_at=min(timezone.now() + ttl, assessment.closes_at),
                    invited_by=invited_by,
                )
                audit_record(actor=invited_by, action="invitation.created", target=invitation)
            return invitation, token
        except IntegrityError:
            # Only the 4-hex pseudonym can collide (65,536 per assessment); draw again.
            if Invitation.objects.filter(assessment=assessment, candidate=candidate).exists():
                raise InvitationError(f"{candidate.email} is already invited to this assessment.") from None
    raise InvitationError("Could not allocate a pseudonym for this invitation; try again.")


def invitation_start(*, invitation: Invitation, now: datetime | None = None) -> Invitation:
    """The candidate pressed Start: the clock runs from now to the earlier of the limit and the close."""
    now = now or timezone.now()
    if invitation.is_expired:
        raise IllegalTransition(invitation, Invitation.EXPIRED, Invitation.STARTED)
    assessment = invitation.assessment
    due = min(now + timedelta(minutes=assessment.time_limit_minutes), assessment.closes_at)
    if due <= now:
        raise InvitationError("This assessment has closed.")
    apply_transition(invitation, Invitation.STARTED, started_at=now, due_at=due)
    audit_record(actor=f"candidate:{invitation.pseudonym}", action="invitation.started", target=invitation)
    return invitation


def invitation_expire(*, invitation: Invitation) -> Invitation:
    apply_transition(invitation, Invitation.EXPIRED, closed_at=timezone.now())
    audit_record(actor=None, action="invitation.expired", target=invitation)
    return invitation


def invitation_withdraw(*, invitation: Invitation, actor: User, reason: str = "") -> Invitation:
    apply_transition(invitation, Invitation.WITHDRAWN, closed_at=timezone.now())
    audit_record(actor=actor, action="invitation.withdrawn", target=invitation, data={"reason": reason})
    return invitation


def submission_store(
    *,
    invitation: Invitation,
    archive: bytes,
    notes: str = "",
    ignored_files: list[dict[str, Any]] | None = None,
    ai_disclosure: str = "",
    ai_used_none: bool = False,
) -> Submission:
    """Store one upload: the row, the archive file, the invitation's state, the audit trail.

    The archive must already have passed the safe-unpacking checks; this stores the original
    bytes with their sha256 so what was graded can always be proven, and ``ignored_files``
    (what the unpacking dropped) to tell the candidate and reviewers. Raises UploadRejected
    once MAX_UPLOADS_PER_INVITATION uploads are stored. Its grading and what a new upload does
    to the older ones' are workflows.uploads.submission_accept's, in the same transaction.

    The AI-use disclosure is stored with the assessment's policy as it stands now. An archive with
    no git history is recorded as such at once; one with history is read after the commit
    (``submission_git_history_read``).
    """
    if not invitation.accepts_uploads:
        if invitation.is_past_due:
            raise InvitationError("The deadline has passed; uploads are closed.")
        raise InvitationError("This take-home is not accepting uploads.")
    exercise = invitation.assessment.exercise
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.state != Invitation.SUBMITTED:
            check_transition(locked, Invitation.SUBMITTED)
        # Counted under the invitation's row lock: two uploads at once cannot both be the one too many.
        if not uploads_left(locked):
            raise UploadRejected(upload_limit_message(locked))
        number = (locked.submissions.aggregate(n=Max("number"))["n"] or 0) + 1
        submission = Submission(
            invitation=locked,
            number=number,
            sha256=hashlib.sha256(archive).hexdigest(),
            size_bytes=len(archive),
            notes=notes,
            exercise_version=exercise.version,
            ignored_files=ignored_files or [],
            ai_policy=invitation.assessment.ai_policy,
            ai_disclosure=ai_disclosure.strip(),
            ai_used_none=ai_used_none,
            git_history={} if has_git_history(archive) else dict(NO_GIT_HISTORY),
        )
        submission.save()
        StoredArchive.objects.create(submission=submission, data=archive)
        if locked.state != Invitation.SUBMITTED:
            apply_transition(locked, Invitation.SUBMITTED)
        audit_record(
            actor=f"candidate:{locked.pseudonym}",
            action="submission.accepted",
            target=submission,
            data={
                "number": number,
                "sha256": submission.sha256,
                "size": submission.size_bytes,
                "ignored_files": len(submission.ignored_files),
            },
        )
    invitation.refresh_from_db()
    return submission


NO_GIT_HISTORY = {"source": "", "commits": []}


def submission_git_history_read(*, submission_id: int) -> Submission | None:
    """Read the upload's git history once, in a capped child process that runs nothing of the
    candidate's, and store its timeline. Safe to run twice: a history already read is kept."""
    submission = Submission.objects.filter(pk=submission_id).first()
    if submission is None or submission.git_history:
        return submission
    try:
        archive = submission.archive_bytes()
    except ArchiveUnavailable:
        return submission
    history = read_history_isolated(archive)
    Submission.objects.filter(pk=submission.pk, git_history={}).update(git_history=history)
    submission.refresh_from_db(fields=["git_history"])
    return submission


def invitation_mark_graded(*, invitation: Invitation) -> Invitation:
    apply_transition(invitation, Invitation.GRADED)
    audit_record(actor=None, action="invitation.graded", target=invitation)
    return invitation


def invitation_mark_reviewed(*, invitation: Invitation) -> Invitation:
    apply_transition(invitation, Invitation.REVIEWED)
    audit_record(actor=None, action="invitation.reviewed", target=invitation)
    return invitation


def decision_record(*, invitation: Invitation, outcome: str, reason: str, actor: User) -> Decision:
    reason = reason.strip()
    if not reason:
        raise InvitationError("A decision needs a reason.")
    if outcome not in dict(Decision.OUTCOMES):
        raise InvitationError(f"Unknown decision {outcome!r}.")
    now = timezone.now()
    with transaction.atomic():
        if invitation.state != Invitation.DECIDED:
            apply_transition(invitation, Invitation.DECIDED, closed_at=now)
        else:
            # A changed decision restarts the retention clock: the data is kept after the last one.
            Invitation.objects.filter(pk=invitation.pk).update(closed_at=now)
            invitation.closed_at = now
        decision, created = Decision.objects.update_or_create(
            invitation=invitation,
            defaults={"outcome": outcome, "reason": reason, "decided_by": actor, "decided_at": now},
        )
        audit_record(
            actor=actor,
            action="decision.recorded" if created else "decision.changed",
            target=invitation,
            data={"outcome": outcome, "reason": reason},
        )
    return decision


# --- Invitations by email: one, many, and a new link ---------------------------------------------


@dataclass
class InviteReport:
    """What a batch of invitations did: who got one, whose email failed, which lines were refused."""

    invited: list[Invitation] = field(default_factory=list)
    unsent: list[Invitation] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def invitation_link_url(token: str) -> str:
    return settings.SITE_URL + reverse("candidates:magic_link", args=[token])


def invitation_email_send(*, invitation: Invitation, token: str) -> bool:
    """Email the candidate their magic link. Returns False (and logs) when the mail server refused.

    The invitation stands either way: a failed email is fixed with "Resend link", not by
    losing the invitation.
    """
    contact = invitation_contact(invitation)
    context = {
        "invitation": invitation,
        "candidate": invitation.candidate,
        "assessment": invitation.assessment,
        "exercise": invitation.assessment.exercise,
        "link": invitation_link_url(token),
        "contact": contact,
        "ttl_days": settings.INVITATION_TTL_DAYS,
        "time_budget": duration_words(invitation.assessment.time_limit_minutes),
    }
    subject = render_to_string("candidates/email/invitation_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=render_to_string("candidates/email/invitation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[invitation.candidate.email],
        reply_to=[contact["email"]] if contact["email"] else None,
    )
    message.attach_alternative(render_to_string("candidates/email/invitation.html", context), "text/html")
    try:
        message.send()
    except Exception:
        log.exception("invitation %s: the email could not be sent", invitation.pk)
        return False
    audit_record(actor=None, action="invitation.emailed", target=invitation)
    return True


def invitation_invite(*, assessment: Assessment, name: str, email: str, invited_by: User) -> tuple[Invitation, bool]:
    """Invite one person (creating the candidate if new) and email their link.

    Returns (invitation, email_sent). Raises InvitationError when they cannot be invited.
    """
    with transaction.atomic():
        candidate = candidate_get_or_create(name=name, email=email)
        if candidate.erased_at is not None:
            raise InvitationError(f"{email} belongs to an erased candidate.")
        invitation, token = invitation_create(assessment=assessment, candidate=candidate, invited_by=invited_by)
    return invitation, invitation_email_send(invitation=invitation, token=token)


def invitations_invite_many(
    *, assessment: Assessment, rows: list[tuple[int, str, str]], invited_by: User
) -> InviteReport:
    """Invite every (line, name, email) row; a refused row is reported and the others go ahead."""
    report = InviteReport()
    for line, name, email in rows:
        try:
            invitation, sent = invitation_invite(assessment=assessment, name=name, email=email, invited_by=invited_by)
        except InvitationError as exc:
            report.problems.append(f"Line {line}: {exc}")
            continue
        report.invited.append(invitation)
        if not sent:
            report.unsent.append(invitation)
    return report


def invitation_token_rotate(*, invitation: Invitation, actor: User, audit: bool = True) -> str:
    """Give the invitation a new raw token (the old link stops working) and return it.

    Only hashes are stored, so this is the only way to hand out a link again. ``audit=False``
    is for seed_demo, which re-issues the demo links on every run.
    """
    token = new_token()
    Invitation.objects.filter(pk=invitation.pk).update(token_hash=hash_token(token))
    invitation.token_hash = hash_token(token)
    if audit:
        audit_record(actor=actor, action="invitation.link_rotated", target=invitation)
    return token


def invitation_link_resend(*, invitation: Invitation, actor: User) -> bool:
    """A manager's "Resend link": a new link by email, and a fresh expiry if they have not started."""
    if invitation.candidate.erased_at is not None:
        raise InvitationError("This candidate's data was erased; there is nobody to send a link to.")
    if invitation.state in (Invitation.WITHDRAWN, Invitation.EXPIRED):
        raise InvitationError(f"The invitation is {invitation.get_state_display().lower()}; its link stays off.")
    with transaction.atomic():
        if invitation.state == Invitation.INVITED:
            assessment = invitation.assessment
            if not assessment.is_open:
                raise InvitationError("The assessment is closed; a new link could not be used to start.")
            expires = min(timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS), assessment.closes_at)
            Invitation.objects.filter(pk=invitation.pk).update(expires_at=expires)
            invitation.expires_at = expires
        token = invitation_token_rotate(invitation=invitation, actor=actor)
    return invitation_email_send(invitation=invitation, token=token)


# --- Uploads from the portal ----------------------------------------------------------------------

MAX_NOTES_FILE_BYTES = 200_000
NOTES_FILENAME = "notes.md"


def _entry_package(entry_point: str) -> str:
    """ "helpdesk:answer" -> "helpdesk"; "pkg.mod:fn" -> "pkg"."""
    return entry_point.split(":", 1)[0].split(".", 1)[0].strip()


def _notes_from_archive(root: Path) -> str:
    for path in root.iterdir():
        if path.is_file() and path.name.lower() == NOTES_FILENAME:
            with path.open("rb") as fh:
                return fh.read(MAX_NOTES_FILE_BYTES).decode("utf-8", errors="replace").strip()
    return ""


def submission_notes_combine(*, form_notes: str, archive_notes: str) -> str:
    """Both are kept: what was typed in the box first, then NOTES.md from the archive."""
    form_notes, archive_notes = form_notes.strip(), archive_notes.strip()
    if form_notes and archive_notes:
        return f"{form_notes}\n\n---\n\nNOTES.md from the archive:\n\n{archive_notes}"
    return form_notes or archive_notes


@dataclass(frozen=True)
class CheckedUpload:
    notes: str  # the form's notes and NOTES.md from the archive, combined
    ignored_files: list[dict[str, Any]]  # what unpacking left out, for the candidate and reviewers


def upload_check(*, invitation: Invitation, archive: bytes, notes: str = "") -> CheckedUpload:
    """Check an upload exactly as the grader will unpack it; raise UploadRejected, saying why, if it fails.

    Nothing is stored: the archive is unpacked into a temporary folder that is always removed.
    """
    if not invitation.accepts_uploads:
        if invitation.is_past_due:
            raise UploadRejected("The deadline has passed, so uploads are closed. Nothing was stored.")
        raise UploadRejected("This take-home is not accepting uploads.")
    if not uploads_left(invitation):  # said before the work of unpacking; submission_store decides under a lock
        raise UploadRejected(upload_limit_message(invitation))
    exercise = invitation.assessment.exercise
    package = _entry_package(exercise.entry_point)
    with tempfile.TemporaryDirectory(prefix="upload-check-") as scratch:
        root = Path(scratch) / "archive"
        try:
            manifest = unpack_archive(archive, root, ArchiveLimits.from_exercise(exercise.limits))
        except ArchiveRejected as exc:
            raise UploadRejected(str(exc)) from exc
        # A zip of nothing but the package has it as its single top folder, which unpacking strips.
        has_package = (
            manifest.stripped_prefix == package or (root / package).is_dir() or (root / f"{package}.py").is_file()
        )
        if package and not has_package:
            raise UploadRejected(
                f"The archive has no `{package}/` package at its root. Zip the folder that holds "
                f"`{package}/` (not a folder above it), then upload again."
            )
        archive_notes = _notes_from_archive(root)
    return CheckedUpload(
        notes=submission_notes_combine(form_notes=notes, archive_notes=archive_notes),
        ignored_files=[{"path": i.path, "size": i.size, "reason": i.reason} for i in manifest.ignored],
    )


# --- After the decision: feedback, and erasure on request -----------------------------------------


def invitation_feedback_release(*, invitation: Invitation, actor: User) -> Invitation:
    """Let the candidate see one verdict per failure mode (never anything more specific)."""
    if invitation.state != Invitation.DECIDED:
        raise InvitationError("Feedback can be released only after a decision.")
    if invitation.candidate.erased_at is not None:
        raise InvitationError("This candidate's data was erased.")
    if not feedback_summary(invitation=invitation):
        raise InvitationError("There is no finished automatic check to summarise.")
    if invitation.feedback_released_at is None:
        now = timezone.now()
        Invitation.objects.filter(pk=invitation.pk, feedback_released_at__isnull=True).update(feedback_released_at=now)
        invitation.feedback_released_at = now
        audit_record(actor=actor, action="invitation.feedback_released", target=invitation)
    return invitation


ERASED_TEXT = "[erased at the candidate's request]"
ERASED_RETENTION_TEXT = "[erased: the retention period ended]"


def candidates_erase_past_retention(*, now: datetime | None = None, months: int | None = None) -> list[int]:
    """Erase every candidate whose invitations all ended their retention ago (the assessment's, else
    DATA_RETENTION_MONTHS); returns their ids.

    What the portal promises candidates ("kept for N months after the decision, then deleted").
    One candidate at a time, each in its own transaction: a failure leaves the others erased and
    this one untouched for the next run.
    """
    now = now or timezone.now()
    months = settings.DATA_RETENTION_MONTHS if months is None else months
    erased = []
    for candidate in candidates_past_retention(now=now, months=months):
        try:
            candidate_erase(
                candidate=candidate,
                actor=None,
                reason=f"retention: {months} months after the end",
                erased_text=ERASED_RETENTION_TEXT,
            )
        except InvitationError:
            continue  # erased by hand meanwhile
        except Exception:
            log.exception("retention: could not erase candidate %s", candidate.pk)
            continue
        erased.append(candidate.pk)
    if erased:
        log.info("retention: erased %d candidates", len(erased))
    return erased


def candidate_erase(
    *, candidate: Candidate, actor: User | None, reason: str = "requested", erased_text: str = ERASED_TEXT
) -> Candidate:
    """Remove a candidate's personal data and files; keep the anonymous rows counts are made of.

    Kept: invitations (state, timestamps, pseudonym), submissions' number, size and sha256,
    grading runs, reviews and scores. Gone: name, email, uploaded archives, notes, the AI-use
    disclosure, the git history's timeline, the names of the archive's ignored files, decision
    reasons, and free text about them in the audit trail.
    Their portal links stop working.
    """
    with transaction.atomic():
        locked = Candidate.objects.select_for_update().get(pk=candidate.pk)
        if locked.erased_at is not None:
            raise InvitationError("This candidate's data was already erased.")
        invitation_ids = list(locked.invitations.values_list("pk", flat=True))
        submissions = Submission.objects.filter(invitation__candidate=locked)
        files = StoredArchive.objects.filter(submission__in=submissions).delete()[0]
        CodeFingerprint.objects.filter(submission__in=submissions).delete()  # derived from the code
        # File names come from the archive; the disclosure and the commit messages are the candidate's words.
        submissions.update(notes="", ignored_files=[], ai_disclosure="", git_history=dict(NO_GIT_HISTORY))
        Decision.objects.filter(invitation__candidate=locked).update(reason=erased_text)
        redacted = _audit_redact(invitation_ids, erased_text)
        locked.name = f"Erased candidate #{locked.pk}"
        locked.email = f"erased-{locked.pk}@invalid.example"
        locked.erased_at = timezone.now()
        locked.save(update_fields=["name", "email", "erased_at"])
        audit_record(
            actor=actor,
            action="candidate.erased",
            target=locked,
            data={
                "invitations": len(invitation_ids),
                "files_deleted": files,
                "audit_redacted": redacted,
                "why": reason,
            },
        )
    return locked


def _audit_redact(invitation_ids: list[int], erased_text: str) -> int:
    """Blank free text (decision and withdrawal reasons) in the audit events about these invitations."""
    redacted = 0
    events = AuditEvent.objects.filter(target_type="candidates.invitation", target_id__in=map(str, invitation_ids))
    for event in events:
        if isinstance(event.data, dict) and event.data.get("reason"):
            event.data["reason"] = erased_text
            event.save(update_fields=["data"])
            redacted += 1
    return redacted
