from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

LEVELS = (0, 1, 2, 3)


class Rubric(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["title"]

    def __str__(self):
        return self.title


class Criterion(models.Model):
    rubric = models.ForeignKey(Rubric, on_delete=models.CASCADE, related_name="criteria")
    slug = models.SlugField(max_length=80)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    weight = models.PositiveSmallIntegerField(default=1)
    failure_modes = models.JSONField(
        default=list, blank=True, help_text="Probe failure modes whose results are evidence for this criterion."
    )
    anchors = models.JSONField(help_text="One behavioural anchor per level, levels 0 to 3.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["rubric", "position"]
        verbose_name_plural = "criteria"
        constraints = [
            models.UniqueConstraint(fields=["rubric", "slug"], name="criterion_unique_slug"),
            models.CheckConstraint(condition=Q(weight__gte=1), name="criterion_weight_positive"),
        ]

    def __str__(self):
        return self.title

    def anchor(self, level: int) -> str:
        return self.anchors[level] if 0 <= level < len(self.anchors) else ""


class Review(models.Model):
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    WITHDRAWN = "withdrawn"
    STATES = [
        (ASSIGNED, "To do"),
        (IN_PROGRESS, "In progress"),
        (SUBMITTED, "Submitted"),
        (WITHDRAWN, "Withdrawn"),
    ]
    REASSIGNED = "reassigned"
    SUPERSEDED = "superseded"
    WITHDRAWN_REASONS = [
        (REASSIGNED, "Reassigned to another reviewer"),
        (SUPERSEDED, "The candidate uploaded a newer version"),
    ]
    STRONG_YES, YES, NO, STRONG_NO = "strong_yes", "yes", "no", "strong_no"
    RECOMMENDATIONS = [(STRONG_YES, "Strong yes"), (YES, "Yes"), (NO, "No"), (STRONG_NO, "Strong no")]
    # For averaging and sorting in the reports: symmetric, with no neutral middle to hide in.
    RECOMMENDATION_VALUES = {STRONG_YES: 2, YES: 1, NO: -1, STRONG_NO: -2}
    TAKEAWAYS_MIN, TAKEAWAYS_MAX, TAKEAWAY_MAX_CHARS = 2, 3, 200
    TRANSITIONS = {
        ASSIGNED: {IN_PROGRESS, WITHDRAWN},
        IN_PROGRESS: {SUBMITTED, WITHDRAWN},
        # Scores lock on submit: nothing leaves SUBMITTED.
        SUBMITTED: set(),
        WITHDRAWN: set(),
    }

    submission = models.ForeignKey("candidates.Submission", on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    state = models.CharField(max_length=20, choices=STATES, default=ASSIGNED)
    assigned_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    withdrawn_reason = models.CharField(max_length=20, choices=WITHDRAWN_REASONS, blank=True)
    recommendation = models.CharField(
        max_length=12, choices=RECOMMENDATIONS, blank=True, help_text="Empty until the reviewer chooses."
    )
    takeaways = models.TextField(blank=True, help_text="Two or three short points, one per line.")

    class Meta:
        ordering = ["assigned_at"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "reviewer"], name="review_one_per_reviewer"),
            models.CheckConstraint(
                condition=Q(state__in=["assigned", "in_progress", "submitted", "withdrawn"]),
                name="review_state_valid",
            ),
            models.CheckConstraint(
                condition=~Q(state="submitted") | Q(submitted_at__isnull=False), name="review_submitted_has_time"
            ),
            models.CheckConstraint(
                condition=Q(recommendation__in=["", "strong_yes", "yes", "no", "strong_no"]),
                name="review_recommendation_valid",
            ),
        ]
        indexes = [models.Index(fields=["reviewer", "state"], name="review_reviewer_state")]

    def __str__(self):
        return f"Review of {self.submission_id} by {self.reviewer}"

    @property
    def is_locked(self) -> bool:
        return self.state in (self.SUBMITTED, self.WITHDRAWN)

    @property
    def takeaway_list(self) -> list[str]:
        return [line.strip() for line in self.takeaways.splitlines() if line.strip()]

    @property
    def is_positive(self) -> bool:
        return self.recommendation in (self.STRONG_YES, self.YES)


class CriterionScore(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="scores")
    criterion = models.ForeignKey(Criterion, on_delete=models.PROTECT, related_name="scores")
    level = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty while the review is a draft.")
    note = models.TextField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "criterion"], name="score_one_per_criterion"),
            models.CheckConstraint(
                condition=Q(level__isnull=True) | Q(level__gte=0, level__lte=3), name="score_level_0_to_3"
            ),
        ]

    def __str__(self):
        return f"{self.criterion}: {self.level}"


class Disagreement(models.Model):
    """Submitted levels for one criterion of one submission that are two or more levels apart."""

    submission = models.ForeignKey("candidates.Submission", on_delete=models.CASCADE, related_name="disagreements")
    criterion = models.ForeignKey(Criterion, on_delete=models.PROTECT, related_name="disagreements")
    low = models.PositiveSmallIntegerField()
    high = models.PositiveSmallIntegerField()
    flagged_at = models.DateTimeField(default=timezone.now)
    resolved_level = models.PositiveSmallIntegerField(null=True, blank=True)
    calibration_note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["flagged_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "criterion"], name="disagreement_one_per_criterion"),
            models.CheckConstraint(condition=Q(high__gte=models.F("low") + 2), name="disagreement_two_levels_apart"),
            models.CheckConstraint(
                condition=Q(resolved_level__isnull=True) | Q(resolved_level__gte=0, resolved_level__lte=3),
                name="disagreement_level_0_to_3",
            ),
            # A resolution without its reason is no calibration at all.
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | (Q(resolved_level__isnull=False) & ~Q(calibration_note="")),
                name="disagreement_resolution_complete",
            ),
        ]

    # Not columns: rubrics.selectors.disagreements_for_manager sets them for the manager's page.
    submitted_scores: list["CriterionScore"]
    open_reviews: list[Review]
    reviewer_ids: set[int]
    addable: list  # reviewers of its assessment not on the submission yet
    level_options: list[dict]  # per level: its anchor and who chose it

    def __str__(self):
        return f"{self.criterion} on {self.submission_id}: {self.low}–{self.high}"

    @property
    def is_resolved(self) -> bool:
        return self.resolved_at is not None


class GoldStandard(models.Model):
    """A calibration submission's expected level for one criterion, set by a manager."""

    submission = models.ForeignKey("candidates.Submission", on_delete=models.CASCADE, related_name="gold_levels")
    criterion = models.ForeignKey(Criterion, on_delete=models.PROTECT, related_name="gold_levels")
    expected_level = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=80, blank=True, help_text="e.g. 'reference' or 'known weak'.")
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["submission", "criterion__position"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "criterion"], name="gold_one_per_criterion"),
            models.CheckConstraint(condition=Q(expected_level__lte=3), name="gold_level_0_to_3"),
        ]

    def __str__(self):
        return f"Gold {self.criterion}: {self.expected_level}"
