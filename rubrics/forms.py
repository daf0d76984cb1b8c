from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.db.models import QuerySet

from rubrics.models import LEVELS, Review

LEVEL_CHOICES = [(n, str(n)) for n in LEVELS]


class ScoreForm(forms.Form):
    """One criterion of a draft: both fields may be empty while the reviewer is still thinking."""

    level = forms.TypedChoiceField(choices=LEVEL_CHOICES, coerce=int, required=False, empty_value=None)
    note = forms.CharField(required=False, max_length=5000)


class VerdictForm(forms.Form):
    """The review's overall recommendation and takeaways; a draft may leave both empty."""

    recommendation = forms.ChoiceField(choices=[("", "Not chosen"), *Review.RECOMMENDATIONS], required=False)
    takeaways = forms.CharField(required=False, max_length=2000)


class ResolveForm(forms.Form):
    level = forms.TypedChoiceField(choices=LEVEL_CHOICES, coerce=int, label="Final level")
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000, label="Calibration note")


class ReviewerChoiceForm(forms.Form):
    def __init__(self, *args: Any, reviewers: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Built here, where its choices are known, so the field is typed by them.
        self.fields["reviewer"] = forms.ModelChoiceField(queryset=reviewers, label="Reviewer")


class GoldForm(forms.Form):
    label = forms.CharField(max_length=80, required=False, help_text="e.g. reference, known weak")

    def __init__(self, *args, criteria, initial_levels, **kwargs):
        super().__init__(*args, **kwargs)
        self.criteria = list(criteria)
        for criterion in self.criteria:
            self.fields[f"c{criterion.pk}"] = forms.TypedChoiceField(
                choices=[("", "Not a calibration criterion"), *LEVEL_CHOICES],
                coerce=int,
                required=False,
                empty_value=None,
                label=criterion.title,
                initial=initial_levels.get(criterion.pk),
                widget=forms.RadioSelect,
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.criteria and all(data.get(f"c{c.pk}") is None for c in self.criteria):
            # Saving nothing would say "saved" and mark nothing: refuse, and say what is missing.
            raise forms.ValidationError(
                "Nothing to save: choose the expected level of at least one criterion.", code="empty"
            )
        return data

    def levels(self) -> dict[int, int | None]:
        return {c.pk: self.cleaned_data.get(f"c{c.pk}") for c in self.criteria}

    def pickers(self) -> list[dict[str, Any]]:
        """Per criterion: its field and the levels with their anchors, as the reviewer's page shows them."""
        pickers = []
        for criterion in self.criteria:
            field = self[f"c{criterion.pk}"]
            value = "" if field.value() is None else str(field.value())
            levels = [
                {"level": n, "anchor": criterion.anchor(n), "checked": value == str(n), "id": f"{field.auto_id}_{n}"}
                for n in LEVELS
            ]
            pickers.append({"criterion": criterion, "field": field, "levels": levels, "none_checked": value == ""})
        return pickers
