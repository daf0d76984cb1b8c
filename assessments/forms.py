"""The manager's form for an opening: made and changed in the app, never in the admin."""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from assessments.models import Assessment, Exercise
from core.roles import REVIEWERS
from rubrics.models import Rubric


class _ExerciseChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        newest = " (newest)" if obj.is_current else ""
        return f"{obj.title} — version {obj.version}{newest}"


class _ReviewerChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj) -> str:
        full = obj.get_full_name()
        return f"{full} ({obj.get_username()})" if full else obj.get_username()


class AssessmentForm(forms.Form):
    title = forms.CharField(
        max_length=200,
        error_messages={"required": "An assessment needs a title."},
        help_text="What candidates and reviewers see, e.g. “Applied AI engineer, 2027”.",
    )
    exercise = _ExerciseChoice(
        queryset=Exercise.objects.none(),
        label="Take-home and version",
        empty_label=None,
        help_text="Fixed once made: a newer version is tried with a trial regrade (Reports → Versions).",
    )
    time_limit_minutes = forms.IntegerField(
        min_value=15,
        max_value=7 * 24 * 60,
        required=False,
        label="Time limit (minutes)",
        help_text="From the moment a candidate starts. Empty: the take-home's own limit.",
    )
    closes_at = forms.DateTimeField(
        label="Closes",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        help_text=f"No upload is accepted after this moment ({settings.TIME_ZONE}).",
    )
    reviewers_per_submission = forms.IntegerField(
        min_value=1, max_value=5, initial=2, label="Reviewers per upload", help_text="Each scores blind; 1 to 5."
    )
    reviewers = _ReviewerChoice(
        queryset=get_user_model().objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Who reviews this opening's uploads. None ticked: every active reviewer.",
    )
    retention_months = forms.IntegerField(
        min_value=1,
        max_value=120,
        required=False,
        label="Keep candidates' data for (months)",
        help_text=f"After the decision or the end, then erased. Empty: the default, {settings.DATA_RETENTION_MONTHS}.",
    )

    ai_policy = forms.ChoiceField(
        choices=Assessment.AI_POLICIES,
        initial=Assessment.AI_ALLOWED,
        required=False,  # a form posted without it keeps the policy it had (scripts, older pages)
        label="AI assistants",
        widget=forms.RadioSelect,
        help_text="Stated to candidates on the welcome page and the brief; the upload form asks what they used "
        "(required with disclosure; under “not allowed” they confirm they used none).",
    )

    def __init__(self, *args, instance: Assessment | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance = instance
        exercise = self.fields["exercise"]
        assert isinstance(exercise, _ExerciseChoice)  # for the type checker: it is declared above
        exercise.queryset = Exercise.objects.order_by("title", "-is_current", "-synced_at")
        reviewers = self.fields["reviewers"]
        assert isinstance(reviewers, _ReviewerChoice)
        reviewers.queryset = (
            get_user_model().objects.filter(groups__name=REVIEWERS, is_active=True).order_by("first_name", "username")
        )
        if instance is not None:
            # The version is pinned: shown, not offered.
            exercise.queryset = Exercise.objects.filter(pk=instance.exercise_id)
            exercise.disabled = True
            self.initial.update(
                {
                    "title": instance.title,
                    "exercise": instance.exercise_id,
                    "time_limit_minutes": instance.time_limit_minutes,
                    "closes_at": timezone.localtime(instance.closes_at),
                    "reviewers_per_submission": instance.reviewers_per_submission,
                    "reviewers": list(instance.reviewers.values_list("pk", flat=True)),
                    "retention_months": instance.retention_months,
                    "ai_policy": instance.ai_policy,
                }
            )
        else:
            newest = Exercise.objects.filter(is_current=True).order_by("title").first()
            self.initial.setdefault("exercise", newest.pk if newest else None)
            default_close = timezone.localtime() + timedelta(days=30)
            self.initial.setdefault("closes_at", default_close.replace(minute=0, second=0, microsecond=0))

    def clean_title(self):
        title = self.cleaned_data["title"].strip()
        if not title:
            raise forms.ValidationError("An assessment needs a title.")
        return title

    def clean_ai_policy(self) -> str:
        return self.cleaned_data["ai_policy"] or (self.instance.ai_policy if self.instance else Assessment.AI_ALLOWED)

    def clean_closes_at(self):
        closes_at = self.cleaned_data["closes_at"]
        changed = self.instance is None or closes_at != self.instance.closes_at
        if changed and closes_at <= timezone.now():
            raise forms.ValidationError(
                "The closing time must be in the future; archive the assessment to close it now."
            )
        return closes_at

    def clean(self):
        cleaned = super().clean() or {}
        exercise = cleaned.get("exercise")
        if exercise is not None and self.instance is None:
            rubric = Rubric.objects.filter(slug=exercise.rubric_slug).first()
            if rubric is None:
                self.add_error(
                    "exercise",
                    f"Its rubric “{exercise.rubric_slug}” is not loaded; an administrator runs sync_exercises.",
                )
            cleaned["rubric"] = rubric
        return cleaned
