"""The hiring-manager reports in headless Chromium, on the demo data (`seed_demo`).

Every figure the test reads off a page is recomputed here straight from the rows, the plain way
(loops over invitations, submissions, runs and results), so the reports' aggregate queries are
checked against an independent count.
"""

import csv
import io
import statistics
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from assessments.models import GradingRun
from candidates.models import Decision, Invitation
from reports.models import ReferenceRun, WebhookDelivery, WebhookEndpoint
from reports.services import webhook_delivery_attempt
from reports.templatetags.report_format import duration, level, pct
from rubrics.models import CriterionScore, Disagreement
from tests.browser.conftest import SCREENSHOTS, login
from tests.reports.test_webhooks import SECRET, Receiver

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DEMO_TITLE = "Applied AI Engineer — demo opening"


@pytest.fixture
def demo(settings):
    call_command("sync_exercises", stdout=StringIO(), stderr=StringIO())
    call_command("seed_demo", "--force", stdout=StringIO())
    invitations = list(
        Invitation.objects.filter(assessment__title=DEMO_TITLE).select_related("candidate", "assessment")
    )
    assessment = invitations[0].assessment
    # The anchor row: the demo's reference uploads are the exercise's reference/ folder, graded for
    # real by seed_demo; store that grading as the reference run instead of grading it a second time.
    femi = next(i for i in invitations if i.candidate.name == "Femi Decided")
    run = _current_run(femi)
    ReferenceRun.objects.update_or_create(
        exercise=assessment.exercise,
        defaults={"results": list(run.results.values("probe_id", "failure_mode", "outcome", "score", "reason"))},
    )
    return assessment


def _current_run(invitation):
    latest = invitation.submissions.order_by("-number").first()
    if latest is None:
        return None
    return latest.grading_runs.filter(state=GradingRun.DONE).order_by("-finished_at", "-pk").first()


def _expected(assessment):
    """The figures, counted one row at a time."""
    invitations = list(Invitation.objects.filter(assessment=assessment).select_related("candidate"))
    criteria = list(assessment.rubric.criteria.all())
    funnel = {"invited": len(invitations), "started": 0, "submitted": 0, "graded": 0, "reviewed": 0, "decided": 0}
    modes, per_candidate, spent = {}, {}, []
    for inv in invitations:
        funnel["started"] += inv.started_at is not None
        funnel["submitted"] += inv.submissions.exists()
        funnel["reviewed"] += inv.state in ("reviewed", "decided")
        funnel["decided"] += inv.state == "decided"
        latest = inv.submissions.order_by("-number").first()
        if latest and inv.started_at:
            spent.append(latest.created_at - inv.started_at)
        run = _current_run(inv)
        mine = {"pass": 0, "fail": 0, "error": 0, "points": 0.0, "modes": {}}
        if run:
            funnel["graded"] += 1
            for r in run.results.all():
                # A probe score is points: a pass 1, a fail 0, a graded probe (load, cost) its score.
                points = (
                    0.0 if r.outcome == "error" else (r.score if r.score is not None else float(r.outcome == "pass"))
                )
                for counts in (
                    mine,
                    modes.setdefault(r.failure_mode, {"pass": 0, "fail": 0, "error": 0, "points": 0.0}),
                    mine["modes"].setdefault(r.failure_mode, {"pass": 0, "fail": 0, "error": 0, "points": 0.0}),
                ):
                    counts[r.outcome] += 1
                    counts["points"] += points
        total = None
        if latest:
            levels = {}
            for review in latest.reviews.filter(state="submitted"):
                for score in review.scores.all():
                    levels.setdefault(score.criterion_id, []).append(score.level)
            if levels:
                total = sum(c.weight * statistics.fmean(levels[c.pk]) for c in criteria if c.pk in levels)
        mine["total"] = total
        mine["graded"] = run is not None
        mine["time"] = (latest.created_at - inv.started_at) if latest and inv.started_at else None
        per_candidate[inv.candidate.name] = mine
    return {
        "funnel": funnel,
        "completion": funnel["submitted"] / funnel["started"] if funnel["started"] else None,
        "median": statistics.median(spent) if spent else None,
        "modes": {m: _rate(c) for m, c in modes.items()},
        "errors": sum(c["error"] for c in modes.values()),
        "candidates": per_candidate,
    }


def _rate(counts):
    judged = counts["pass"] + counts["fail"]
    return counts["points"] / judged if judged else None


def _login(page, username, password):
    login(page, username, password)
    page.get_by_role("heading", name="Dashboard").wait_for()


def test_a_manager_reads_every_report_and_downloads_the_csv_and_pdf(
    page, screenshot, demo, browser, live_server, settings
):
    expected = _expected(demo)
    _login(page, "manager", "demo-manager-pass")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    screenshot(page, "reports-index")
    page.get_by_role("link", name=DEMO_TITLE).click()

    # Overview: funnel, completion, median time, pass rate per failure mode, infra errors apart.
    page.get_by_role("heading", name="Overview").wait_for()
    for stage, count in expected["funnel"].items():
        assert page.locator(f'#funnel-table tr[data-stage="{stage}"] td').first.inner_text() == str(count), stage
    assert page.locator('[data-figure="completion"]').inner_text() == pct(expected["completion"])
    assert page.locator('[data-figure="median-time"]').inner_text() == duration(expected["median"])
    assert page.locator('[data-figure="infra-errors"]').inner_text() == str(expected["errors"])
    for mode, rate in expected["modes"].items():
        assert page.locator(f'#modes-table tr[data-mode="{mode}"] td[data-col="rate"]').inner_text() == pct(rate), mode
    assert page.locator("svg.chart").count() == 3
    screenshot(page, "reports-overview")
    screenshot(page, "reports-overview", phone=True)

    # Comparison: the heatmap with the reference anchor, sorted by a header link, filtered by state.
    page.get_by_role("link", name="Comparison", exact=True).click()
    page.get_by_role("heading", name="Candidates by failure mode").wait_for()
    assert page.locator('tr[data-row="reference"]').inner_text().startswith("Reference solution")
    for name, mine in expected["candidates"].items():
        row = page.locator("tr[data-invitation]", has=page.get_by_role("link", name=name, exact=True))
        if not row.count():
            continue
        assert row.locator('td[data-col="pass"]').inner_text() == pct(_rate(mine)), name
        assert row.locator('td[data-col="total"]').inner_text() == level(mine["total"]), name
    screenshot(page, "reports-comparison")
    page.get_by_role("link", name="All probes", exact=True).click()
    page.wait_for_url("**sort=pass**")
    rates = page.locator('tbody tr[data-invitation] td[data-col="pass"]').all_inner_texts()
    numbers = [int(r.rstrip("%")) for r in rates if r != "—"]
    assert numbers == sorted(numbers, reverse=True)
    page.get_by_label("State").select_option("decided")
    page.get_by_role("button", name="Apply").click()
    # htmx swaps the table in place; wait for the new one, not just the new address.
    decided = expected["funnel"]["decided"]
    page.locator("#heatmap-count").filter(has_text=f"{decided} of {len(expected['candidates'])} candidate").wait_for()
    assert "state=decided" in page.url
    assert page.locator("tbody tr[data-invitation]").count() == decided
    screenshot(page, "reports-comparison-filtered")
    screenshot(page, "reports-comparison", phone=True)

    # CSV of the comparison: same figures.
    page.goto(f"/reports/assessments/{demo.pk}/comparison/")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    rows = _csv_rows(info.value)
    assert rows[0]["candidate"] == "Reference solution"
    by_name = {r["candidate"]: r for r in rows[1:]}
    assert set(by_name) == set(expected["candidates"])
    for name, mine in expected["candidates"].items():
        assert _number(by_name[name]["probe_pass_rate"]) == pytest.approx(_rate(mine), abs=1e-6), name
        assert by_name[name]["infra_errors"] == str(mine["error"]), name
        assert _number(by_name[name]["rubric_total"]) == pytest.approx(mine["total"], abs=1e-4), name
        assert by_name[name]["time_spent"] == ("" if mine["time"] is None else duration(mine["time"])), name
        for mode, counts in mine["modes"].items():
            assert _number(by_name[name][f"{mode}_pass_rate"]) == pytest.approx(_rate(counts), abs=1e-6), (name, mode)

    # A scorecard, then its PDF.
    page.get_by_role("link", name="Femi Decided", exact=True).click()
    page.get_by_role("heading", name="Femi Decided").wait_for()
    femi = expected["candidates"]["Femi Decided"]
    assert page.locator('[data-figure="probe-rate"]').inner_text() == pct(_rate(femi))
    assert page.locator('[data-figure="rubric-total"]').inner_text() == level(femi["total"])
    assert page.locator('[data-figure="time-spent"]').inner_text() == duration(femi["time"])
    assert "Strong failure-mode reasoning." in page.locator("#decision").inner_text()
    screenshot(page, "reports-scorecard")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download PDF").click()
    pdf = SCREENSHOTS / "reports-scorecard.pdf"
    info.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf),
            str(SCREENSHOTS / "reports-scorecard-pdf"),
        ],
        check=True,
    )
    assert (SCREENSHOTS / "reports-scorecard-pdf.png").stat().st_size > 1000

    # A decision through the form on a reviewed candidate, announced to a local ATS.
    with Receiver() as receiver:
        settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # the receiver is local
        WebhookEndpoint.objects.create(owner=demo.owner, name="Company ATS", url=receiver.url, secret=SECRET)
        page.goto(f"/reports/assessments/{demo.pk}/comparison/")
        page.get_by_role("link", name="Eun Reviewed", exact=True).click()
        page.get_by_role("button", name="Record decision").click()
        page.get_by_role("alert").wait_for()
        screenshot(page, "reports-scorecard-decision-error")
        page.get_by_label("Hold").check()
        page.get_by_label("Reason").fill("Good grounding; waiting for the second panel.")
        # The demo's reviewers are two levels apart on one of Eun's criteria: decided over knowingly.
        page.get_by_label("Decide anyway").check()
        page.get_by_role("button", name="Record decision").click()
        page.get_by_text("Decision recorded: Hold. On its way to Company ATS").wait_for()
        eun = Invitation.objects.get(assessment=demo, candidate__name="Eun Reviewed")
        delivery = eun.webhook_deliveries.get()
        # No worker in this test: the attempt the task would make, made here.
        assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "delivered"
        assert receiver.accepted[0]["body"]["reason"] == "Good grounding; waiting for the second panel."
    page.goto(f"/reports/assessments/{demo.pk}/deliveries/")
    assert "Delivered" in page.locator("#deliveries-table").inner_text()
    screenshot(page, "reports-deliveries")


def _csv_rows(download) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))


def _number(cell: str) -> float | None:
    """A CSV cell as a spreadsheet reads it: a number, or nothing."""
    return None if cell == "" else float(cell)


def _rows_on_screen(page) -> list[str]:
    """The comparison's rows top to bottom as their first cell names them (the anchor row included)."""
    rows = page.locator('#heatmap tbody tr[data-row="reference"], #heatmap tbody tr[data-invitation]')
    return [
        "Reference solution" if row.get_attribute("data-row") else row.locator("th a").inner_text()
        for row in rows.all()
    ]


def _best_first(expected) -> tuple[list[str], list[str]]:
    """(candidates with results, best first: total, then probe rate, then name; those with nothing to compare)."""
    with_results = [n for n, mine in expected["candidates"].items() if mine["graded"] or mine["total"] is not None]
    without = sorted(set(expected["candidates"]) - set(with_results), key=str.lower)

    def key(name):
        mine = expected["candidates"][name]
        total, rate = mine["total"], _rate(mine)
        return (total is None, -(total or 0), rate is None, -(rate or 0), name.lower())

    return sorted(with_results, key=key), without


def test_the_comparison_puts_the_best_first_and_its_csv_holds_the_rows_on_screen(page, screenshot, demo):
    expected = _expected(demo)
    ranked, never = _best_first(expected)
    assert len(ranked) >= 3 and len(never) >= 3  # the demo has both kinds, or this test proves nothing
    _login(page, "manager", "demo-manager-pass")
    page.goto(f"/reports/assessments/{demo.pk}/comparison/")
    page.get_by_role("heading", name="Candidates by failure mode").wait_for()

    # By default: the highest rubric total first, then the probes; the never-submitted below, under a heading.
    assert _rows_on_screen(page) == ["Reference solution", *ranked, *never]
    heading = page.get_by_role("rowheader", name="Nothing to compare yet")
    assert heading.is_visible() and f"{len(never)} candidates never submitted" in heading.inner_text()
    first_without = page.locator("tr[data-invitation]").nth(len(ranked))
    assert heading.bounding_box()["y"] < first_without.bounding_box()["y"]
    assert page.locator("tr[data-invitation]").nth(len(ranked) - 1).bounding_box()["y"] < heading.bounding_box()["y"]
    screenshot(page, "reports-comparison-ranked")
    screenshot(page, "reports-comparison-ranked", phone=True)
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    assert [line["candidate"] for line in _csv_rows(info.value)] == ["Reference solution", *ranked, *never]

    # Filtered to Reviewed in place (htmx): the link on the page now downloads exactly those rows.
    reviewed = Invitation.objects.filter(assessment=demo, state=Invitation.REVIEWED).count()
    assert reviewed >= 1
    page.get_by_label("State").select_option("reviewed")
    page.get_by_role("button", name="Apply").click()
    page.locator("#heatmap-count").filter(has_text=f"{reviewed} of {len(expected['candidates'])} candidate").wait_for()
    on_screen = _rows_on_screen(page)
    assert len(on_screen) == 1 + reviewed
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    lines = _csv_rows(info.value)
    assert [line["candidate"] for line in lines] == on_screen
    candidates = lines[1:]
    assert {line["state"] for line in candidates} == {"reviewed"}
    # Numbers a spreadsheet can sum: rates 0-1, totals as decimals, seconds as whole numbers.
    rates = [float(line["probe_pass_rate"]) for line in candidates]
    seconds = [int(line["time_spent_seconds"]) for line in candidates]
    totals = [float(line["rubric_total"]) for line in candidates]
    assert all(0 <= rate <= 1 for rate in rates) and sum(seconds) > 0
    for line, rate, spent, total in zip(candidates, rates, seconds, totals, strict=True):
        mine = expected["candidates"][line["candidate"]]
        assert rate == pytest.approx(_rate(mine), abs=1e-6)
        assert spent == int(mine["time"].total_seconds()) and total == pytest.approx(mine["total"], abs=1e-4)
    screenshot(page, "reports-comparison-reviewed")


def test_a_reviewer_gets_403_on_every_report(page, demo):
    invitation = Invitation.objects.filter(assessment=demo).first()
    _login(page, "reviewer1", "demo-reviewer1-pass")
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").count() == 0
    base = f"/reports/assessments/{demo.pk}"
    for url in [
        "/reports/",
        f"{base}/",
        f"{base}/comparison/",
        f"{base}/comparison.csv",
        f"{base}/candidates/{invitation.pk}/",
        f"{base}/candidates/{invitation.pk}/scorecard.pdf",
        f"{base}/deliveries/",
    ]:
        response = page.request.get(url)
        assert response.status == 403, url


def _open_flag(assessment, name):
    """The one criterion the demo's reviewers put two levels apart (3 and 1) on a candidate's upload."""
    invitation = Invitation.objects.get(assessment=assessment, candidate__name=name)
    return invitation, Disagreement.objects.select_related("criterion").get(submission__invitation=invitation)


def _expected_total(invitation, resolved=None):
    """Weight × level summed over the criteria, counted one score at a time; ``resolved`` is
    (criterion id, level): that level instead of the reviewers' mean."""
    latest = invitation.submissions.order_by("-number").first()
    total = 0.0
    for criterion in invitation.assessment.rubric.criteria.all():
        levels = [
            s.level for s in CriterionScore.objects.filter(review__submission=latest, review__state="submitted",
                                                            criterion=criterion)
        ]  # fmt: skip
        counted = resolved[1] if resolved and resolved[0] == criterion.pk else statistics.fmean(levels)
        total += criterion.weight * counted
    return total


def test_a_resolved_disagreement_is_the_level_on_every_report(page, screenshot, demo):
    """#20.1: resolved at 0, the criterion counts 0 on the comparison, the scorecard, the CSV and the
    PDF, says who resolved it, and the two-levels-apart warning is gone."""
    eun, flag = _open_flag(demo, "Eun Reviewed")
    criterion = flag.criterion
    scorecard = f"/reports/assessments/{demo.pk}/candidates/{eun.pk}/"
    level_cell = f'tr[data-criterion="{criterion.slug}"] td[data-col="level"]'
    _login(page, "manager", "demo-manager-pass")

    # Open: the reviewers' mean (3 and 1) counts, and the scorecard warns.
    page.goto(scorecard)
    assert page.locator(level_cell).inner_text() == "2.0"
    assert page.locator('[data-figure="rubric-total"]').inner_text() == level(_expected_total(eun))
    assert criterion.title in page.locator('[data-notice="open-disagreements"]').inner_text()

    # The manager resolves it at 0 on the Disagreements page.
    page.goto(f"/reviews/disagreements/?assessment={demo.pk}")
    article = page.locator(f"#disagreement-{flag.pk}")
    article.get_by_role("group", name="Final level").locator('input[name="level"][value="0"]').check()
    article.get_by_label("Calibration note").fill("Two of five claims are unsourced: a 0 by the anchors.")
    article.get_by_role("button", name="Resolve").click()
    page.locator(f"#disagreement-{flag.pk}").get_by_text("Resolved at level 0").wait_for()
    total = level(_expected_total(eun, resolved=(criterion.pk, 0)))
    assert total != level(_expected_total(eun))

    # The comparison: the total counts the 0, and says whose it is.
    page.goto(f"/reports/assessments/{demo.pk}/comparison/")
    row = page.locator("tr[data-invitation]", has=page.get_by_role("link", name="Eun Reviewed", exact=True))
    assert row.locator('[data-figure="total"]').inner_text() == total
    assert row.locator('td[data-col="total"] .resolved-note').inner_text() == "resolved by Morgan Manager"
    screenshot(page, "reports-comparison-resolved")

    # The scorecard: the level, the total, who resolved it; no warning left.
    page.goto(scorecard)
    cell = page.locator(level_cell)
    assert cell.locator(".lvl-chip").inner_text() == "0.0"
    assert "resolved by Morgan Manager" in cell.inner_text() and "reviewers’ mean 2.0" in cell.inner_text()
    assert page.locator('[data-figure="rubric-total"]').inner_text() == total
    assert page.locator('[data-figure="resolved-by"]').inner_text() == "resolved by Morgan Manager"
    assert page.locator('[data-notice="open-disagreements"]').count() == 0
    assert "levels apart" not in page.locator("#agreement").inner_text()
    assert f"{criterion.title} resolved at level 0 by Morgan Manager" in page.locator("#agreement").inner_text()
    page.locator("#rubric-title").scroll_into_view_if_needed()
    screenshot(page, "reports-scorecard-resolved")
    screenshot(page, "reports-scorecard-resolved", phone=True)

    # The CSV: the criterion's level as a number, and who resolved it.
    page.goto(f"/reports/assessments/{demo.pk}/comparison/")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8"))))
    line = next(r for r in rows if r["candidate"] == "Eun Reviewed")
    assert line[f"criterion_{criterion.slug}_level"] == "0"
    assert line[f"criterion_{criterion.slug}_resolved_by"] == "Morgan Manager"
    assert line["rubric_total"] == total

    # The PDF: the same page, printed.
    page.goto(scorecard)
    with page.expect_download() as info:
        page.get_by_role("link", name="Download PDF").click()
    pdf = SCREENSHOTS / "reports-scorecard-resolved.pdf"
    info.value.save_as(pdf)
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    text = " ".join(text.split())  # table cells wrap over lines
    assert "resolved by Morgan Manager" in text and "levels apart" not in text
    assert f"{criterion.title} resolved at level 0 by Morgan Manager" in text


def test_a_decision_says_nothing_of_an_ats_without_one_and_asks_to_confirm_open_disagreements(page, screenshot, demo):
    """#20.5: no endpoint, no word of an ATS; an open disagreement stops the decision until confirmed."""
    eun, flag = _open_flag(demo, "Eun Reviewed")
    assert not WebhookEndpoint.objects.exists()
    _login(page, "manager", "demo-manager-pass")
    page.goto(f"/reports/assessments/{demo.pk}/candidates/{eun.pk}/")
    warning = page.locator("#open-disagreements")
    assert "1 disagreement still open on this upload." in warning.inner_text()
    assert f"{flag.criterion.title}: reviewers gave 1 and 3" in warning.inner_text()
    resolve = warning.get_by_role("link", name="Resolve")
    assert resolve.get_attribute("href") == f"/reviews/disagreements/?assessment={demo.pk}#disagreement-{flag.pk}"
    assert "Sent with the decision" not in page.locator("#decision").inner_text()
    hint = page.locator('[data-hint="no-endpoint"]')
    assert hint.inner_text().startswith("No webhook endpoint is set up, so no ATS hears of decisions.")
    assert hint.get_by_role("link", name="Add one under Webhooks").get_attribute("href") == "/reports/webhooks/"

    # Not confirmed: refused, with the reason, and nothing recorded.
    page.get_by_label("Reject").check()
    page.get_by_label("Reason").fill("Grounding is not there yet.")
    page.get_by_role("button", name="Record decision").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "1 disagreement on this upload is still open" in alert.inner_text()
    assert not Decision.objects.filter(invitation=eun).exists()
    page.locator("#decision").scroll_into_view_if_needed()
    screenshot(page, "reports-decision-open-disagreements")
    screenshot(page, "reports-decision-open-disagreements", phone=True)

    # Confirmed: recorded, and the message names no ATS, for none is told.
    assert page.get_by_label("Reject").is_checked()
    page.get_by_label("Decide anyway").check()
    page.get_by_role("button", name="Record decision").click()
    page.get_by_text("Decision recorded: Reject.").wait_for()
    assert page.locator(".messages").inner_text().strip() == "Decision recorded: Reject."
    assert Decision.objects.get(invitation=eun).outcome == "reject"
    assert not WebhookDelivery.objects.exists()


def _pdf_page_one(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-f", "1", "-l", "1", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_the_scorecard_opens_with_a_one_screen_summary_and_so_does_its_pdf(page, screenshot, demo):
    femi = Invitation.objects.get(assessment=demo, candidate__name="Femi Decided")
    reviews = {r.reviewer.username: r for r in femi.submissions.get().reviews.select_related("reviewer")}
    assert {r.recommendation for r in reviews.values()} == {"strong_yes", "yes"}  # seed_demo gives them
    assert all(2 <= len(r.takeaway_list) <= 3 for r in reviews.values())
    expected = _expected(demo)["candidates"]["Femi Decided"]

    _login(page, "manager", "demo-manager-pass")
    page.goto(f"/reports/assessments/{demo.pk}/candidates/{femi.pk}/")
    summary = page.locator("#summary")
    summary.wait_for()
    # The summary is the first card after the header: nothing else comes between.
    assert page.locator("main .card").first.get_attribute("id") == "summary"
    assert summary.locator('[data-figure="tally"]').inner_text().split() == ["1", "×", "Strong", "yes", "1", "×", "Yes"]
    assert summary.locator('[data-figure="rubric-total"]').inner_text() == level(expected["total"])
    assert summary.locator('[data-figure="probe-rate"]').inner_text() == pct(_rate(expected))
    assert summary.locator('[data-figure="reference-rate"]').inner_text().startswith("reference ")
    assert summary.locator('[data-figure="decision"]').inner_text() == "Advance"
    assert "open" in summary.locator('[data-figure="disagreements"]').inner_text()
    bars = summary.locator(".mode-bar-row")
    assert bars.count() == len(expected["modes"]) and bars.count() >= 3
    # Takeaways are there, folded: one click opens a reviewer's.
    first = summary.locator("details.rec-details").first
    assert not first.locator(".takeaways").is_visible()
    first.locator("summary").click()
    assert first.locator(".takeaways li").count() >= 2
    first.locator("summary").click()

    # At 1280×800 the whole answer is on the first screen, without scrolling.
    wanted = [
        '[data-figure="tally"]',
        '[data-figure="rubric-total"]',
        '[data-figure="probe-rate"]',
        '[data-figure="reference-rate"]',
        '[data-figure="disagreements"]',
        '[data-figure="decision"]',
        ".mode-bars",
        ".rec-list",
    ]
    for selector in wanted:
        box = summary.locator(selector).bounding_box()
        assert box is not None and box["y"] + box["height"] <= 800, (selector, box)
    sizes = page.eval_on_selector_all(
        "#summary .mode-bar-row, #summary .rec-chip, #summary dt",
        "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))",
    )
    assert min(sizes) >= 11
    screenshot(page, "scorecard-summary")
    screenshot(page, "scorecard-summary", phone=True)

    # The PDF link says it is working while WeasyPrint draws, then saves the file.
    # Every text the link and its status show is recorded: however fast the PDF comes, the progress was said.
    page.evaluate(
        """() => {
        window.seen = [];
        const record = () => window.seen.push(document.querySelector('[data-pdf-download]').textContent,
                                              document.querySelector('#pdf-status').textContent);
        new MutationObserver(record).observe(document.querySelector('.head-actions'),
                                             {subtree: true, childList: true, characterData: true});
    }"""
    )
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("link", name="Download PDF").click()
    page.get_by_role("link", name="Download PDF").wait_for()
    seen = page.evaluate("window.seen")
    assert "Preparing the PDF…" in seen and "Preparing the PDF; this takes a few seconds." in seen
    pdf = SCREENSHOTS / "scorecard-summary.pdf"
    info.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")

    text = " ".join(_pdf_page_one(pdf).split())
    assert "recommendations" in text.lower() and "1 × Strong yes" in text and "1 × Yes" in text
    # -layout keeps the columns side by side, so a label and its figure are not adjacent in the text.
    assert "Rubric total" in text and f"{level(expected['total'])} / " in text
    assert "Decision" in text and "Advance" in text and "reference" in text
    assert "Probes by failure mode" not in text  # the probe table starts on page 2
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "70",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf),
            str(SCREENSHOTS / "scorecard-pdf-page1"),
        ],
        check=True,
    )
