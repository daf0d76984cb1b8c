"""Each assessment states its AI policy; the upload asks what the candidate used, as the policy says (#21)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from assessments.models import AI_POLICY_WORDS, Assessment
from candidates.models import Submission

pytestmark = pytest.mark.django_db


def _policy(assessment, policy: str) -> None:
    Assessment.objects.filter(pk=assessment.pk).update(ai_policy=policy)


def _upload(client, invitation, data: bytes, **fields):
    url = reverse("candidates:upload", args=[invitation.pk])
    return client.post(url, {"archive": SimpleUploadedFile("s.zip", data, content_type="application/zip"), **fields})


@pytest.mark.parametrize("policy", [Assessment.AI_ALLOWED, Assessment.AI_DISCLOSE, Assessment.AI_NOT_ALLOWED])
def test_the_policy_is_stated_on_the_welcome_page_and_the_brief(portal, invitation, policy):
    _policy(invitation.assessment, policy)
    label = dict(Assessment.AI_POLICIES)[policy].lower()
    for page in ("welcome", "brief"):
        html = portal.get(reverse(f"candidates:{page}", args=[invitation.pk])).content.decode()
        assert f"AI assistants: {label}" in html and AI_POLICY_WORDS[policy] in html, page
    # The brief also says the git history is optional, and what it is for.
    brief = portal.get(reverse("candidates:brief", args=[invitation.pk])).content.decode()
    assert "Your git history (optional)" in brief and "never see the author names" in brief


def test_with_disclosure_the_upload_needs_one(portal, started, valid_zip):
    _policy(started.assessment, Assessment.AI_DISCLOSE)
    form = portal.get(reverse("candidates:upload", args=[started.pk])).content.decode()
    assert 'AI assistants <span class="muted">(required)</span>' in form
    refused = _upload(portal, started, valid_zip, ai_disclosure="  ")
    assert refused.status_code == 400 and "Tell us which AI assistants you used" in refused.content.decode()
    assert not Submission.objects.exists()
    assert (
        _upload(portal, started, valid_zip, ai_disclosure="Claude wrote the retry loop; I wrote tests.").status_code
        == 302
    )
    submission = Submission.objects.get()
    assert submission.ai_policy == "disclose" and submission.ai_disclosure.startswith("Claude wrote")


def test_when_allowed_saying_is_optional(portal, started, valid_zip):
    assert _upload(portal, started, valid_zip).status_code == 302
    submission = Submission.objects.get()
    assert submission.ai_policy == "allowed" and submission.ai_disclosure == "" and not submission.ai_used_none


def test_when_not_allowed_the_candidate_confirms_none_or_says_what(portal, started, valid_zip):
    _policy(started.assessment, Assessment.AI_NOT_ALLOWED)
    refused = _upload(portal, started, valid_zip)
    assert refused.status_code == 400 and "Confirm that you used no AI assistant" in refused.content.decode()
    both = _upload(portal, started, valid_zip, ai_used_none="on", ai_disclosure="Copilot, a bit")
    assert both.status_code == 400 and "not both" in both.content.decode()
    assert _upload(portal, started, valid_zip, ai_used_none="on").status_code == 302
    assert _upload(portal, started, valid_zip, ai_disclosure="Copilot completions, sorry").status_code == 302
    first, second = Submission.objects.order_by("number")
    assert first.ai_used_none and first.ai_disclosure == ""
    assert not second.ai_used_none and second.ai_disclosure == "Copilot completions, sorry"


def test_a_manager_sets_the_policy_on_the_assessment_form(client, manager, assessment):
    client.force_login(manager)
    url = reverse("assessments:edit", args=[assessment.pk])
    form = client.get(url).content.decode()
    assert 'name="ai_policy" value="not_allowed"' in form
    data = {
        "title": assessment.title,
        "closes_at": timezone.localtime(assessment.closes_at).strftime("%Y-%m-%dT%H:%M"),
        "reviewers_per_submission": "2",
        "ai_policy": "not_allowed",
    }
    assert client.post(url, data).status_code == 302
    assessment.refresh_from_db()
    assert assessment.ai_policy == "not_allowed"
    del data["ai_policy"]  # a form posted without it keeps what was set
    assert client.post(url, data).status_code == 302
    assessment.refresh_from_db()
    assert assessment.ai_policy == "not_allowed"
