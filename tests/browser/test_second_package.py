"""A second exercise package, end to end in headless Chromium: nothing on the way may assume help-desk.

The order-extractor fixture (tests/fixtures/exercises/order-extractor) takes an object, returns an
object and declares its own failure modes. A manager invites a candidate to it, the candidate
uploads the reference through the portal, the real worker grades it in the sandbox, a reviewer
scores it, the manager reads the scorecard and releases the feedback, and the candidate reads it.

The flow's steps are asserted as they happen. What each page must show of the package (its
failure-mode titles and hints, the calls rendered from its own contract) is collected and asserted
at the end, so that one run names every page that still shows help-desk's shape instead of the
package's.
"""

import re
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone

from assessments.models import GradingRun
from assessments.services import assessment_create
from candidates.models import Invitation, Submission
from grader.package import load_package
from reports.templatetags.report_format import level, pct
from rubrics.models import CriterionScore, Review, Rubric
from tests.browser.conftest import DESKTOP, login
from tests.builders import review_verdict, zip_folder
from tests.workers import graded_by_the_worker, wait_for
from workflows.exercises import exercise_sync

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PACKAGE = Path(__file__).resolve().parents[1] / "fixtures" / "exercises" / "order-extractor"
# The reference's eight probes take ~25 s on a quiet two-core machine, the stall probe alone its 6 s
# deadline; a loaded machine starts each sandbox several times slower.
GRADING_TIMEOUT_S = 240
# Titles only help-desk declares: a page that shows one of them for this package is not reading the package.
HELPDESK_TITLES = ("Injection and leakage", "Transient faults", "Output handling", "Input handling", "Grounding")


class Expectations:
    """What the pages must show of the package: every unmet one is reported at the end, together."""

    def __init__(self):
        self.unmet: list[str] = []

    def that(self, condition: bool, what: str) -> None:
        if not condition:
            self.unmet.append(what)

    def shows_the_modes(self, where: str, text: str, modes, *, hints: bool = False) -> None:
        for mode in modes:
            self.that(mode.title in text, f"{where}: the failure mode title {mode.title!r}")
            if hints:
                self.that(mode.hint in text, f"{where}: the hint of {mode.slug!r} ({mode.hint!r})")
        for title in HELPDESK_TITLES:
            self.that(title not in text, f"{where}: no help-desk failure mode ({title!r} is shown)")


def _context(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page


def test_a_package_that_is_not_help_desk_goes_from_invitation_to_feedback(
    browser, live_server, screenshot, celery_worker, manager, reviewer, tmp_path
):
    package = load_package(PACKAGE)
    modes = package.failure_modes
    exercise, _ = exercise_sync(package=package)
    rubric = Rubric.objects.get(slug=exercise.rubric_slug)
    assessment = assessment_create(
        owner=manager,
        title="Order automation engineer",
        exercise=exercise,
        rubric=rubric,
        closes_at=timezone.now() + timedelta(days=30),
        reviewers_per_submission=1,
    )
    expect = Expectations()
    staff, staff_page = _context(browser, live_server)
    candidate, candidate_page = _context(browser, live_server)
    try:
        # --- The manager invites a candidate from the assessment's page ---------------------------
        login(staff_page, manager.username)
        staff_page.goto(f"/assessments/{assessment.pk}/")
        staff_page.get_by_label("Name").fill("Dana Candidate")
        staff_page.get_by_label("Email").fill("dana@example.com")
        staff_page.get_by_role("button", name="Invite", exact=True).click()
        staff_page.get_by_text("Invited Dana Candidate (dana@example.com).").wait_for()
        (email,) = mail.outbox
        token = re.search(r"/t/([^/\s]+)/", email.body).group(1)
        invitation = Invitation.objects.get(candidate__email="dana@example.com")

        # --- The candidate reads the brief, starts, takes the kit and uploads the reference --------
        page = candidate_page
        page.goto(f"/t/{token}/")
        page.get_by_role("heading", name="Welcome, Dana Candidate").wait_for()
        page.get_by_role("link", name="Read the brief").click()
        page.get_by_role("heading", name="Harden the order extractor", level=1).wait_for()
        assert page.get_by_text("extract(request: dict) -> dict").is_visible()
        page.get_by_role("link", name="I’m ready to start").click()
        page.get_by_role("button", name="Start now").click()
        page.get_by_role("heading", name="Your take-home").wait_for()
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download the starter kit").click()
        kit = tmp_path / "kit.zip"
        download_info.value.save_as(kit)
        with zipfile.ZipFile(kit) as zf:
            names = set(zf.namelist())
        assert {
            "order-extractor-starter/orders/extractor.py",
            "order-extractor-starter/devtools/fakemodel/__init__.py",
        } <= names
        assert not any("/hidden/" in n or "/reference/" in n for n in names)

        page.set_input_files(
            "#id_archive",
            files=[{"name": "orders.zip", "mimeType": "application/zip", "buffer": zip_folder(PACKAGE / "reference")}],
        )
        page.get_by_role("button", name="Upload").click()
        page.wait_for_url(f"**/portal/{invitation.pk}/status/")
        page.get_by_text("Upload 1 received.").wait_for()
        submission = Submission.objects.get(invitation=invitation)
        run = graded_by_the_worker(submission, timeout=GRADING_TIMEOUT_S)
        assert run.state == GradingRun.DONE, run.infra_error
        assert run.exercise.version == package.version
        assert run.isolation.get("sandboxed") is True
        outcomes = dict(run.results.values_list("probe_id", "outcome"))
        assert len(outcomes) == 8 and set(outcomes.values()) == {"pass"}, outcomes
        # Graded, and a reviewer assigned at once: the page moves on to the review by itself.
        page.get_by_text("Under review.", exact=True).wait_for(timeout=30_000)
        screenshot(page, "second-package-portal-under-review")

        # --- A reviewer reads the evidence and scores every criterion -------------------------------
        review = wait_for(lambda: Review.objects.filter(submission=submission).first(), message="the review")
        assert review.reviewer == reviewer
        staff.clear_cookies()
        page = staff_page
        login(page, reviewer.username)
        page.goto("/reviews/")
        page.get_by_role("link", name=f"Candidate {invitation.pseudonym}").click()
        page.get_by_role("heading", name=f"Candidate {invitation.pseudonym}").wait_for()
        evidence = page.locator("#evidence")
        # Passing probes are folded (their calls are in the page); the reviewer opens them to read.
        page.evaluate("document.querySelectorAll('#evidence details').forEach(d => { d.open = true; })")
        evidence_text = evidence.inner_text()
        expect.that(
            evidence.locator("summary h3").all_inner_texts() == [m.title for m in modes],
            "review page: one group per failure mode of the package, titled from exercise.toml, in its order",
        )
        expect.shows_the_modes("review page", evidence_text, modes)
        # The calls, rendered from the contract: the object that went in and the object that came back.
        expect.that("12 units of KT-2041" in evidence_text, "review page: the input's email text")
        expect.that("cafe-001" in evidence_text, "review page: the input's customer_id")
        expect.that("ship_by" in evidence_text, "review page: the returned order's keys (ship_by)")
        expect.that("2026-12-04" in evidence_text, "review page: the returned order's values (2026-12-04)")
        expect.that("needs_human" in evidence_text, "review page: the returned status needs_human")
        expect.that("(no answer text)" not in evidence_text, "review page: no help-desk 'answer' field")
        screenshot(page, "second-package-review")

        criteria = list(rubric.criteria.order_by("position"))
        assert [c.slug for c in criteria] == ["schema", "ambiguity", "outage", "notes-and-tests"]
        for criterion in criteria:
            fieldset = page.locator(f"#criterion-{criterion.pk}")
            fieldset.locator("label.level").nth(3).click()
            page.locator(f"#status-{criterion.pk}.is-saved").wait_for()
            fieldset.locator("textarea").fill(f"Level 3 on {criterion.title}.")
        # A note saves itself 800 ms after the last keystroke; submitting needs every one saved.
        wait_for(
            lambda: CriterionScore.objects.filter(review=review, note__startswith="Level 3").count() == len(criteria),
            timeout=15,
            message="the notes to be saved",
        )
        # The recommendation and takeaways are the review page's own test's subject; set them here.
        review.refresh_from_db()  # in progress since its first score
        review_verdict(review)
        page.once("dialog", lambda dialog: dialog.accept())  # "Submit for good?"
        page.get_by_role("button", name="Submit review").click()
        page.get_by_text("Review submitted.").wait_for()
        review.refresh_from_db()
        assert review.state == Review.SUBMITTED

        # --- The manager reads the scorecard, decides, and releases the feedback --------------------
        staff.clear_cookies()
        login(page, manager.username)
        page.goto(f"/reports/assessments/{assessment.pk}/candidates/{invitation.pk}/")
        page.get_by_role("heading", name="Dana Candidate").wait_for()
        total = sum(c.weight * 3 for c in criteria)
        assert page.locator('[data-figure="rubric-total"]').inner_text() == level(total)
        expect.that(page.locator('[data-figure="probe-rate"]').inner_text() == pct(1.0), "scorecard: 100% of probes")
        probes_card = page.locator("section", has=page.get_by_role("heading", name="Probes by failure mode"))
        for mode in modes:
            expect.that(
                probes_card.locator(f'tbody.probe-group[data-mode="{mode.slug}"]').count() == 1,
                f"scorecard: a group for the failure mode {mode.slug!r}",
            )
        expect.shows_the_modes("scorecard", probes_card.inner_text(), modes)
        screenshot(page, "second-package-scorecard")
        page.get_by_label("Advance").check()
        page.get_by_label("Reason").fill("Books only what the email states.")
        page.get_by_role("button", name="Record decision").click()
        page.get_by_text("Decision recorded: Advance.").wait_for()

        page.goto(f"/assessments/{assessment.pk}/")
        page.get_by_role("link", name="Feedback for Dana Candidate").click()
        page.get_by_role("heading", name="Feedback for Dana Candidate").wait_for()
        preview = page.locator("section", has=page.locator("#preview-title"))
        expect.shows_the_modes("feedback preview", preview.inner_text(), modes, hints=True)
        release = page.get_by_role("button", name="Release this summary to the candidate")
        expect.that(release.count() == 1, "feedback preview: the manager can release the summary")
        if release.count() == 1:
            release.click()
            page.get_by_role("heading", name="Released").wait_for()

            # --- The candidate reads one verdict per failure mode of this package ---------------------
            page = candidate_page
            page.goto(f"/portal/{invitation.pk}/status/")
            page.get_by_role("heading", name="Feedback from the automatic checks").wait_for()
            feedback = page.locator("section", has=page.locator("#feedback-title"))
            expect.shows_the_modes("candidate feedback", feedback.inner_text(), modes, hints=True)
            screenshot(page, "second-package-portal-feedback")
        else:
            expect.that(False, "candidate feedback: not reachable, the manager could not release it")
    finally:
        staff.close()
        candidate.close()

    assert expect.unmet == [], "The pages do not show the package yet:\n- " + "\n- ".join(expect.unmet)
