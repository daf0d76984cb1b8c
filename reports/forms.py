from django import forms

from assessments.models import Assessment, Exercise
from candidates.models import Decision
from reports.services import EndpointError, webhook_url_check


class DecisionForm(forms.Form):
    outcome = forms.ChoiceField(choices=Decision.OUTCOMES, widget=forms.RadioSelect)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        help_text="Required. Kept in the audit trail and sent to the ATS.",
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A decision needs a reason.")
        return reason


class _VersionChoice(forms.ModelChoiceField):
    live_id: int | None = None

    def label_from_instance(self, obj) -> str:
        notes = [" (live now)" if obj.pk == self.live_id else "", " (newest)" if obj.is_current else ""]
        return f"{obj.version}{''.join(notes)}"


class RegradeStartForm(forms.Form):
    """The version to try: any synced version of the assessment's take-home (the same one after a platform fix)."""

    exercise = _VersionChoice(queryset=Exercise.objects.none(), empty_label=None, label="Version")

    def __init__(self, *args, assessment: Assessment, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["exercise"]
        assert isinstance(field, _VersionChoice)  # for the type checker: it is declared above
        field.queryset = Exercise.objects.filter(slug=assessment.exercise.slug).order_by("-synced_at")
        field.live_id = assessment.exercise_id
        newest = field.queryset.filter(is_current=True).first()
        self.initial.setdefault("exercise", newest.pk if newest else assessment.exercise_id)


class HiringBarForm(forms.Form):
    hiring_bar = forms.IntegerField(
        min_value=0,
        max_value=100,
        required=False,
        label="Hiring bar (probe pass rate, %)",
        help_text="Candidates at or above it are worth a closer look; leave empty for none.",
    )


class WebhookEndpointForm(forms.Form):
    """Name, URL and active flag of an endpoint. The secret is never a field: it is made here and shown once."""

    name = forms.CharField(max_length=100, help_text="For you, e.g. “Greenhouse”.")
    url = forms.URLField(
        max_length=500,
        label="URL",
        assume_scheme="https",
        help_text="Where decisions are POSTed. Public http(s) addresses only; redirects are not followed.",
    )
    active = forms.BooleanField(required=False, initial=True, help_text="Inactive endpoints are sent nothing.")

    def clean_url(self):
        url = self.cleaned_data["url"]
        if url == self.initial.get("url"):
            return url  # unchanged: renaming or pausing an endpoint must not hang on its DNS today
        try:
            webhook_url_check(url)
        except EndpointError as exc:
            raise forms.ValidationError(str(exc)) from None
        return url
