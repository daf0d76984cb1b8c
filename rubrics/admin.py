from django.contrib import admin

from rubrics.models import Criterion, CriterionScore, Disagreement, GoldStandard, Review, Rubric


class CriterionInline(admin.StackedInline):
    model = Criterion
    extra = 0
    fields = ["position", "slug", "title", "weight", "failure_modes", "description", "anchors"]


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
    readonly_fields = ["state", "started_at", "submitted_at"]
    inlines = [CriterionScoreInline]


@admin.register(Disagreement)
class DisagreementAdmin(admin.ModelAdmin):
    list_display = ["submission", "criterion", "low", "high", "resolved_level", "resolved_at"]
    readonly_fields = ["submission", "criterion", "low", "high", "flagged_at", "resolved_by", "resolved_at"]


@admin.register(GoldStandard)
class GoldStandardAdmin(admin.ModelAdmin):
    list_display = ["submission", "criterion", "expected_level", "label", "set_by", "set_at"]
