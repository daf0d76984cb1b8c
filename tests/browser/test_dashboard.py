"""The manager's dashboard (#20, point 7): a task list of what needs them, each a link, and a real funnel."""

import pytest

from assessments.models import GradingRun
from candidates.models import Invitation
from rubrics.models import Disagreement, Review
from tests.browser.conftest import login
from tests.reports.conftest import Builder, result

pytestmark = pytest.mark.browser


def test_the_dashboard_lists_what_needs_the_manager_and_how_far_candidates_got(
    page, screenshot, manager, reviewer, reviewer2, assessment
):
    build = Builder(assessment, manager, [reviewer, reviewer2])
    reviewed = build("Rey Reviewed", Invitation.REVIEWED, results=[result("p1", "grounding", "pass")])
    criterion = assessment.rubric.criteria.first()
    Disagreement.objects.create(submission=reviewed.submissions.get(), criterion=criterion, low=0, high=2)
    graded = build("Gus Graded", Invitation.GRADED, results=[result("p1", "grounding", "fail")])
    Review.objects.filter(submission__invitation=graded).delete()  # nobody reviews Gus yet
    withdrawn = build("Wes Withdrawn", Invitation.SUBMITTED)
    Invitation.objects.filter(pk=withdrawn.pk).update(state=Invitation.WITHDRAWN)
    failed = build("Fia Failed", Invitation.GRADED)
    Invitation.objects.filter(pk=failed.pk).update(state=Invitation.SUBMITTED)  # as a failed grading leaves it
    GradingRun.objects.filter(submission__invitation=failed).update(
        state=GradingRun.FAILED_INFRA, infra_error="sandbox unavailable"
    )
    build("Ina Invited")

    login(page, manager.username)
    tasks = page.locator("#needs-you")
    assert "1 candidate to decide on" in tasks.inner_text()
    assert "1 disagreement to resolve" in tasks.inner_text()
    assert "1 graded upload without enough reviewers" in tasks.inner_text()
    assert "1 upload we could not check" in tasks.inner_text()
    screenshot(page, "dashboard-tasks")
    screenshot(page, "dashboard-tasks", phone=True)

    # A funnel, not the current states: Wes was withdrawn after uploading and still counts as submitted.
    row = page.locator("#reach-table tr", has_text=assessment.title)
    figure = {stage: row.locator(f'[data-stage="{stage}"]').inner_text().split()[0] for stage in
              ("invited", "started", "submitted", "graded", "reviewed", "decided")}  # fmt: skip
    assert figure == {"invited": "5", "started": "4", "submitted": "4", "graded": "2", "reviewed": "1", "decided": "0"}

    # Each task leads to where it is done.
    tasks.get_by_role("link", name="1 candidate to decide on").click()
    page.wait_for_url(f"**/reports/assessments/{assessment.pk}/comparison/?state=reviewed")
    assert "Rey Reviewed" in page.content() and "Gus Graded" not in page.locator("table").first.inner_text()
    page.go_back()
    page.locator("#needs-you").get_by_role("link", name="1 disagreement to resolve").click()
    page.wait_for_url("**/reviews/disagreements/?assessment=*")
    page.go_back()
    page.locator("#needs-you").get_by_role("link", name="without enough reviewers").click()
    page.wait_for_url(f"**/reviews/manage/{assessment.pk}/")
    assert "Needs reviewers" in page.content()
    page.go_back()
    page.locator("#needs-you").get_by_role("link", name="1 upload we could not check").click()
    assert (
        page.locator("#grading-failures").is_visible()
        and "Fia Failed" in page.locator("#grading-failures").inner_text()
    )
