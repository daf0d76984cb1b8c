"""The review page and the scorecard say how the work was done: the AI-use disclosure and the git
history's timeline, blind (#21)."""

from datetime import timedelta

import pytest
from django.urls import reverse

from candidates.models import Invitation, Submission
from candidates.services import (
    candidate_erase,
    candidate_get_or_create,
    invitation_create,
    invitation_start,
    submission_git_history_read,
)
from rubrics.services import review_assign
from tests.builders import DEFAULT_FILES, git_bundle, git_folder_members, git_history, graded_submission, make_zip

pytestmark = pytest.mark.django_db


def _invitation(assessment) -> Invitation:
    candidate = candidate_get_or_create(name="Dana Candidate", email="dana@example.com")
    invitation, _ = invitation_create(assessment=assessment, candidate=candidate, invited_by=assessment.owner)
    invitation_start(invitation=invitation)
    invitation.refresh_from_db()
    return invitation


def _history(tmp_path, invitation, *, marker=None) -> dict[str, bytes]:
    start = int(invitation.started_at.timestamp())
    repo = git_history(
        tmp_path / "work",
        [
            (start + 12 * 60, "Start from the kit", {"echo/__init__.py": "def answer(q):\n    return q\n"}),
            (start + 47 * 60, "Retry only on 429 and 529", {"echo/__init__.py": "def answer(q):\n    return 1\n"}),
        ],
    )
    return git_folder_members(repo, marker=marker)


def test_an_upload_with_history_shows_its_timeline_on_the_review_page(client, reviewer, assessment, tmp_path):
    invitation = _invitation(assessment)
    marker = tmp_path / "MARKER"
    archive = make_zip({**DEFAULT_FILES, **_history(tmp_path, invitation, marker=marker)})
    submission = graded_submission(invitation=invitation, archive=archive)
    assert submission.git_history == {}  # read after the commit, by a task
    review = review_assign(submission=submission, reviewer=reviewer)
    client.force_login(reviewer)
    url = reverse("rubrics:review", args=[review.pk])
    assert "The git history is being read" in client.get(url).content.decode()

    submission_git_history_read(submission_id=submission.pk)
    submission_git_history_read(submission_id=submission.pk)  # a second delivery keeps what was read

    response = client.get(url)
    html = response.content.decode()
    assert 'data-git-state="read"' in html and 'data-figure="commits">2' in html
    assert 'data-figure="to-first-commit">12 min after the start<' in html
    assert "Start from the kit" in html and "Retry only on 429 and 529" in html
    assert '<span class="lines-added">+1</span> <span class="lines-deleted">−1</span>' in html
    assert "47 min after the start" in html
    # Blind: neither the invitation's name nor the commits' author reaches the reviewer.
    assert b"Dana" not in response.content and b"Jane" not in response.content
    assert b"example.com" not in response.content
    # The code pane lists the .git folder as ignored, never its files.
    code = client.get(url, {"part": "code"}, headers={"HX-Request": "true"}).content.decode()
    assert "read for the commit timeline, never run" in code and ".git/config" not in code
    assert not marker.exists()


def test_a_bundle_timeline_and_the_time_to_upload(assessment, tmp_path):
    invitation = _invitation(assessment)
    repo = git_history(tmp_path / "w", [(int(invitation.started_at.timestamp()) - 600, "Before the start", {})])
    submission = graded_submission(
        invitation=invitation, archive=make_zip({**DEFAULT_FILES, "history.bundle": git_bundle(repo)})
    )
    Submission.objects.filter(pk=submission.pk).update(created_at=invitation.started_at + timedelta(minutes=95))
    submission_git_history_read(submission_id=submission.pk)
    submission.refresh_from_db()
    timeline = submission.git_timeline
    assert timeline.state == "read" and timeline.source == "history.bundle"
    assert timeline.to_first_commit == "10 min before the start"
    assert timeline.to_upload == "1 h 35 min after the start"
    assert timeline.outside_window == 1


def test_an_upload_without_history_says_so_at_once(client, reviewer, assessment):
    review = review_assign(submission=graded_submission(assessment), reviewer=reviewer)
    client.force_login(reviewer)
    html = client.get(reverse("rubrics:review", args=[review.pk])).content.decode()
    assert 'data-git-state="none"' in html and "No git history was uploaded" in html


def test_the_disclosure_reaches_the_review_page_and_the_scorecard(client, reviewer, manager, assessment):
    assessment.ai_policy = "disclose"
    assessment.save()
    invitation = _invitation(assessment)
    submission = graded_submission(invitation=invitation)
    Submission.objects.filter(pk=submission.pk).update(
        ai_policy="disclose", ai_disclosure="Claude drafted the retry loop;\nI wrote the tests <b>myself</b>."
    )
    review = review_assign(submission=submission, reviewer=reviewer)
    client.force_login(reviewer)
    html = client.get(reverse("rubrics:review", args=[review.pk])).content.decode()
    assert "allowed with disclosure" in html
    assert "Claude drafted the retry loop;<br>I wrote the tests &lt;b&gt;myself&lt;/b&gt;." in html
    client.force_login(manager)
    card = client.get(reverse("reports:scorecard", args=[assessment.pk, invitation.pk])).content.decode()
    assert 'id="ai-use"' in card and "Claude drafted the retry loop" in card


def test_a_confirmation_of_no_ai_use_is_shown_as_such(client, reviewer, assessment):
    submission = graded_submission(assessment)
    Submission.objects.filter(pk=submission.pk).update(ai_policy="not_allowed", ai_used_none=True)
    review = review_assign(submission=submission, reviewer=reviewer)
    client.force_login(reviewer)
    html = client.get(reverse("rubrics:review", args=[review.pk])).content.decode()
    assert 'data-disclosure="none"' in html and "used <strong>no AI assistant</strong>" in html


def test_erasure_removes_the_disclosure_and_the_timeline(assessment, manager, tmp_path):
    invitation = _invitation(assessment)
    archive = make_zip({**DEFAULT_FILES, **_history(tmp_path, invitation)})
    submission = graded_submission(invitation=invitation, archive=archive)
    Submission.objects.filter(pk=submission.pk).update(ai_disclosure="Copilot, for the tests")
    submission_git_history_read(submission_id=submission.pk)

    candidate_erase(candidate=invitation.candidate, actor=manager)

    submission.refresh_from_db()
    assert submission.ai_disclosure == "" and submission.git_timeline.state == "none"
