"""The assessment page as a manager uses it (#20, point 12): readable states, names that lead to the
scorecard, no resend for a decided candidate, counts on the filters, live progress, and a phone."""

import pytest

from assessments.models import GradingRun
from candidates.models import Invitation
from candidates.services import candidate_get_or_create, invitation_create, invitation_start
from tests.browser.conftest import PHONE, login
from tests.builders import graded_submission, make_zip
from workflows.uploads import submission_accept

pytestmark = pytest.mark.browser


@pytest.fixture
def cohort(assessment, manager):
    def invite(name):
        candidate = candidate_get_or_create(name=name, email=f"{name.split()[0].lower()}@example.com")
        return invitation_create(assessment=assessment, candidate=candidate, invited_by=manager)[0]

    decided = graded_submission(assessment, name="Dee Decided", email="dee@example.com").invitation
    Invitation.objects.filter(pk=decided.pk).update(state=Invitation.DECIDED)
    failed = graded_submission(assessment, name="Fay Failed", email="fay@example.com").invitation
    GradingRun.objects.filter(submission__invitation=failed).update(
        state=GradingRun.FAILED_INFRA, infra_error="the sandbox could not start: bwrap missing"
    )
    running = invite("Ray Running")
    invitation_start(invitation=running)
    submission = submission_accept(invitation=running, archive=make_zip({"echo/__init__.py": "# x\n"}))
    run = submission.grading_runs.get()
    GradingRun.objects.filter(pk=run.pk).update(state=GradingRun.RUNNING, progress_done=8, progress_total=40)
    invite("Ivy Invited")
    return {"decided": decided, "failed": failed, "running": run}


def test_the_assessment_page_says_what_is_going_on_and_leads_on(page, screenshot, manager, assessment, cohort):
    login(page, manager.username)
    page.goto(f"/assessments/{assessment.pk}/")
    table = page.locator("#invitations-table")

    # Counts on the filters: four candidates, one of them decided.
    filters = page.get_by_role("navigation", name="Filter by state")
    assert filters.get_by_role("link", name="All 4").count() == 1
    assert filters.get_by_role("link", name="Decided 1").count() == 1

    # The failed grading reads as words, with its reason on the page (not only in a tooltip).
    fay = table.locator("tr", has_text="Fay Failed")
    assert "Failed (infrastructure)" in fay.inner_text()
    fay.get_by_text("Why (ours, not the candidate's)").click()
    assert "bwrap missing" in fay.inner_text()

    # A decided candidate is not offered a new link.
    dee = table.locator("tr", has_text="Dee Decided")
    assert dee.get_by_role("button", name="Resend link to Dee Decided").count() == 0
    assert table.get_by_role("button", name="Resend link to Ivy Invited").count() == 1

    # "Running 8/40" moves on by itself.
    ray = table.locator("tr", has_text="Ray Running")
    assert "8/40" in ray.inner_text()
    GradingRun.objects.filter(pk=cohort["running"].pk).update(progress_done=31)
    page.locator("#invitations-table tr", has_text="31/40").wait_for(timeout=30_000)
    screenshot(page, "assessment-page")

    # On a phone every column of a row is on screen, the actions included.
    page.set_viewport_size(PHONE)
    actions = page.locator("#invitations-table tr", has_text="Ivy Invited").get_by_role(
        "button", name="Resend link to Ivy Invited"
    )
    box = actions.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"], box
    grading = page.locator("#invitations-table tr", has_text="Fay Failed").get_by_role("button", name="Grade again")
    box = grading.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"], box
    screenshot(page, "assessment-page-phone")

    # A name leads to the candidate's scorecard.
    page.set_viewport_size({"width": 1280, "height": 800})
    page.locator("#invitations-table").get_by_role("link", name="Dee Decided", exact=True).click()
    page.get_by_role("heading", name="Dee Decided").wait_for()
    assert f"/candidates/{cohort['decided'].pk}/" in page.url
