from django.contrib import admin

from candidates.models import Candidate, Decision, Invitation, Submission


@admin.register(Candidate)
class CandidateAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "created_at", "erased_at"]
    search_fields = ["name", "email"]
    readonly_fields = ["created_at", "erased_at"]

    def has_add_permission(self, request):
        return False  # a candidate comes with an invitation, made in the app


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["candidate", "assessment", "state", "pseudonym", "expires_at", "due_at"]
    list_filter = ["state", "assessment"]
    list_select_related = ["candidate", "assessment"]
    search_fields = ["candidate__name", "candidate__email", "pseudonym"]
    # State moves only through services, so the admin cannot skip a transition.
    readonly_fields = [f.name for f in Invitation._meta.fields]

    def has_add_permission(self, request):
        return False  # inviting makes the link and sends the email: the assessment's page, in the app


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ["invitation", "number", "size_bytes", "exercise_version", "created_at"]
    list_select_related = ["invitation__candidate", "invitation__assessment"]
    readonly_fields = [f.name for f in Submission._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    list_display = ["invitation", "outcome", "decided_by", "decided_at"]
    readonly_fields = ["invitation", "outcome", "reason", "decided_by", "decided_at"]

    def has_add_permission(self, request):
        return False
