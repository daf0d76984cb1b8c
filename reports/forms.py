from django import forms

from assessments.models import Assessment, Exercise
from candidates.models import Decision


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
