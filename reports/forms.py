from collections.abc import Sequence

from django import forms
from django.template.defaultfilters import pluralize

from assessments.models import Assessment, Exercise
from candidates.models import Decision
from reports.services import EndpointError, webhook_url_check
from rubrics.models import Disagreement


class DecisionForm(forms.Form):
    """The outcome and its reason; over open disagreements, only with "Decide anyway" ticked.

    ``open_disagreements`` are those on the latest upload as the POST arrives, not as the page was
    drawn: one flagged in between stops the decision too, and the page then lists it.
    """

    outcome = forms.ChoiceField(choices=Decision.OUTCOMES, widget=forms.RadioSelect)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        help_text="Required. Kept in the audit trail.",
    )
    decide_anyway = forms.BooleanField(required=False, label="Decide anyway, with these disagreements open")

    def __init__(self, *args, open_disagreements: Sequence[Disagreement] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.open_disagreements = list(open_disagreements)

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A decision needs a reason.")
        return reason

    def clean(self):
        cleaned = super().clean() or {}
        n = len(self.open_disagreements)
        if n and not cleaned.get("decide_anyway"):
            raise forms.ValidationError(
                f"{n} disagreement{pluralize(n)} on this upload {pluralize(n, 'is,are')} still open: resolve "
                f"{pluralize(n, 'it,them')} first, or tick “Decide anyway” to record the decision over "
                f"{pluralize(n, 'it,them')}.",
                code="open_disagreements",
            )
        return cleaned


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


class KnownSolutionForm(forms.Form):
    """A public solution's zip and where it comes from; the size is checked before a byte is read."""

    label = forms.CharField(max_length=200, help_text="Where it comes from: a repository, a blog post.")
    archive = forms.FileField(label="Zip of the solution")

    def __init__(self, *args, max_bytes: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_bytes = max_bytes
        self.fields[
            "archive"
        ].help_text = f"A .zip of at most {max_bytes // 1_000_000} MB; only its Python files are read."

    def clean_label(self):
        label = self.cleaned_data["label"].strip()
        if not label:
            raise forms.ValidationError("Say where the solution comes from.")
        return label

    def clean_archive(self):
        archive = self.cleaned_data["archive"]
        if archive.size > self.max_bytes:
            raise forms.ValidationError(f"The zip is over the limit of {self.max_bytes // 1_000_000} MB.")
        return archive
