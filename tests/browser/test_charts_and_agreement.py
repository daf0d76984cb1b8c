"""#20 points 9 and 10 in Chromium: chart text legible at desktop and phone width, a 200 drawn as
an answer, and agreement that states its sample size before reading alpha."""

import pytest

from rubrics.models import Review
from rubrics.services import review_score_save, review_submit
from tests.browser.conftest import DESKTOP, PHONE, login
from tests.builders import evidence, graded_submission, review_verdict

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MIN_TEXT_PX = 11

# The size a glyph is drawn at on screen: the font size times the scale the SVG's viewBox puts on it
# (getComputedStyle alone reports the stylesheet's 9 px however small the drawing was scaled).
_RENDERED_SIZES = """els => els.map(el => {
  const m = el.getScreenCTM();
  return parseFloat(getComputedStyle(el).fontSize) * Math.hypot(m.a, m.b);
})"""


def _smallest_text(page, selector: str) -> float:
    sizes = page.locator(selector).evaluate_all(_RENDERED_SIZES)
    assert sizes, f"no text matches {selector}"
    return min(sizes)


def _fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _score_all(review, levels):
    for criterion, level in zip(review.submission.invitation.assessment.rubric.criteria.all(), levels, strict=True):
        review_score_save(review=review, criterion=criterion, level=level, note="because")
    review_verdict(review)
    review_submit(review=review)


def test_timeline_text_is_legible_at_both_widths_and_a_200_is_drawn_as_answered(page, screenshot, assessment, reviewer):
    traffic = evidence(statuses=(429, 200, 400))
    traffic["requests"][1]["fault"] = "prose"  # the script twisted the answer's body; HTTP said 200
    traffic["requests"][2]["fault"] = "invalid_request"
    result = {
        "probe_id": "grounding-0",
        "failure_mode": "grounding",
        "outcome": "fail",
        "reason": "chatty prose around the JSON",
        "evidence": traffic,
        "duration_s": 1.0,
    }
    submission = graded_submission(assessment, results=[result])
    review = Review.objects.get_or_create(submission=submission, reviewer=reviewer)[0]

    login(page, "bob")
    page.goto(f"/reviews/{review.pk}/")
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    page.locator("svg.timeline .tl-label").first.wait_for()

    bars = page.locator("svg.timeline rect.tl-bar")
    labels = page.locator("svg.timeline text.tl-label").all_text_contents()
    assert labels == ["429", "200 · prose · retry 1", "400 · retry 2"]
    answered = bars.nth(1)
    assert "tl-ok" in answered.get_attribute("class")
    assert answered.evaluate("el => getComputedStyle(el).fill") == "rgb(143, 209, 158)"  # the legend's "answered"
    assert "tl-fault" in bars.nth(2).get_attribute("class")

    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        assert _smallest_text(page, "svg.timeline text") >= MIN_TEXT_PX, viewport
        assert _fits_the_screen(page), viewport  # the timeline scrolls in its box, not the page
        screenshot(page, "review-timeline", phone=viewport is PHONE)
    page.set_viewport_size(DESKTOP)
    # The table fallback (its <details> opened above) holds the same requests.
    assert page.locator("details.requests td").filter(has_text="prose").is_visible()


def test_overview_charts_are_legible_at_both_widths_and_carry_tables(page, screenshot, assessment, reviewer, reviewer2):
    for i in range(3):
        submission = graded_submission(
            assessment, name=f"Cand {i}", email=f"c{i}@example.com", results=[("grounding", "pass"), ("notes", "fail")]
        )
        _score_all(Review.objects.get_or_create(submission=submission, reviewer=reviewer)[0], [i, 3 - i])

    login(page, "alice")
    page.goto(f"/reports/assessments/{assessment.pk}/")
    page.get_by_role("heading", name="Overview").wait_for()
    assert page.locator("svg.chart").count() == 3

    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        assert _smallest_text(page, "svg.chart text") >= MIN_TEXT_PX, viewport
        assert _fits_the_screen(page), viewport
        screenshot(page, "overview-charts", phone=viewport is PHONE)
    page.set_viewport_size(DESKTOP)
    page.get_by_text("Totals as a table").click()
    assert page.locator("#totals-table tbody tr").count() == 6
    assert page.locator("#funnel-table").is_visible() and page.locator("#modes-table").is_visible()


def test_agreement_from_two_submissions_says_too_few_to_judge(page, screenshot, assessment, reviewer, reviewer2):
    for i, (a, b) in enumerate([((3, 3), (0, 1)), ((1, 2), (3, 0))]):
        submission = graded_submission(assessment, name=f"Cand {i}", email=f"c{i}@example.com")
        _score_all(Review.objects.get_or_create(submission=submission, reviewer=reviewer)[0], a)
        _score_all(Review.objects.get_or_create(submission=submission, reviewer=reviewer2)[0], b)

    login(page, "alice")
    page.goto(f"/reviews/manage/{assessment.pk}/agreement/")
    page.get_by_role("heading", name="Reviewer agreement").wait_for()

    total = page.locator("tr.total-row")
    assert total.locator('[data-col="submissions"]').inner_text() == "2"  # uploads, not 4 criterion scores
    assert total.locator('[data-col="pairs"]').inner_text() == "4"
    assert total.locator('[data-col="reading"]').inner_text() == "Too few submissions to judge (2 of 10 needed)"
    alpha = total.locator('[data-col="alpha"]')
    assert "alpha-unsettled" in alpha.get_attribute("class")
    assert alpha.evaluate("el => getComputedStyle(el).color") == "rgb(89, 99, 110)"  # greyed: --muted
    readings = page.locator('tbody [data-col="reading"]').all_inner_texts()
    assert readings and all(r.startswith("Too few submissions to judge") for r in readings)
    assert "fewer than 10 submissions" in page.locator("#agreement-threshold").inner_text()

    screenshot(page, "agreement")
    page.set_viewport_size(PHONE)
    assert total.locator('[data-col="reading"]').is_visible()
    assert _fits_the_screen(page)
    screenshot(page, "agreement", phone=True)
