"""The review page's diff and its submit, as a reviewer meets them (#20, points 8 and 11)."""

import pytest

from rubrics.models import CriterionScore, Review
from rubrics.services import review_assign, review_score_save
from tests.browser.conftest import PHONE, SCREENSHOTS, login
from tests.builders import graded_submission, package_files_write

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ECHO = "def answer(question):\n    return {'status': 'answered', 'answer': question}\n"
DOCS = {f"starter/docs/guide-{n:02}.md": f"# Guide {n}\n\nHow to run the kit, part {n}.\n" for n in range(20)}
STARTER = {
    "starter/echo/__init__.py": ECHO,
    "starter/helpdesk/__init__.py": "",
    "starter/helpdesk/model.py": "class Model:\n    def reply(self, ticket):\n        raise NotImplementedError\n",
    "starter/helpdesk/views.py": "".join(f"def view_{n}(request):\n    return {n}\n\n" for n in range(8)),
    "starter/README.md": "# Starter kit\n\nRead the brief first.\n",
    "starter/devtools/lint.sh": "#!/bin/sh\nruff check .\n",
    **DOCS,
}
# One line far wider than any pane: it must wrap (or scroll inside its box), never run off the page.
LONG_LINE = "        prompt = " + repr("Answer only from the retrieved articles and cite each one. " * 6) + "\n"
MODEL = (
    "import time\n\n\nclass Model:\n    def reply(self, ticket):\n"
    + LONG_LINE
    + "".join(f"        step_{n} = self.retry(ticket, attempt={n})  # backoff {n}\n" for n in range(190))
    + "        return step_0\n"
)
UPLOAD = {
    "echo/__init__.py": ECHO,
    "helpdesk/__init__.py": "",
    "helpdesk/model.py": MODEL,
    "helpdesk/views.py": STARTER["starter/helpdesk/views.py"].replace("return 3", "return 33"),
    "helpdesk/retry.py": "".join(f"def backoff_{n}(attempt):\n    return 2 ** attempt\n\n" for n in range(10)),
    "NOTES.md": "# Notes\n\nI rewrote the model to retry with backoff.\n" + "More thoughts.\n" * 40,
}


def test_the_diff_leads_with_the_candidates_biggest_code_change(page, reviewer, custom_assessment, custom_exercise):
    package_files_write(custom_exercise, STARTER)
    submission = graded_submission(custom_assessment, files=UPLOAD, checked=False)
    review = review_assign(submission=submission, reviewer=reviewer)

    login(page, "bob")
    page.goto(f"/reviews/{review.pk}/#diff")
    diff = page.locator("#diff")
    diff.get_by_role("heading", name="Diff against the starter kit").wait_for()
    diff.locator("details.file-diff").first.wait_for()  # fetched as the jump to #diff reveals it

    shown = diff.locator("details.file-diff:not(.removed-group) > summary code").all_inner_texts()
    assert shown == ["helpdesk/model.py", "helpdesk/retry.py", "helpdesk/views.py", "NOTES.md"]
    opened = diff.locator("details.file-diff[open]:not(.removed-group) > summary code").all_inner_texts()
    assert opened == ["helpdesk/model.py", "helpdesk/retry.py", "helpdesk/views.py"]
    assert diff.locator(".diffstat").first.inner_text() == "+195 −1"
    assert "+0 −0" not in diff.inner_text()

    removed = diff.locator("details.removed-group")
    assert removed.count() == 1 and removed.get_attribute("open") is None
    assert "22 files" in removed.locator("summary").inner_text()
    assert not removed.locator("li").first.is_visible()
    removed.locator("summary").click()
    listed = removed.locator("li code").all_inner_texts()
    assert listed == sorted(["README.md", "devtools/lint.sh", *(p.removeprefix("starter/") for p in DOCS)])

    # No line is cut: every code box is as wide as what it holds (wrapped), or scrolls inside itself,
    # and none reaches past the page, at 1280 px and on a phone; the diff and the code are tabs, each
    # checked (and photographed on its own) while it is the one shown.
    _assert_no_clipped_code(page, DIFF_BOXES, at_least=3)
    diff.screenshot(path=str(SCREENSHOTS / "review-diff.png"))
    page.get_by_role("link", name="Code", exact=True).click()
    page.locator("#code-file").wait_for()
    _assert_no_clipped_code(page, CODE_BOXES, at_least=1)
    assert "Answer only from the retrieved articles" in page.locator("#code-file").inner_text()
    page.locator("#code").screenshot(path=str(SCREENSHOTS / "review-code.png"))
    page.set_viewport_size(PHONE)
    _assert_no_clipped_code(page, CODE_BOXES, at_least=1)
    page.locator("#code").screenshot(path=str(SCREENSHOTS / "review-code-phone.png"))
    page.get_by_role("link", name="Diff", exact=True).click()
    _assert_no_clipped_code(page, DIFF_BOXES, at_least=3)
    diff.screenshot(path=str(SCREENSHOTS / "review-diff-phone.png"))


DIFF_BOXES, CODE_BOXES = "#diff details[open] .hl", "#code-file .hl"


def _assert_no_clipped_code(page, selector: str, *, at_least: int) -> None:
    boxes = page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)].map(el => {
            const style = getComputedStyle(el), rect = el.getBoundingClientRect();
            return {scroll: el.scrollWidth, client: el.clientWidth, overflowX: style.overflowX,
                    right: rect.right, page: document.documentElement.clientWidth};
        })""",
        selector,
    )
    assert len(boxes) >= at_least
    for box in boxes:
        assert box["scroll"] <= box["client"] + 1 or box["overflowX"] in ("auto", "scroll"), box
        assert box["right"] <= box["page"] + 1, box
    widest = min(box["client"] for box in boxes)
    assert widest >= (600 if page.viewport_size["width"] >= 1280 else 300), boxes


def test_a_refused_submit_shows_every_gap_at_once_then_asks_and_leads_to_the_next_review(page, reviewer, assessment):
    submission = graded_submission(assessment)
    review = review_assign(submission=submission, reviewer=reviewer)
    queued = graded_submission(assessment, name="Sam Candidate", email="sam@example.com")
    next_one = review_assign(submission=queued, reviewer=reviewer)
    grounding, notes = assessment.rubric.criteria.all()
    # Two levels and one note missing: Grounding has its note only, the notes criterion nothing.
    review_score_save(review=review, criterion=grounding, level=None, note="Checks citations.")
    asked = []

    def answer(dialog, accept: bool):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    login(page, "bob")
    page.goto(f"/reviews/{review.pk}/")
    page.once("dialog", lambda d: answer(d, accept=False))
    page.get_by_role("button", name="Submit review").click()
    page.wait_for_timeout(300)
    assert asked == ["Submit for good? You cannot change the scores afterwards."]
    assert "incomplete" not in page.url and Review.objects.get(pk=review.pk).state == Review.IN_PROGRESS

    page.once("dialog", lambda d: answer(d, accept=True))
    page.get_by_role("button", name="Submit review").click()
    summary = page.locator("#submit-problems")
    summary.wait_for()
    assert len(asked) == 2
    items = summary.get_by_role("listitem").all_inner_texts()
    assert items == [
        "Grounding: choose a level",
        "Failure-mode notes: choose a level and write a note",
        "Recommendation: choose strong yes, yes, no or strong no",
        "Takeaways: write at least 2 takeaways, one per line",
    ]
    verdict = page.locator("#verdict")
    assert verdict.get_by_role("radiogroup", name="Recommendation").get_attribute("aria-invalid") == "true"
    assert verdict.locator("#takeaways").get_attribute("aria-invalid") == "true"
    assert verdict.get_by_text("Choose a recommendation.").is_visible()
    first, second = page.locator(f"#criterion-{grounding.pk}"), page.locator(f"#criterion-{notes.pk}")
    assert first.get_by_role("radiogroup").get_attribute("aria-invalid") == "true"
    assert first.locator("textarea").get_attribute("aria-invalid") is None
    assert second.get_by_role("radiogroup").get_attribute("aria-invalid") == "true"
    assert second.locator("textarea").get_attribute("aria-invalid") == "true"
    assert first.get_by_text("Choose a level.").is_visible() and second.get_by_text("Write a note").is_visible()
    assert page.locator("[aria-invalid=true]").count() == 5
    page.locator("#rubric").screenshot(path=str(SCREENSHOTS / "review-submit-errors.png"))
    page.set_viewport_size(PHONE)
    page.locator("#rubric").screenshot(path=str(SCREENSHOTS / "review-submit-errors-phone.png"))
    page.set_viewport_size({"width": 1280, "height": 800})
    summary.get_by_role("link", name="Failure-mode notes").click()
    assert page.url.endswith(f"#criterion-{notes.pk}")
    assert Review.objects.get(pk=review.pk).state == Review.IN_PROGRESS

    for criterion in (grounding, notes):
        fieldset = page.locator(f"#criterion-{criterion.pk}")
        fieldset.locator("label.level").nth(2).click()
        page.locator(f"#status-{criterion.pk}.is-saved").wait_for()
    page.locator(f"#note-{notes.pk}").fill("Ranks the failure modes.")
    # The note saves itself 800 ms after the last keystroke.
    for _ in range(50):
        if CriterionScore.objects.filter(review=review, criterion=notes, note="Ranks the failure modes.").exists():
            break
        page.wait_for_timeout(200)

    # The recommendation and the takeaways save themselves like the scores.
    verdict.get_by_label("Yes", exact=True).check()
    page.locator("#verdict-status.is-saved").wait_for()
    page.locator("#takeaways").fill("Grounds answers in the articles\nRetries 429s, gives up on 400s")
    for _ in range(50):
        if Review.objects.get(pk=review.pk).takeaways.count("\n") == 1:
            break
        page.wait_for_timeout(200)
    assert Review.objects.get(pk=review.pk).recommendation == "yes"

    page.once("dialog", lambda d: answer(d, accept=True))
    page.get_by_role("button", name="Submit review").click()
    page.get_by_text("Review submitted.").wait_for()
    assert Review.objects.get(pk=review.pk).state == Review.SUBMITTED
    page.screenshot(path=str(SCREENSHOTS / "review-next.png"))
    page.get_by_role("link", name="Next review").click()
    page.wait_for_url(f"**/reviews/{next_one.pk}/")
    page.get_by_role("heading", name=f"Candidate {queued.invitation.pseudonym}").wait_for()
