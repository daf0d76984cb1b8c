from django.contrib import admin

from assessments.models import Assessment, Exercise, GradingRun, ProbeResult, WorkerHeartbeat
from assessments.selectors import exercise_failure_modes, run_failure_modes


@admin.register(Exercise)
class ExerciseAdmin(admin.ModelAdmin):
    list_display = ["slug", "version", "title", "mode_titles", "is_current", "synced_at"]
    list_filter = ["is_current"]
    # Packages are loaded by `manage.py sync_exercises`; editing them here would break their checksum.
    readonly_fields = [f.name for f in Exercise._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Failure modes")
    def mode_titles(self, obj: Exercise) -> str:
        return ", ".join(mode.title for mode in exercise_failure_modes(obj))


@admin.register(Assessment)
class AssessmentAdmin(admin.ModelAdmin):
    list_display = ["title", "exercise", "owner", "closes_at", "reviewers_per_submission"]
    list_select_related = ["exercise", "owner"]
    search_fields = ["title"]


_PROBE_RESULT_FIELDS = ("probe_id", "mode", "outcome", "reason", "duration_s")


class ProbeResultInline(admin.TabularInline):
    model = ProbeResult
    extra = 0
    fields = _PROBE_RESULT_FIELDS
    readonly_fields = _PROBE_RESULT_FIELDS
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("run__submission__invitation__assessment__exercise")

    @admin.display(description="Failure mode")
    def mode(self, obj: ProbeResult) -> str:
        return f"{run_failure_modes(obj.run).title(obj.failure_mode)} ({obj.failure_mode})"


@admin.register(GradingRun)
class GradingRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "submission", "state", "attempt", "progress_done", "progress_total", "queued_at"]
    list_filter = ["state"]
    readonly_fields = [f.name for f in GradingRun._meta.fields]
    inlines = [ProbeResultInline]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["hostname", "seen_at", "pid"]
