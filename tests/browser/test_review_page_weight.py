"""The review page's first load stays light at 40 probes of heavy evidence (#20, point 15)."""

import pytest

from rubrics.services import review_assign
from tests.browser.conftest import PHONE, SCREENSHOTS, login
from tests.builders import evidence, graded_submission

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROBES, REQUESTS = 40, 3000
MAX_FIRST_LOAD = 100 * 1024


def _results() -> list[dict]:
    """40 probes holding 3,000 model requests: 8 failures, the rest passes."""
    per_probe = REQUESTS // PROBES
    statuses = tuple((429, 200, 200, 500)[k % 4] for k in range(per_probe))
    return [
        {
            "probe_id": f"probe-{j:02d}",
            "failure_mode": ("grounding", "transient")[j % 2],
            "outcome": "fail" if j % 5 == 0 else "pass",
            "reason": "slow" if j % 5 == 0 else "ok",
            "evidence": evidence(statuses=statuses, gap_s=0.2, stall=j % 5 == 0),
            "duration_s": 2.0,
        }
        for j in range(PROBES)
    ]


def test_the_review_page_loads_under_100_kb_and_fetches_code_diff_and_passes_only_when_opened(
    page, screenshot, reviewer, assessment
):
    review = review_assign(submission=graded_submission(assessment, results=_results()), reviewer=reviewer)
    login(page, "bob")
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))

    response = page.goto(f"/reviews/{review.pk}/")
    page.get_by_role("heading", name="Probe evidence").wait_for()
    page.wait_for_load_state("networkidle")

    assert len(response.body()) <= MAX_FIRST_LOAD, len(response.body())
    parts = [url for url in fetched if "part=" in url or "probe=" in url]
    assert parts == [], parts  # nothing below the first screen was fetched
    assert page.locator("#code .file-tree").count() == 0 and page.locator("#diff .hl").count() == 0
    failures, passes = page.locator("details.probe-fail"), page.locator("details.probe-pass")
    assert failures.count() == 8 and passes.count() == 32
    assert failures.first.get_attribute("open") is not None and passes.first.get_attribute("open") is None
    screenshot(page, "review-light")
    screenshot(page, "review-light", phone=True)

    # A pass's traffic arrives when it is opened (scrolling also fetches the failures drawn lazily).
    opened = passes.first.locator("summary code").inner_text()
    passes.first.locator("summary").click()
    passes.first.locator("svg.timeline").wait_for()
    assert sum(f"probe={opened}" in url for url in fetched) == 1
    assert not any(f"probe={p}" in url for url in fetched for p in passes.locator("summary code").all_inner_texts()[1:])

    page.get_by_role("link", name="Code", exact=True).click()  # the code pane, when its tab is opened
    page.locator("#code .file-tree").wait_for()
    page.locator("#code").screenshot(path=str(SCREENSHOTS / "review-light-code.png"))
    page.get_by_role("link", name="Diff", exact=True).click()  # and the diff
    page.locator("#diff .hl").first.wait_for()
    assert sum("part=code" in url for url in fetched) == 1 and sum("part=diff" in url for url in fetched) == 1


def test_without_javascript_the_links_open_the_code_and_the_diff(browser, live_server, reviewer, assessment):
    review = review_assign(submission=graded_submission(assessment), reviewer=reviewer)
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False, viewport=PHONE)
    page = context.new_page()
    try:
        login(page, "bob")
        page.goto(f"/reviews/{review.pk}/")
        # The tabs are links: each loads the page with its part drawn in, and the others hidden.
        page.get_by_role("link", name="Code", exact=True).click()
        page.locator("#code .file-tree").wait_for()
        assert page.locator("#evidence").is_hidden()
        page.get_by_role("link", name="Diff", exact=True).click()
        page.locator("#diff .hl").first.wait_for()
        assert page.locator("#code").is_hidden()
        page.get_by_role("link", name="Evidence").click()
        assert page.locator("#evidence").is_visible() and page.locator("#diff").is_hidden()
    finally:
        context.close()
