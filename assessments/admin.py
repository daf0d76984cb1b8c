from django.contrib import admin

from assessments.models import Assessment, Exercise, GradingRun, ProbeResult, Regrade, WorkerHeartbeat
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
    list_display = ["title", "exercise", "owner", "closes_at", "reviewers_per_submission", "archived_at"]
    list_select_related = ["exercise", "owner"]
    search_fields = ["title"]
    # Managers make, edit and archive assessments on their own pages; here a superuser can hand one
    # to another manager (owner). The version changes only through a trial regrade made live, and
    # the fields workflows own (archive, hiring bar, timestamps) only through them.
    readonly_fields = ["exercise", "rubric", "hiring_bar", "created_at", "archived_at"]
    filter_horizontal = ["reviewers"]

    def has_add_permission(self, request):
        return False  # Assessments → New assessment, in the app


@admin.register(Regrade)
class RegradeAdmin(admin.ModelAdmin):
    list_display = ["pk", "assessment", "exercise", "state", "started_by", "started_at", "decided_at"]
    list_filter = ["state"]
    list_select_related = ["assessment", "exercise", "started_by"]
    readonly_fields = [f.name for f in Regrade._meta.fields]

    def has_add_permission(self, request):
        return False  # started, made live and discarded from the reports, where the preview is


_PROBE_RESULT_FIELDS = ("probe_id", "mode", "outcome", "score", "reason", "duration_s")


class ProbeResultInline(admin.TabularInline):
    model = ProbeResult
    extra = 0
    fields = _PROBE_RESULT_FIELDS
    readonly_fields = _PROBE_RESULT_FIELDS
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("run__exercise")

    @admin.display(description="Failure mode")
    def mode(self, obj: ProbeResult) -> str:
        return f"{run_failure_modes(obj.run).title(obj.failure_mode)} ({obj.failure_mode})"


@admin.register(GradingRun)
class GradingRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "submission", "exercise", "state", "live", "trial", "attempt", "queued_at"]
    list_filter = ["state", "live"]
    list_select_related = ["submission__invitation", "exercise"]  # a submission is named by its pseudonym
    readonly_fields = [f.name for f in GradingRun._meta.fields]
    inlines = [ProbeResultInline]

    def has_add_permission(self, request):
        return False  # a run is made by an upload, a regrade or "Grade again"


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["hostname", "seen_at", "pid"]
