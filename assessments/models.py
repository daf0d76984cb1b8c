from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Exercise(models.Model):
    """One version of a take-home package found under EXERCISE_DIRS (the UI says "take-home")."""

    slug = models.SlugField(max_length=80)
    version = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=500, blank=True)
    checksum = models.CharField(max_length=64, help_text="sha256 over the package's files")
    package_path = models.CharField(max_length=500)
    entry_point = models.CharField(max_length=200)
    time_limit_minutes = models.PositiveIntegerField()
    rubric_slug = models.SlugField(max_length=80)
    limits = models.JSONField(default=dict, blank=True)
    contract = models.JSONField(
        default=dict, blank=True, help_text="The package's [contract]: entry point, input and output schemas, limits."
    )
    failure_modes = models.JSONField(
        default=list,
        blank=True,
        help_text="The package's [[failure_modes]], in order: slug, title, hint (candidates), description (staff).",
    )
    is_current = models.BooleanField(
        default=True, help_text="The newest synced version of this slug; older ones stay for old submissions."
    )
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["slug", "-synced_at"]
        constraints = [
            models.UniqueConstraint(fields=["slug", "version"], name="exercise_unique_slug_version"),
            models.UniqueConstraint(fields=["slug"], condition=Q(is_current=True), name="exercise_one_current_version"),
            models.CheckConstraint(condition=Q(time_limit_minutes__gt=0), name="exercise_time_limit_positive"),
            models.CheckConstraint(condition=Q(checksum__regex=r"^[0-9a-f]{64}$"), name="exercise_checksum_sha256"),
        ]

    def __str__(self):
        return f"{self.title} ({self.slug} {self.version})"


class PackageArchive(models.Model):
    """The files of one synced exercise version, content-addressed by the package checksum.

    Kept in the database because it is the one store every worker on every host already reads:
    a worker grades a run with exactly the version it names, unpacking these bytes into its
    local cache when the folder it was synced from is not on that machine (or holds other files).
    """

    checksum = models.CharField(max_length=64, unique=True)
    data = models.BinaryField(help_text="A gzipped tar of the package's files, in package_files order.")
    size_bytes = models.PositiveIntegerField()
    files = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(checksum__regex=r"^[0-9a-f]{64}$"), name="packagearchive_checksum_sha256"
            )
        ]

    def __str__(self):
        return f"package {self.checksum[:12]} ({self.files} files)"


class Assessment(models.Model):
    """An opening that hands out one exercise and scores it with one rubric.

    It is pinned to one exercise version: a newer synced version changes nothing here until a
    manager makes a trial regrade on it live (``Regrade``).
    """

    AI_ALLOWED = "allowed"
    AI_DISCLOSE = "disclose"
    AI_NOT_ALLOWED = "not_allowed"
    AI_POLICIES = [
        (AI_ALLOWED, "Allowed"),
        (AI_DISCLOSE, "Allowed, with disclosure"),
        (AI_NOT_ALLOWED, "Not allowed"),
    ]

    title = models.CharField(max_length=200)
    exercise = models.ForeignKey(Exercise, on_delete=models.PROTECT, related_name="assessments")
    rubric = models.ForeignKey("rubrics.Rubric", on_delete=models.PROTECT, related_name="assessments")
    time_limit_minutes = models.PositiveIntegerField()
    closes_at = models.DateTimeField(help_text="No upload is accepted after this moment.")
    reviewers_per_submission = models.PositiveSmallIntegerField(default=2)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_assessments")
    created_at = models.DateTimeField(default=timezone.now)
    archived_at = models.DateTimeField(null=True, blank=True)
    hiring_bar = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Probe pass rate, in percent, at or above which a candidate is worth a closer look.",
    )
    reviewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="reviewed_assessments",
        help_text="Who reviews its uploads; none chosen means every active reviewer.",
    )
    retention_months = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Months a candidate's data is kept after the end; empty means the platform's default.",
    )
    ai_policy = models.CharField(
        max_length=20,
        choices=AI_POLICIES,
        default=AI_ALLOWED,
        help_text="Whether candidates may use AI assistants; stated on the welcome page and the brief.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(time_limit_minutes__gt=0), name="assessment_time_limit_positive"),
            models.CheckConstraint(condition=Q(hiring_bar__lte=100), name="assessment_hiring_bar_percent"),
            models.CheckConstraint(
                condition=Q(reviewers_per_submission__gte=1, reviewers_per_submission__lte=5),
                name="assessment_reviewers_1_to_5",
            ),
            models.CheckConstraint(
                condition=Q(retention_months__gte=1, retention_months__lte=120),
                name="assessment_retention_1_to_120_months",
            ),
            models.CheckConstraint(
                condition=Q(ai_policy__in=["allowed", "disclose", "not_allowed"]), name="assessment_ai_policy_valid"
            ),
        ]

    def __str__(self):
        return self.title

    @property
    def is_open(self) -> bool:
        return self.archived_at is None and self.closes_at > timezone.now()

    @property
    def ai_policy_words(self) -> str:
        """The policy as the candidate reads it, in one sentence."""
        return AI_POLICY_WORDS[self.ai_policy]


AI_POLICY_WORDS = {
    Assessment.AI_ALLOWED: "You may use AI assistants (chat, code completion, agents) as you would at work. "
    "The upload form asks what you used; saying is optional.",
    Assessment.AI_DISCLOSE: "You may use AI assistants (chat, code completion, agents) as you would at work, "
    "and you tell us what you used and for what: the upload form asks, and the answer is required.",
    Assessment.AI_NOT_ALLOWED: "Please do this take-home without AI assistants (chat, code completion, agents). "
    "The upload form asks you to confirm that, or to tell us what you used anyway.",
}


class Regrade(models.Model):
    """A trial regrade: the cohort's latest uploads graded again on one exercise version, apart.

    Its runs are not live (``GradingRun.live`` is false) until a manager makes the trial live,
    which switches the assessment to the trial's version in one transaction; discarding deletes
    them. The live results never change while a trial is open.
    """

    OPEN = "open"
    LIVE = "live"
    DISCARDED = "discarded"
    STATES = [(OPEN, "Open"), (LIVE, "Made live"), (DISCARDED, "Discarded")]
    TRANSITIONS = {OPEN: {LIVE, DISCARDED}, LIVE: set(), DISCARDED: set()}

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="regrades")
    exercise = models.ForeignKey(
        Exercise, on_delete=models.PROTECT, related_name="trials", help_text="The version the trial grades on."
    )
    from_exercise = models.ForeignKey(
        Exercise, on_delete=models.PROTECT, related_name="+", help_text="The assessment's version when it started."
    )
    state = models.CharField(max_length=20, choices=STATES, default=OPEN)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    reruns = models.PositiveSmallIntegerField(default=0)
    driven_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a worker last looked for the trial's next run (the sweeper revives it if stale).",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=["open", "live", "discarded"]), name="regrade_state_valid"),
            # Two open trials would each claim to be the cohort's next version.
            models.UniqueConstraint(fields=["assessment"], condition=Q(state="open"), name="regrade_one_open"),
            models.CheckConstraint(
                condition=Q(state="open", decided_at__isnull=True) | Q(~Q(state="open"), decided_at__isnull=False),
                name="regrade_decided_when_closed",
            ),
        ]

    def __str__(self):
        return f"Trial {self.pk} of {self.assessment_id} on {self.exercise.version} ({self.state})"


class GradingRun(models.Model):
    """One execution of the hidden probes on one submission."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED_INFRA = "failed_infra"
    SUPERSEDED = "superseded"
    STATES = [
        (QUEUED, "Queued"),
        (RUNNING, "Running"),
        (DONE, "Done"),
        (FAILED_INFRA, "Failed (infrastructure)"),
        (SUPERSEDED, "Superseded"),
    ]
    TRANSITIONS = {
        QUEUED: {RUNNING, FAILED_INFRA, SUPERSEDED},
        # RUNNING -> QUEUED is the sweeper taking back a run whose worker went silent.
        RUNNING: {DONE, QUEUED, FAILED_INFRA, SUPERSEDED},
        DONE: set(),
        FAILED_INFRA: {QUEUED, SUPERSEDED},
        SUPERSEDED: set(),
    }
    UNFINISHED = (QUEUED, RUNNING, FAILED_INFRA)
    MAX_ATTEMPTS = 3

    submission = models.ForeignKey("candidates.Submission", on_delete=models.CASCADE, related_name="grading_runs")
    state = models.CharField(max_length=20, choices=STATES, default=QUEUED)
    attempt = models.PositiveSmallIntegerField(default=0)
    lease_token = models.UUIDField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    isolation = models.JSONField(
        default=dict, blank=True, help_text="What the sandbox actually applied (namespaces, limits, or unsandboxed)."
    )
    exercise = models.ForeignKey(
        Exercise, on_delete=models.PROTECT, related_name="grading_runs", help_text="The exact version graded with."
    )
    trial = models.ForeignKey(
        Regrade,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="runs",
        help_text="The trial regrade that made this run (kept once the trial is live); empty for an upload's run.",
    )
    live = models.BooleanField(
        default=True,
        help_text="Counts for the submission's results: false for an open trial's runs and for runs a trial replaced.",
    )
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    infra_error = models.TextField(blank=True, help_text="Shown to staff only.")

    class Meta:
        ordering = ["-queued_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["queued", "running", "done", "failed_infra", "superseded"]),
                name="gradingrun_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(progress_done__lte=models.F("progress_total")), name="gradingrun_progress_bounded"
            ),
            # A submission is graded by one live run at a time; a second would race the first.
            models.UniqueConstraint(
                fields=["submission"],
                condition=Q(state__in=["queued", "running"], trial__isnull=True),
                name="gradingrun_one_active_per_submission",
            ),
            # A trial grades each upload once.
            models.UniqueConstraint(
                fields=["trial", "submission"], condition=Q(trial__isnull=False), name="gradingrun_one_per_trial"
            ),
        ]
        indexes = [
            models.Index(fields=["state", "heartbeat_at"], name="gradingrun_state_heartbeat"),
            models.Index(fields=["submission", "live", "state"], name="gradingrun_live_state"),
        ]

    def __str__(self):
        return f"Run {self.pk} of {self.submission_id} ({self.state})"

    @property
    def is_unsandboxed(self) -> bool:
        return bool(self.isolation.get("unsandboxed"))

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 0
        return round(100 * self.progress_done / self.progress_total)


class ProbeResult(models.Model):
    PASS = "pass"  # noqa: S105 - an outcome, not a password
    FAIL = "fail"
    ERROR = "error"
    OUTCOMES = [(PASS, "Pass"), (FAIL, "Fail"), (ERROR, "Infrastructure error")]

    run = models.ForeignKey(GradingRun, on_delete=models.CASCADE, related_name="results")
    probe_id = models.CharField(max_length=100)
    failure_mode = models.CharField(max_length=20)  # a slug the exercise version declares
    outcome = models.CharField(max_length=10, choices=OUTCOMES)
    score = models.FloatField(
        null=True,
        blank=True,
        help_text="A graded probe's fraction of a point, 0 to 1 (counted whatever the outcome); empty: pass/fail.",
    )
    reason = models.CharField(max_length=500)
    evidence = models.JSONField(default=dict, blank=True)
    duration_s = models.FloatField(default=0)

    class Meta:
        ordering = ["failure_mode", "probe_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "probe_id"], name="proberesult_unique_per_run"),
            models.CheckConstraint(
                condition=Q(outcome__in=["pass", "fail", "error"]), name="proberesult_outcome_valid"
            ),
            models.CheckConstraint(condition=Q(duration_s__gte=0), name="proberesult_duration_nonnegative"),
            # A score is a judged result's: an error is the infrastructure's and is never scored.
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(outcome__in=["pass", "fail"], score__gte=0, score__lte=1),
                name="proberesult_score_fraction_of_judged",
            ),
        ]

    def __str__(self):
        return f"{self.probe_id}: {self.outcome}" + ("" if self.score is None else f" ({self.score:.0%})")


def outcome_points(outcome: str, score: float | None) -> float:
    """What one result counts towards a probe score: a graded probe its score, a pass 1, a fail 0.

    An error is never judged (0 here, and left out of ``judged``).
    """
    if outcome not in (ProbeResult.PASS, ProbeResult.FAIL):
        return 0.0
    if score is not None:
        return score
    return 1.0 if outcome == ProbeResult.PASS else 0.0


@dataclass
class OutcomeCounts:
    """Probe outcomes added up. Errors are the infrastructure's, never judged: the rate leaves them out.

    ``points`` is what the judged results earned (a pass 1, a fail 0, a graded probe its score),
    so ``rate``, the probe score, averages graded probes' scores with pass/fail outcomes.
    ``passed`` and ``failed`` count outcomes as they are, a graded probe by its pass mark.
    """

    passed: int = 0
    failed: int = 0
    errors: int = 0
    points: float = 0.0
    scored: int = 0  # judged results that were graded (carried a score)

    def add(self, outcome: str, score: float | None = None) -> None:
        if outcome == ProbeResult.PASS:
            self.passed += 1
        elif outcome == ProbeResult.FAIL:
            self.failed += 1
        else:
            self.errors += 1
            return
        self.points += outcome_points(outcome, score)
        self.scored += score is not None

    @property
    def judged(self) -> int:
        return self.passed + self.failed

    @property
    def rate(self) -> float | None:
        return self.points / self.judged if self.judged else None

    @property
    def points_text(self) -> str:
        """The points in as few digits as they need (2, 1.5, 0.812), for "1.5 of 2" beside a rate."""
        return f"{round(self.points, 3):g}"


class WorkerHeartbeat(models.Model):
    """Written by a Celery task, so staff pages can say whether grading workers are alive."""

    hostname = models.CharField(max_length=255, unique=True)
    seen_at = models.DateTimeField()
    pid = models.PositiveIntegerField(default=0)
    # A worker that consumes the grading queues proves it can grade first (assessments.grading.selfcheck):
    # None for one that does not grade (or has not checked yet), False with the reason when it cannot.
    grading_ready = models.BooleanField(null=True, default=None)
    grading_problem = models.TextField(blank=True, default="")
    checked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.hostname} @ {self.seen_at:%H:%M:%S}"
