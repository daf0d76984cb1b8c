from django import forms
from django.contrib import admin

from reports.models import DebriefGuide, ReferenceRun, WebhookDelivery, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    # The secret is write-only: the admin never renders it back into the page.
    secret = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False, max_length=200)

    class Meta:
        model = WebhookEndpoint
        fields = ["owner", "name", "url", "secret", "active"]

    def clean_secret(self):
        secret = self.cleaned_data["secret"]
        if not secret:
            if self.instance.pk:
                return self.instance.secret
            raise forms.ValidationError("A new endpoint needs a secret.")
        return secret


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["name", "owner", "url", "active", "created_at"]
    list_filter = ["active"]
    list_select_related = ["owner"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event_id", "endpoint", "invitation", "status", "attempts", "last_status_code", "created_at"]
    list_filter = ["status", "endpoint"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ReferenceRun)
class ReferenceRunAdmin(admin.ModelAdmin):
    list_display = ["exercise", "graded_at"]
    readonly_fields = ["exercise", "results", "isolation", "graded_at"]


@admin.register(DebriefGuide)
class DebriefGuideAdmin(admin.ModelAdmin):
    """Read-only: where the recorded prompt, model and token use of each draft can be read."""

    list_display = ["submission", "status", "model", "input_tokens", "output_tokens", "requested_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["submission"]
    readonly_fields = [f.name for f in DebriefGuide._meta.fields]

    def has_add_permission(self, request):
        return False
