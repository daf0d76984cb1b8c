from django import forms

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
