"""The debrief guide end to end: a manager asks for it on the scorecard, the session's real Celery
worker drafts it with the fake model (which first answers 529: the worker retries), the page polls
until the verified questions are in, and they are on the printed page and in the scorecard's PDF."""

import subprocess

import pytest

from reports.models import DebriefGuide
from tests.browser.conftest import SCREENSHOTS, login
from tests.builders import graded_submission
from tests.conftest import DEBRIEF_TEST_KEY
from tests.reports.test_debrief import AGENT, NOTES, RESULTS, honest_model

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_manager_drafts_debrief_questions_and_prints_them_with_the_scorecard(
    page, screenshot, celery_worker, debrief_model, settings, assessment, manager
):
    settings.ANTHROPIC_API_KEY = DEBRIEF_TEST_KEY
    debrief_model.reset(script="529*3,ok")  # the SDK's three tries refused: the task tries again
    debrief_model.responder = honest_model
    upload = graded_submission(assessment, files={"echo/__init__.py": AGENT, "NOTES.md": NOTES}, results=RESULTS)
    scorecard = f"/reports/assessments/{assessment.pk}/candidates/{upload.invitation_id}/"

    login(page, manager.username)
    page.goto(scorecard)
    card = page.locator("#debrief")
    card.get_by_role("button", name="Draft debrief questions").click()
    card.get_by_role("status").wait_for()  # queued, drafting or retrying: progress, never a half guide
    question = page.get_by_text("Your loop retries on 400: walk me through that choice?")
    question.wait_for(timeout=60_000)

    guide = DebriefGuide.objects.get(submission=upload)
    assert guide.status == "done" and guide.attempts == 2 and len(guide.questions) == 6
    assert [r["status"] for r in debrief_model.requests] == [529, 529, 529, 200]
    assert page.locator(".debrief-q").count() == 6
    assert page.get_by_role("button", name="Draft again").is_visible()
    screenshot(page, "debrief-scorecard")
    screenshot(page, "debrief-scorecard", phone=True)

    # Printed: the questions stay, the buttons go.
    page.emulate_media(media="print")
    assert page.locator(".debrief-q").first.is_visible()
    assert not page.get_by_role("button", name="Draft again").is_visible()
    screenshot(page, "debrief-scorecard-print")
    page.emulate_media(media="screen")

    with page.expect_download() as info:
        page.get_by_role("link", name="Download PDF").click()
    pdf = SCREENSHOTS / "debrief-scorecard.pdf"
    info.value.save_as(pdf)
    text = " ".join(
        subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout.split()
    )
    assert "Debrief questions" in text and "walk me through that choice?" in text
    assert "echo/__init__.py:18-20" in text and "Draft again" not in text
