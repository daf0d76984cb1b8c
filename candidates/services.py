import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from assessments.models import Assessment
from assessments.services import audit_record, grading_run_create
from assessments.transitions import IllegalTransition, apply_transition, check_transition
from candidates.models import Candidate, Decision, Invitation, Submission, hash_token, new_pseudonym, new_token


class InvitationError(Exception):
    """A user-facing refusal: the message is safe and meant to be shown."""


def candidate_get_or_create(*, name: str, email: str) -> Candidate:
    email = email.strip()
    candidate = Candidate.objects.filter(email__iexact=email).first()
    if candidate:
        return candidate
    return Candidate.objects.create(name=name.strip(), email=email)


def invitation_create(
    *, assessment: Assessment, candidate: Candidate, invited_by, ttl_days: int | None = None
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
    apply_transition(invitation, Invitation.EXPIRED)
    audit_record(actor=None, action="invitation.expired", target=invitation)
    return invitation


def invitation_withdraw(*, invitation: Invitation, actor, reason: str = "") -> Invitation:
    apply_transition(invitation, Invitation.WITHDRAWN)
    audit_record(actor=actor, action="invitation.withdrawn", target=invitation, data={"reason": reason})
    return invitation


def submission_accept(*, invitation: Invitation, archive: bytes, notes: str = "") -> Submission:
    """Store one upload and queue its grading, all in one transaction.

    The archive must already have passed the safe-unpacking checks; this stores the
    original bytes with their sha256 so what was graded can always be proven.
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
        number = (locked.submissions.aggregate(n=Max("number"))["n"] or 0) + 1
        submission = Submission(
            invitation=locked,
            number=number,
            sha256=hashlib.sha256(archive).hexdigest(),
            size_bytes=len(archive),
            notes=notes,
            exercise_version=exercise.version,
        )
        submission.archive.save("upload.zip", ContentFile(archive), save=False)
        submission.save()
        if locked.state != Invitation.SUBMITTED:
            apply_transition(locked, Invitation.SUBMITTED)
        grading_run_create(submission=submission, exercise_version=exercise.version)
        audit_record(
            actor=f"candidate:{locked.pseudonym}",
            action="submission.accepted",
            target=submission,
            data={"number": number, "sha256": submission.sha256, "size": submission.size_bytes},
        )
    invitation.refresh_from_db()
    return submission


def invitation_mark_graded(*, invitation: Invitation) -> Invitation:
    apply_transition(invitation, Invitation.GRADED)
    audit_record(actor=None, action="invitation.graded", target=invitation)
    return invitation


def invitation_mark_reviewed(*, invitation: Invitation) -> Invitation:
    apply_transition(invitation, Invitation.REVIEWED)
    audit_record(actor=None, action="invitation.reviewed", target=invitation)
    return invitation


def decision_record(*, invitation: Invitation, outcome: str, reason: str, actor) -> Decision:
    reason = reason.strip()
    if not reason:
        raise InvitationError("A decision needs a reason.")
    if outcome not in dict(Decision.OUTCOMES):
        raise InvitationError(f"Unknown decision {outcome!r}.")
    with transaction.atomic():
        if invitation.state != Invitation.DECIDED:
            apply_transition(invitation, Invitation.DECIDED)
        decision, created = Decision.objects.update_or_create(
            invitation=invitation,
            defaults={"outcome": outcome, "reason": reason, "decided_by": actor, "decided_at": timezone.now()},
        )
        audit_record(
            actor=actor,
            action="decision.recorded" if created else "decision.changed",
            target=invitation,
            data={"outcome": outcome, "reason": reason},
        )
    return decision
