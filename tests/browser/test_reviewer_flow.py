import pytest

from rubrics.models import CriterionScore, Review
from rubrics.services import review_assign, review_score_save, review_submit
from tests.browser.conftest import login
from tests.builders import add_results, graded_submission, review_verdict

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_reviewer_scores_blind_and_the_manager_sees_the_disagreement(
    page, screenshot, manager, reviewer, reviewer2, assessment
):
    submission = graded_submission(assessment)
    add_results(submission.grading_runs.get(), [("transient", "pass"), ("transient", "fail"), ("injection", "error")])
    review = review_assign(submission=submission, reviewer=reviewer)
    other = review_assign(submission=submission, reviewer=reviewer2)
    stranger = graded_submission(assessment, name="Sam Candidate", email="sam@example.com")
    not_mine = review_assign(submission=stranger, reviewer=reviewer2)
    criteria = list(assessment.rubric.criteria.all())

    login(page, "bob")
    page.goto("/reviews/")
    page.get_by_role("heading", name="My reviews").wait_for()
    screenshot(page, "reviewer-queue")
    screenshot(page, "reviewer-queue", phone=True)
    page.get_by_role("link", name=f"Candidate {submission.invitation.pseudonym}").click()
    page.get_by_role("heading", name=f"Candidate {submission.invitation.pseudonym}").wait_for()
    source = page.content()
    assert "Dana" not in source and "dana@example.com" not in source

    assert page.get_by_role("heading", name="Probe evidence").is_visible()
    assert page.locator("svg.timeline").count() >= 3
    assert page.get_by_text("Infrastructure error, not counted").first.is_visible()
    # The code and the diff are tabs, loaded when first shown (#20, points 2 and 15).
    page.get_by_role("link", name="Diff", exact=True).click()
    page.locator("#diff .hl").first.wait_for()
    page.get_by_role("link", name="Code", exact=True).click()
    page.locator(".file-tree").get_by_role("link", name="NOTES.md").click()
    page.locator("#code-file").get_by_text("NOTES.md").wait_for()
    screenshot(page, "reviewer-review")
    screenshot(page, "reviewer-review", phone=True)

    for criterion in criteria:
        fieldset = page.locator(f"#criterion-{criterion.pk}")
        fieldset.locator("label.level").nth(3).click()
        page.locator(f"#status-{criterion.pk}.is-saved").wait_for()
        fieldset.locator("textarea").fill(f"Strong on {criterion.title}.")
    # The note saves itself 800 ms after the last keystroke, without leaving the field.
    last = criteria[-1]
    page.wait_for_function(
        "([id, note]) => document.querySelector('#note-' + id).value === note",
        arg=[last.pk, f"Strong on {last.title}."],
    )
    page.wait_for_timeout(1500)
    assert CriterionScore.objects.filter(review=review, level=3).count() == len(criteria)
    assert all(s.note.startswith("Strong on") for s in CriterionScore.objects.filter(review=review))

    page.reload()
    for criterion in criteria:
        fieldset = page.locator(f"#criterion-{criterion.pk}")
        assert fieldset.locator("input[type=radio]").nth(3).is_checked()
        assert fieldset.locator("textarea").input_value() == f"Strong on {criterion.title}."
    assert "Dana" not in page.content()

    # The second reviewer disagrees by three levels.
    for criterion in criteria:
        review_score_save(review=other, criterion=criterion, level=0, note="Makes things up.")
    review_verdict(other, recommendation="strong_no", takeaways="Invents refund policies\nNo retries at all")
    review_submit(review=other)

    # Blind: the other reviewer's recommendation is not on the page before this one is submitted.
    page.reload()
    assert "Invents refund policies" not in page.content() and page.locator(".rec-chip").count() == 0
    verdict = page.locator("#verdict")
    verdict.get_by_label("Strong yes").check()
    page.locator("#verdict-status.is-saved").wait_for()
    page.locator("#takeaways").fill("Grounds every answer\nRetries only what is worth retrying")
    page.wait_for_function(
        "() => document.querySelector('#verdict-status').textContent.trim() === 'Saved'"
        " && document.querySelector('#takeaways').value.includes('worth retrying')"
    )
    for _ in range(50):
        if Review.objects.get(pk=review.pk).takeaways.endswith("worth retrying"):
            break
        page.wait_for_timeout(200)

    page.once("dialog", lambda dialog: dialog.accept())  # "Submit for good?"
    page.get_by_role("button", name="Submit review").click()
    page.get_by_text("Review submitted.").wait_for()
    assert Review.objects.get(pk=review.pk).state == Review.SUBMITTED
    assert page.get_by_text("Flagged: reviewers chose levels 0 to 3").first.is_visible()
    assert page.get_by_text("Makes things up.").first.is_visible()
    assert (
        verdict.locator(".rec-chip.rec-strong_no").is_visible()
        and verdict.get_by_text("Invents refund policies").is_visible()
    )
    screenshot(page, "reviewer-review-submitted")

    response = page.goto(f"/reviews/{not_mine.pk}/")
    assert response.status == 404

    page.context.clear_cookies()
    login(page, "alice")
    page.goto("/reviews/disagreements/")
    page.get_by_role("heading", name="Disagreements").wait_for()
    assert page.get_by_text("levels 0 to 3").first.is_visible()
    screenshot(page, "manager-disagreements")
    page.goto(f"/reviews/manage/{assessment.pk}/agreement/")
    page.get_by_role("heading", name="Reviewer agreement").wait_for()
    screenshot(page, "manager-agreement")
    page.goto(f"/reviews/manage/{assessment.pk}/")
    page.get_by_role("heading", name="Reviews", exact=True).wait_for()
    assert page.get_by_text("Dana Candidate").is_visible()  # managers are not blind
    screenshot(page, "manager-reviews")
