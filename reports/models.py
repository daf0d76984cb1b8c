import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ReferenceRun(models.Model):
    """The exercise's own reference solution, graded once per exercise version: the comparison's anchor."""

    exercise = models.OneToOneField("assessments.Exercise", on_delete=models.CASCADE, related_name="reference_run")
    results = models.JSONField(default=list, help_text="ProbeResult-shaped dicts: probe_id, failure_mode, outcome…")
    isolation = models.JSONField(default=dict, blank=True)
    graded_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"Reference of {self.exercise}"


class WebhookEndpoint(models.Model):
    """Where one manager's decisions are announced (their ATS). Managed on the manager's own pages.

    Only decisions on assessments its owner owns are sent to it. The secret is shown once, when it
    is made, and never rendered again.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="webhook_endpoints")
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    secret = models.CharField(
        max_length=200,
        help_text="The Standard Webhooks key, whsec_<base64>; an older free-text secret is used as UTF-8 bytes.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self):
        return self.name


STUCK_AFTER = timedelta(minutes=10)


class WebhookDelivery(models.Model):
    """One decision event for one endpoint. The body is stored so every attempt signs the same bytes."""

    DECISION = "decision.recorded"
    TEST = "webhook.test"
    EVENTS = [(DECISION, "Decision recorded"), (TEST, "Test event")]

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    STATES = [(PENDING, "Pending"), (SENDING, "Sending"), (DELIVERED, "Delivered"), (FAILED, "Failed")]

    event_id = models.UUIDField(default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    invitation = models.ForeignKey(
        "candidates.Invitation",
        on_delete=models.CASCADE,
        related_name="webhook_deliveries",
        null=True,
        blank=True,
        help_text="The decision's invitation; none for a test event.",
    )
    event = models.CharField(max_length=40, choices=EVENTS, default=DECISION)
    body = models.TextField(help_text="The exact JSON sent (and signed).")
    status = models.CharField(max_length=20, choices=STATES, default=PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            # One row per (event, endpoint): a retried or duplicated task finds it, never makes a second.
            models.UniqueConstraint(fields=["event_id", "endpoint"], name="webhookdelivery_one_per_event_endpoint"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sending", "delivered", "failed"]),
                name="webhookdelivery_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="delivered") | Q(delivered_at__isnull=False),
                name="webhookdelivery_delivered_has_time",
            ),
            models.CheckConstraint(
                condition=Q(event="webhook.test") | Q(invitation__isnull=False),
                name="webhookdelivery_decision_has_invitation",
            ),
        ]

    def __str__(self):
        return f"{self.event} {self.event_id} → {self.endpoint} ({self.status})"

    @property
    def is_stuck(self) -> bool:
        """Pending well past its due time: its message was probably lost (a broker restart)."""
        due = self.next_retry_at or self.created_at
        return self.status == self.PENDING and due < timezone.now() - STUCK_AFTER

    @property
    def can_retry(self) -> bool:
        return self.status == self.FAILED or self.is_stuck


class DebriefGuide(models.Model):
    """Questions for a live conversation about one graded upload, drafted by a model, kept only once verified.

    ``questions`` holds what survived verification against the stored archive and the run's results
    (``reports.debrief``); ``dropped`` says what did not, and why. The guide is written in one update
    when the draft is done, so a page never shows half of one.
    """

    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    DONE = "done"
    FAILED = "failed"
    STATES = [(QUEUED, "Queued"), (RUNNING, "Drafting"), (RETRYING, "Retrying"), (DONE, "Ready"), (FAILED, "Failed")]
    ACTIVE = (QUEUED, RUNNING, RETRYING)

    submission = models.OneToOneField("candidates.Submission", on_delete=models.CASCADE, related_name="debrief_guide")
    run = models.ForeignKey(
        "assessments.GradingRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The grading run whose probe results the prompt showed.",
    )
    status = models.CharField(max_length=20, choices=STATES, default=QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True, help_text="Why the last attempt failed, in words for staff.")
    questions = models.JSONField(default=list, blank=True)
    dropped = models.JSONField(default=list, blank=True)
    model = models.CharField(max_length=100, blank=True)
    prompt = models.TextField(blank=True, help_text="The system prompt and the user turn, exactly as sent.")
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "retrying", "done", "failed"]),
                name="debriefguide_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(finished_at__isnull=False),
                name="debriefguide_done_has_time",
            ),
        ]

    def __str__(self):
        return f"Debrief guide for {self.submission_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_stuck(self) -> bool:
        """Still active long after it was asked for: its worker died or its message was lost."""
        return self.is_active and self.requested_at < timezone.now() - STUCK_AFTER

    @property
    def can_retry(self) -> bool:
        return self.status in (self.FAILED, self.DONE) or self.is_stuck
