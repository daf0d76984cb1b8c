import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone


def hash_token(token: str) -> str:
    """Only the hash of a magic-link token is stored, so a database leak opens no portal."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_pseudonym() -> str:
    return secrets.token_hex(2).upper()


class Candidate(models.Model):
    name = models.CharField(max_length=200)
    email = models.EmailField(max_length=254)
    created_at = models.DateTimeField(default=timezone.now)
    erased_at = models.DateTimeField(
        null=True, blank=True, help_text="Personal data removed on request; the row stays for anonymous counts."
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("email"), name="candidate_unique_email_ci")]

    def __str__(self):
        return self.name


class Invitation(models.Model):
    INVITED = "invited"
    STARTED = "started"
    SUBMITTED = "submitted"
    GRADED = "graded"
    REVIEWED = "reviewed"
    DECIDED = "decided"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    STATES = [
        (INVITED, "Invited"),
        (STARTED, "Started"),
        (SUBMITTED, "Submitted"),
        (GRADED, "Graded"),
        (REVIEWED, "Reviewed"),
        (DECIDED, "Decided"),
        (EXPIRED, "Expired"),
        (WITHDRAWN, "Withdrawn"),
    ]
    FUNNEL = [INVITED, STARTED, SUBMITTED, GRADED, REVIEWED, DECIDED]
    TRANSITIONS = {
        INVITED: {STARTED, EXPIRED, WITHDRAWN},
        STARTED: {SUBMITTED, EXPIRED, WITHDRAWN},
        # A resubmission before the deadline sends a graded invitation back to submitted.
        SUBMITTED: {GRADED, WITHDRAWN},
        GRADED: {SUBMITTED, REVIEWED, WITHDRAWN},
        REVIEWED: {DECIDED, WITHDRAWN},
        DECIDED: set(),
        EXPIRED: set(),
        WITHDRAWN: set(),
    }

    assessment = models.ForeignKey("assessments.Assessment", on_delete=models.PROTECT, related_name="invitations")
    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="invitations")
    token_hash = models.CharField(max_length=64, unique=True)
    pseudonym = models.CharField(
        max_length=8, default=new_pseudonym, help_text="What reviewers see instead of the name, e.g. 7F3A."
    )
    state = models.CharField(max_length=20, choices=STATES, default=INVITED)
    expires_at = models.DateTimeField(help_text="The link stops working after this unless the take-home started.")
    started_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    feedback_released_at = models.DateTimeField(
        null=True, blank=True, help_text="When a manager let the candidate see the per-failure-mode summary."
    )
    closed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When it ended: the (latest) decision, the expiry or the withdrawal. Retention counts from here.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["assessment", "candidate"], name="invitation_one_per_candidate"),
            models.UniqueConstraint(fields=["assessment", "pseudonym"], name="invitation_unique_pseudonym"),
            models.CheckConstraint(
                condition=Q(
                    state__in=[
                        "invited",
                        "started",
                        "submitted",
                        "graded",
                        "reviewed",
                        "decided",
                        "expired",
                        "withdrawn",
                    ]
                ),
                name="invitation_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(started_at__isnull=True) | Q(due_at__isnull=False),
                name="invitation_started_has_due",
            ),
            models.CheckConstraint(
                condition=Q(due_at__isnull=True) | Q(started_at__isnull=False) & Q(due_at__gte=models.F("started_at")),
                name="invitation_due_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.candidate} → {self.assessment}"

    @property
    def is_expired(self) -> bool:
        """The link is dead: never started before expiry, or the state says so."""
        if self.state == self.EXPIRED:
            return True
        return self.state == self.INVITED and self.expires_at <= timezone.now()

    @property
    def is_past_due(self) -> bool:
        return self.due_at is not None and self.due_at <= timezone.now()

    @property
    def accepts_uploads(self) -> bool:
        return self.state in (self.STARTED, self.SUBMITTED, self.GRADED) and not self.is_past_due


def _archive_path(submission: "Submission", filename: str) -> str:
    """Where uploads lived before they moved into the database (migration 0005 reads them from there)."""
    return f"submissions/{submission.invitation_id}/{submission.number}-{secrets.token_hex(8)}.zip"


class ArchiveUnavailable(OSError):
    """The stored archive is gone (erased) or no longer matches its sha256: never the candidate's fault."""


class Submission(models.Model):
    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="submissions")
    number = models.PositiveIntegerField(help_text="1 for the first upload, 2 for the first resubmission, …")
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveIntegerField()
    notes = models.TextField(blank=True, help_text="From the upload form or NOTES.md in the archive.")
    exercise_version = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)
    ignored_files = models.JSONField(
        default=list,
        blank=True,
        help_text="Files of the archive that were never unpacked or run (compiled Python, archives inside "
        "the archive): [{path, size, reason}], as the unpacking reported them.",
    )
    ai_policy = models.CharField(
        max_length=20, blank=True, help_text="The assessment's AI policy when this was uploaded (it can change later)."
    )
    ai_disclosure = models.TextField(blank=True, help_text="What the candidate says they used AI assistants for.")
    ai_used_none = models.BooleanField(default=False, help_text="The candidate confirmed they used no AI assistant.")
    git_history = models.JSONField(
        default=dict,
        blank=True,
        help_text="The commit timeline of the git history in the archive, read once after the upload "
        "(grader.githistory): {source, commits: [{sha, authored, committed, message, files, paths, added, "
        "deleted}], truncated, error}; {} until read, source '' when there is none. No author names or emails.",
    )

    class Meta:
        ordering = ["invitation", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["invitation", "number"], name="submission_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="submission_number_positive"),
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="submission_sha256_hex"),
        ]
        # The reports look uploads up by digest to flag byte-identical archives across candidates.
        indexes = [models.Index(fields=["sha256"], name="submission_sha256_idx")]

    def __str__(self):
        # The pseudonym, never the name: this string reaches lists and logs a reviewer may read.
        return f"Submission {self.number} of {self.invitation.pseudonym} ({self.invitation.assessment_id})"

    def archive_bytes(self) -> bytes:
        """The uploaded zip, exactly as accepted: read from the database, checked against its sha256.

        Raises ArchiveUnavailable (an OSError) when it was erased or its bytes changed.
        """
        try:
            data = bytes(self.stored_archive.data)
        except StoredArchive.DoesNotExist:
            raise ArchiveUnavailable("the uploaded archive is not stored (erased, or never kept)") from None
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise ArchiveUnavailable("the stored archive no longer matches its sha256; refusing to use it")
        return data

    @property
    def git_timeline(self) -> "GitTimeline":
        return GitTimeline.of(self)

    @property
    def ignored_by_reason(self) -> list[dict]:
        """The ignored files grouped under their reason, in the order the archive listed them."""
        groups: dict[str, list[dict]] = {}
        for item in self.ignored_files or []:
            groups.setdefault(item.get("reason", ""), []).append(item)
        return [{"reason": reason, "files": files} for reason, files in groups.items()]


def offset_words(delta: timedelta | None) -> str:
    """How far from the start a moment is: "1 h 05 min after the start", "3 min before the start"."""
    if delta is None:
        return ""
    minutes = round(abs(delta.total_seconds()) / 60)
    hours, minutes = divmod(minutes, 60)
    amount = f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
    return f"{amount} {'before' if delta < timedelta(0) else 'after'} the start"


@dataclass(frozen=True)
class GitTimeline:
    """What the review page shows of an upload's git history: the commits with their times as datetimes
    and offsets from the start, how long after the start the first commit and the upload came, and each
    commit's place (0-100) on a strip from the start to the upload."""

    # "pending" (not read yet), "none" (no history uploaded), "unread" (stored before reading), "error", "read"
    state: str
    source: str = ""
    error: str = ""
    commits: tuple[dict[str, Any], ...] = ()
    truncated: bool = False
    started_at: datetime | None = None
    uploaded_at: datetime | None = None
    to_first_commit: str = ""
    to_upload: str = ""
    outside_window: int = 0  # commits dated before the start or after the upload

    @classmethod
    def of(cls, submission: "Submission") -> "GitTimeline":
        data = submission.git_history or {}
        if not data:
            return cls(state="pending")
        if not data.get("source"):
            return cls(state="unread" if data.get("before_reading") else "none")
        started, uploaded = submission.invitation.started_at, submission.created_at
        window = uploaded - started if started and uploaded > started else None
        span = window.total_seconds() if window else 0
        commits: list[dict[str, Any]] = []
        for c in data.get("commits", []):
            at = datetime.fromtimestamp(c["authored"], tz=UTC)
            after = at - started if started else None
            place = None
            if window and after is not None and timedelta(0) <= after <= window:
                place = round(100 * after.total_seconds() / span, 2)
            commits.append({**c, "authored_at": at, "offset": offset_words(after), "place": place})
        first = min((c["authored_at"] for c in commits), default=None)
        return cls(
            state="error" if data.get("error") else "read",
            source=data["source"],
            error=data.get("error", ""),
            commits=tuple(commits),
            truncated=bool(data.get("truncated")),
            started_at=started,
            uploaded_at=uploaded,
            to_first_commit=offset_words(first - started) if first and started else "",
            to_upload=offset_words(uploaded - started) if started else "",
            outside_window=sum(1 for c in commits if span and c["place"] is None),
        )


class StoredArchive(models.Model):
    """An upload's bytes (at most the exercise's archive limit, 5 MB by default), in PostgreSQL.

    Every host that grades or shows a submission reads it from the database it already shares, so a
    worker on another machine needs nothing else; the upload and its bytes commit together (no file
    without its row, no row without its file), and the database's backups hold them. Apart from the
    submission's row, so that listing submissions never loads megabytes.
    """

    submission = models.OneToOneField(
        Submission, on_delete=models.CASCADE, primary_key=True, related_name="stored_archive"
    )
    data = models.BinaryField()

    def __str__(self):
        return f"Archive of {self.submission}"


class Decision(models.Model):
    ADVANCE = "advance"
    REJECT = "reject"
    HOLD = "hold"
    OUTCOMES = [(ADVANCE, "Advance"), (REJECT, "Reject"), (HOLD, "Hold")]

    invitation = models.OneToOneField(Invitation, on_delete=models.CASCADE, related_name="decision")
    outcome = models.CharField(max_length=10, choices=OUTCOMES)
    reason = models.TextField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=["advance", "reject", "hold"]), name="decision_outcome_valid"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="decision_reason_required"),
        ]

    def __str__(self):
        return f"{self.get_outcome_display()}: {self.invitation}"


class KnownSolution(models.Model):
    """A public solution to an assessment's exercise (a blog post's, a repository's) that a manager
    uploaded so that candidates' code is compared with it too. Its zip (within the exercise's archive
    limits) is kept, like an upload's, so pages can show the shared lines beside each other."""

    assessment = models.ForeignKey("assessments.Assessment", on_delete=models.CASCADE, related_name="known_solutions")
    label = models.CharField(max_length=200, help_text="Where it comes from, as the manager wrote it.")
    sha256 = models.CharField(max_length=64)
    data = models.BinaryField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["assessment", "sha256"], name="knownsolution_unique_per_assessment"),
        ]

    def __str__(self):
        return f"Known solution {self.label!r} ({self.assessment_id})"


class CodeFingerprint(models.Model):
    """The winnowing fingerprints of a submission's or a known solution's Python code, less the
    starter kit's (candidates.winnowing): computed once, so a comparison is set arithmetic.

    ``owner`` and ``exercise_slug`` are copied from the assessment so that finding what to compare
    with is one indexed filter: only code of the same exercise, only within one owner's assessments.
    """

    submission = models.OneToOneField(
        Submission, on_delete=models.CASCADE, null=True, blank=True, related_name="fingerprint"
    )
    known_solution = models.OneToOneField(
        KnownSolution, on_delete=models.CASCADE, null=True, blank=True, related_name="fingerprint"
    )
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    exercise_slug = models.SlugField(max_length=80)
    hashes = models.BinaryField(help_text="Sorted distinct 64-bit hashes, packed (array 'q').")
    locations = models.JSONField(help_text="{files: [path], spans: [[hash, file index, first line, last line]]}")
    count = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["owner", "exercise_slug"], name="fingerprint_scope_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(submission__isnull=False, known_solution__isnull=True)
                | Q(submission__isnull=True, known_solution__isnull=False),
                name="fingerprint_one_source",
            ),
        ]

    def __str__(self):
        return f"Fingerprints of {self.submission or self.known_solution}"


class SimilarityMatch(models.Model):
    """Code of ``submission`` that is much like other code: worth a look by a person, never a verdict.

    The other side is another candidate's upload, the exercise's reference solution, or a known
    public solution. ``fragments`` are the shared runs of lines, ours first (``Fragment.as_dict``).
    """

    SUBMISSION = "submission"
    REFERENCE = "reference"
    KNOWN = "known"
    KINDS = [
        (SUBMISSION, "Another candidate's upload"),
        (REFERENCE, "The reference solution"),
        (KNOWN, "A known solution"),
    ]

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="similarity_matches")
    kind = models.CharField(max_length=12, choices=KINDS)
    other_submission = models.ForeignKey(Submission, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    known_solution = models.ForeignKey(KnownSolution, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    score = models.FloatField(help_text="2|shared| / (|ours| + |theirs|) of the fingerprints, 0 to 1.")
    shared = models.PositiveIntegerField()
    fragments = models.JSONField(default=list)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-score", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=0, score__lte=1), name="similarity_score_0_to_1"),
            models.CheckConstraint(
                condition=Q(kind="submission", other_submission__isnull=False, known_solution__isnull=True)
                | Q(kind="reference", other_submission__isnull=True, known_solution__isnull=True)
                | Q(kind="known", other_submission__isnull=True, known_solution__isnull=False),
                name="similarity_other_side_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["submission", "other_submission"],
                condition=Q(kind="submission"),
                name="similarity_one_row_per_pair",
            ),
            models.UniqueConstraint(
                fields=["submission", "known_solution"], condition=Q(kind="known"), name="similarity_one_row_per_known"
            ),
            models.UniqueConstraint(
                fields=["submission"], condition=Q(kind="reference"), name="similarity_one_reference_row"
            ),
        ]

    def __str__(self):
        return f"{self.submission} ~ {self.kind} {self.score:.2f}"
