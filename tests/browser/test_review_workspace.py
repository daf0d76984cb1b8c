"""The review page as a workspace (#20, point 2): the rubric stays in view beside the evidence while
the reviewer reads far down it, the evidence, code and diff are tabs, and a phone cuts nothing off."""

import pytest

from rubrics.services import review_assign
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, login
from tests.browser.test_review_page_weight import _results
from tests.builders import graded_submission

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _in_view(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"] + 1


def test_the_rubric_stays_beside_the_evidence_and_code_and_diff_are_tabs(page, reviewer, assessment):
    review = review_assign(submission=graded_submission(assessment, results=_results()), reviewer=reviewer)
    login(page, "bob")
    page.goto(f"/reviews/{review.pk}/")
    page.wait_for_load_state("networkidle")
    first_criterion = page.locator(".rubric-form fieldset.criterion").first

    # Far down the evidence, the rubric column is still on screen, its first criterion readable.
    page.locator("details.probe").nth(29).scroll_into_view_if_needed()  # of 40
    assert page.evaluate("window.scrollY") > 2 * DESKTOP["height"]
    assert _in_view(page, ".review-side") and first_criterion.is_visible() and _in_view(page, ".review-tabs")
    page.screenshot(path=str(SCREENSHOTS / "review-workspace-scrolled.png"))
    # A criterion's failure mode links to that mode's evidence.
    mode_link = first_criterion.locator("a.mode-link").first
    target = mode_link.get_attribute("href")
    mode_link.click()
    assert _in_view(page, f"{target} > summary")

    # The tabs switch in place, each part fetched once when first shown, and the URL follows.
    page.get_by_role("link", name="Code", exact=True).click()
    page.locator("#code .file-tree").wait_for()
    assert page.locator("#evidence").is_hidden() and "part=code" in page.url
    assert _in_view(page, ".review-side")
    page.get_by_role("link", name="Diff", exact=True).click()
    page.locator("#diff .hl").first.wait_for()
    assert page.locator("#code").is_hidden() and page.locator("#evidence").is_hidden()
    page.reload()  # the same tab after a reload
    page.locator("#diff .hl").first.wait_for()
    assert page.locator("#evidence").is_hidden()
    page.get_by_role("link", name="Evidence").click()
    assert page.locator("#evidence").is_visible() and page.locator("#diff").is_hidden()

    # On a phone the rubric follows the evidence, one jump away, and nothing is wider than the screen.
    page.set_viewport_size(PHONE)
    page.goto(f"/reviews/{review.pk}/")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.get_by_role("link", name="Rubric ↓").click()
    assert first_criterion.is_visible()
    page.screenshot(path=str(SCREENSHOTS / "review-workspace-phone.png"), full_page=True)
