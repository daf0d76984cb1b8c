import csv
import io
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

MAX_CSV_BYTES = 1024 * 1024
MAX_CSV_ROWS = 500
MAX_NOTES_CHARS = 20_000


class InviteForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True)
    email = forms.EmailField(max_length=254)


class CsvInviteForm(forms.Form):
    """Many candidates at once: a CSV file or pasted lines, each `name,email` (a header row is fine)."""

    csv_file = forms.FileField(required=False, label="CSV file")
    csv_text = forms.CharField(required=False, label="Or paste lines", widget=forms.Textarea(attrs={"rows": 4}))

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what Form.clean returns; the stubs allow an override's None
        upload, text = cleaned.get("csv_file"), (cleaned.get("csv_text") or "").strip()
        if upload:
            if upload.size > MAX_CSV_BYTES:
                raise ValidationError("The CSV file is larger than 1 MB; split it into smaller files.")
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ValidationError("The CSV file is not UTF-8 text; export it as “CSV UTF-8”.") from None
        if not text.strip():
            raise ValidationError("Choose a CSV file or paste lines of “name, email”.")
        rows, problems = parse_candidate_csv(text)
        if len(rows) + len(problems) > MAX_CSV_ROWS:
            raise ValidationError(f"At most {MAX_CSV_ROWS} candidates at a time.")
        if not rows and not problems:
            raise ValidationError("The CSV has no candidates in it.")
        cleaned["rows"], cleaned["problems"] = rows, problems
        return cleaned


def parse_candidate_csv(text: str) -> tuple[list[tuple[int, str, str]], list[str]]:
    """(line, name, email) per good line, plus one message per bad line. Duplicates count once."""
    rows, problems, seen = [], [], set()
    for line, record in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in record]
        if not any(cells):
            continue
        if line == 1 and [c.lower() for c in cells[:2]] == ["name", "email"]:
            continue
        if len(cells) < 2 or any(cells[2:]):
            problems.append(f"Line {line}: expected two columns, name and email.")
            continue
        name, email = cells[0], cells[1]
        if not name:
            problems.append(f"Line {line}: the name is empty.")
            continue
        try:
            validate_email(email)
        except ValidationError:
            problems.append(f"Line {line}: “{email[:80]}” is not an email address.")
            continue
        if email.lower() in seen:
            problems.append(f"Line {line}: {email} appears earlier in the list.")
            continue
        seen.add(email.lower())
        rows.append((line, name[:200], email))
    return rows, problems


class UploadForm(forms.Form):
    archive = forms.FileField(
        label="Your solution (.zip)",
        error_messages={"required": "Choose the .zip archive to upload.", "empty": "The file is empty."},
    )
    notes = forms.CharField(
        label="Notes for the reviewers (optional)",
        required=False,
        max_length=MAX_NOTES_CHARS,
        widget=forms.Textarea(attrs={"rows": 6}),
    )

    ai_disclosure = forms.CharField(
        label="AI assistants you used",
        required=False,
        max_length=MAX_NOTES_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    ai_used_none = forms.BooleanField(label="I used no AI assistant for this take-home", required=False)

    def __init__(self, *args, max_bytes: int, ai_policy: str = "allowed", **kwargs):
        super().__init__(*args, **kwargs)
        self.max_bytes = max_bytes
        self.ai_policy = ai_policy

    def clean(self) -> dict[str, Any]:
        """The disclosure the assessment's AI policy asks for (``Assessment.AI_POLICIES``)."""
        super().clean()
        cleaned = self.cleaned_data
        said = (cleaned.get("ai_disclosure") or "").strip()
        none = bool(cleaned.get("ai_used_none"))
        if self.ai_policy == "disclose" and not said:
            self.add_error("ai_disclosure", "Tell us which AI assistants you used and for what (or write “none”).")
        elif self.ai_policy == "not_allowed":
            if not said and not none:
                self.add_error("ai_disclosure", "Confirm that you used no AI assistant, or tell us what you used.")
            elif said and none:
                self.add_error(
                    "ai_disclosure", "Either confirm that you used none, or describe what you used; not both."
                )
        else:
            none = False  # only asked under "not allowed"
        cleaned["ai_disclosure"], cleaned["ai_used_none"] = said, none
        return cleaned

    def clean_archive(self):
        upload = self.cleaned_data["archive"]
        if not upload.name.lower().endswith(".zip"):
            raise ValidationError("Upload a .zip archive.")
        if upload.size > self.max_bytes:
            raise ValidationError(
                f"The archive is {upload.size / 1048576:.1f} MB; the limit is {self.max_bytes / 1048576:g} MB."
            )
        return upload
