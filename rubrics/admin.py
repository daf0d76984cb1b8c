from django.contrib import admin

from assessments.models import Exercise
from assessments.selectors import exercise_failure_modes
from rubrics.models import Criterion, CriterionScore, Disagreement, GoldStandard, Review, Rubric


class CriterionInline(admin.StackedInline):
    model = Criterion
    extra = 0
    fields = ["position", "slug", "title", "weight", "failure_modes", "covers", "description", "anchors"]
    readonly_fields = ["covers"]

    @admin.display(description="Covers")
    def covers(self, obj: Criterion) -> str:
        """The failure modes of ``failure_modes`` as the rubric's current exercise words them."""
        if obj.pk is None:
            return "—"
        exercise = Exercise.objects.filter(rubric_slug=obj.rubric.slug, is_current=True).first()
        modes = exercise_failure_modes(exercise)
        return ", ".join(modes.title(slug) for slug in obj.failure_modes or []) or "—"


@admin.register(Rubric)
class RubricAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "updated_at"]
    inlines = [CriterionInline]


class CriterionScoreInline(admin.TabularInline):
    model = CriterionScore
    extra = 0
    readonly_fields = ["criterion", "level", "note", "updated_at"]
    can_delete = False


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["submission", "reviewer", "state", "assigned_at", "submitted_at"]
    list_filter = ["state"]
    list_select_related = ["submission__invitation", "reviewer"]  # one query for the list, not one per row
    readonly_fields = ["submission", "reviewer", "state", "assigned_at", "started_at", "submitted_at"]
    inlines = [CriterionScoreInline]

    def has_add_permission(self, request):
        return False  # reviews are assigned by grading, or reassigned on the Reviews page


@admin.register(Disagreement)
class DisagreementAdmin(admin.ModelAdmin):
    list_display = ["submission", "criterion", "low", "high", "resolved_level", "resolved_at"]
    readonly_fields = ["submission", "criterion", "low", "high", "flagged_at", "resolved_by", "resolved_at"]

    def has_add_permission(self, request):
        return False  # flagged when reviews disagree; resolved on the Disagreements page


@admin.register(GoldStandard)
class GoldStandardAdmin(admin.ModelAdmin):
    list_display = ["submission", "criterion", "expected_level", "label", "set_by", "set_at"]
