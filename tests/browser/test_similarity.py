"""Similarity triage (#21): a renamed-and-reordered copy shows on the manager's scorecard with the shared
lines side by side, and on the reviewer's page once submitted, by pseudonym only."""

import pytest

from candidates.similarity import submission_similarity_compute
from rubrics.services import review_assign, review_score_save, review_submit
from tests.browser.conftest import login
from tests.builders import review_verdict
from tests.reports.similarity_solutions import honest_solution, renamed_and_reordered, submit, with_helpdesk_kit

pytestmark = pytest.mark.browser


def test_a_copy_is_worth_a_look_on_the_scorecard_and_after_submitting_a_review(
    page, screenshot, custom_assessment, custom_exercise, manager, reviewer
):
    with_helpdesk_kit(custom_exercise)
    original = submit(custom_assessment, "Ada Original", honest_solution(7))
    copy = submit(custom_assessment, "Bo Copier", renamed_and_reordered(honest_solution(7), seed=9))
    for submission in (original, copy):
        submission_similarity_compute(submission_id=submission.pk)
    review = review_assign(submission=copy, reviewer=reviewer, actor=manager)
    for criterion in custom_assessment.rubric.criteria.all():
        review_score_save(review=review, criterion=criterion, level=2, note="fine")
    review_verdict(review)
    review_submit(review=review)

    login(page, manager.username)
    page.goto(f"/reports/assessments/{custom_assessment.pk}/candidates/{copy.invitation_id}/")
    section = page.locator('[data-section="similarity"]')
    assert "Worth a look: similar code" in section.inner_text()
    assert "Ada Original" in section.inner_text()
    assert section.locator(".similarity-pair").count() >= 1
    section.scroll_into_view_if_needed()
    screenshot(page, "similarity-scorecard")
    screenshot(page, "similarity-scorecard", phone=True)

    page.context.clear_cookies()
    login(page, reviewer.username)
    page.goto(f"/reviews/{review.pk}/")
    section = page.locator('[data-section="similarity"]')
    text = section.inner_text()
    assert f"Candidate {original.invitation.pseudonym}" in text and "Ada Original" not in text
    screenshot(page, "similarity-review")
