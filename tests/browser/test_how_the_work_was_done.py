"""From the candidate's AI policy and upload (with their git history) to the reviewer's timeline (#21)."""

from datetime import timedelta

import pytest
from django.db.models import F
from django.urls import reverse

from assessments.models import Assessment
from candidates.models import Invitation, Submission
from candidates.services import (
    candidate_get_or_create,
    invitation_create,
    invitation_start,
    submission_git_history_read,
)
from rubrics.services import review_assign
from tests.browser.conftest import login
from tests.builders import DEFAULT_FILES, git_folder_members, git_history, make_zip

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def quiet_broker(monkeypatch):
    """The grading and the history reading are done by hand here: their messages go nowhere."""
    from candidates.tasks import read_git_history
    from workflows.tasks import grade_submission

    for task in (grade_submission, read_git_history):
        monkeypatch.setattr(task, "delay", lambda *args, **kwargs: None)


def test_the_candidate_discloses_and_the_reviewer_reads_how_the_work_was_done(
    page, screenshot, assessment, manager, reviewer, tmp_path, quiet_broker
):
    Assessment.objects.filter(pk=assessment.pk).update(ai_policy=Assessment.AI_DISCLOSE)
    candidate = candidate_get_or_create(name="Dana Candidate", email="dana@example.com")
    invitation, token = invitation_create(assessment=assessment, candidate=candidate, invited_by=manager)
    page.goto(f"/t/{token}/")
    page.get_by_role("heading", name="AI assistants: allowed, with disclosure").wait_for()
    screenshot(page, "ai-policy-welcome", phone=True)
    page.goto(reverse("candidates:brief", args=[invitation.pk]))
    page.get_by_role("heading", name="Your git history (optional)").wait_for()
    screenshot(page, "ai-policy-brief")
    invitation_start(invitation=invitation)
    # Started an hour ago, so that the commits below fall between the start and the upload.
    Invitation.objects.filter(pk=invitation.pk).update(started_at=F("started_at") - timedelta(hours=1))
    invitation.refresh_from_db()
    start = int(invitation.started_at.timestamp())
    repo = git_history(
        tmp_path / "work",
        [
            (start + 9 * 60, "Start from the kit", {"echo/__init__.py": "def answer(q):\n    return q\n"}),
            (
                start + 34 * 60,
                "Never raise: answer errors as a status",
                {"echo/__init__.py": DEFAULT_FILES["echo/__init__.py"]},
            ),
            (
                start + 52 * 60,
                "Notes: what I chose not to handle\n\nRate limits beyond 429 are out of scope.",
                {"NOTES.md": "# Notes\n"},
            ),
        ],
    )
    archive = make_zip({**DEFAULT_FILES, **git_folder_members(repo, marker=tmp_path / "MARKER")})

    page.goto(reverse("candidates:upload", args=[invitation.pk]))
    page.set_input_files("#id_archive", files=[{"name": "s.zip", "mimeType": "application/zip", "buffer": archive}])
    page.get_by_label("What you used").fill("Claude for the first draft of the error handling; tests by hand.")
    screenshot(page, "ai-disclosure-upload")
    screenshot(page, "ai-disclosure-upload", phone=True)
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(f"**{reverse('candidates:status', args=[invitation.pk])}")

    submission = Submission.objects.get(invitation=invitation)
    submission_git_history_read(submission_id=submission.pk)
    review = review_assign(submission=submission, reviewer=reviewer)
    login(page, reviewer.username)
    page.goto(reverse("rubrics:review", args=[review.pk]))
    section = page.locator("#work-process")
    section.get_by_text("Claude for the first draft of the error handling").wait_for()
    assert section.locator("tr[data-commit]").count() == 3
    assert section.locator('[data-figure="to-first-commit"]').inner_text() == "9 min after the start"
    assert section.locator("rect.git-strip-tick").count() == 3
    assert "Dana" not in page.content() and not (tmp_path / "MARKER").exists()
    section.scroll_into_view_if_needed()
    screenshot(page, "git-history-review")
    screenshot(page, "git-history-review", phone=True)
