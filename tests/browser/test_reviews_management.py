"""The managers' reviews pages in a browser (issue #20, points 3 and 13): one test per dead end."""

import pytest
from django.contrib.auth.models import Group, User

from core.roles import REVIEWERS
from rubrics.models import Disagreement, GoldStandard, Review
from rubrics.services import review_assign, review_score_save, review_submit
from tests.browser.conftest import login
from tests.builders import graded_submission, review_verdict
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _submitted(submission, reviewer, level):
    review = review_assign(submission=submission, reviewer=reviewer)
    for criterion in submission.invitation.assessment.rubric.criteria.all():
        review_score_save(review=review, criterion=criterion, level=level, note=f"Level {level}, says {reviewer}.")
    review_verdict(review)
    return review_submit(review=review)


def _disagreements(assessment, reviewer, reviewer2, count):
    """``count`` candidates whose two reviewers are two levels apart on every criterion."""
    submissions = []
    for i in range(count):
        submission = graded_submission(assessment, name=f"Cand {i}", email=f"cand{i}@example.com")
        _submitted(submission, reviewer, 0)
        _submitted(submission, reviewer2, 2)
        submissions.append(submission)
    return submissions


def test_point_3_a_graded_upload_without_reviewers_is_listed_flagged_and_assigned(
    page, screenshot, manager, reviewer, reviewer2, assessment
):
    staffed = graded_submission(assessment, name="Sam Staffed", email="sam@example.com")
    _submitted(staffed, reviewer, 2)
    review_assign(submission=staffed, reviewer=reviewer2)
    bare = graded_submission(assessment)

    login(page, "alice")
    page.goto(f"/reviews/manage/{assessment.pk}/")
    row = page.locator(f"#submission-{bare.pk}")
    assert row.get_by_text("Needs reviewers").is_visible()
    assert row.get_by_text("0 of 2 reviewers").is_visible()
    assert page.locator("tbody tr").first.get_attribute("id") == f"submission-{bare.pk}"  # first in the list
    assert page.get_by_text("1 graded upload needs reviewers").is_visible()
    screenshot(page, "manager-reviews-needing")
    screenshot(page, "manager-reviews-needing", phone=True)

    row.get_by_role("button", name="Assign").click()
    page.get_by_text("Assigned bob, carol.").wait_for()
    assert page.url.endswith(f"#submission-{bare.pk}")
    row = page.locator(f"#submission-{bare.pk}")
    assert row.get_by_text("2 of 2 reviewers").is_visible()
    assert row.get_by_text("Needs reviewers").count() == 0
    assert set(Review.objects.filter(submission=bare).values_list("reviewer__username", flat=True)) == {"bob", "carol"}
    screenshot(page, "manager-reviews-assigned")
    screenshot(page, "manager-reviews-assigned", phone=True)


def test_point_13_no_add_another_reviewer_when_nobody_is_left(page, manager, reviewer, reviewer2, assessment):
    [submission] = _disagreements(assessment, reviewer, reviewer2, 1)
    login(page, "alice")
    page.goto("/reviews/disagreements/")
    article = page.locator("article.disagreement").first
    assert article.get_by_text("Every reviewer of this assessment is already on it").is_visible()
    assert article.get_by_label("Or add another reviewer").count() == 0
    assert article.get_by_role("link", name="add reviewers to the assessment").is_visible()
    page.goto(f"/reviews/manage/{assessment.pk}/")
    row = page.locator(f"#submission-{submission.pk}")
    assert row.get_by_text("Every reviewer of this assessment is already on it").is_visible()
    assert row.get_by_role("button", name="Assign").count() == 0
    assert row.get_by_role("button", name="Reassign").count() == 0


def test_point_13_assigning_nobody_says_so_and_is_not_a_success(page, manager, reviewer, reviewer2, assessment):
    submission = graded_submission(assessment)
    login(page, "alice")
    page.goto(f"/reviews/manage/{assessment.pk}/")
    row = page.locator(f"#submission-{submission.pk}")
    assert row.get_by_label("Add a reviewer").input_value() == ""  # "Balance automatically"
    # Meanwhile the grading worker (or another tab) gave it both its reviewers.
    review_assign(submission=submission, reviewer=reviewer)
    review_assign(submission=submission, reviewer=reviewer2)
    row.get_by_role("button", name="Assign").click()
    message = page.locator(".message").first
    message.wait_for()
    assert "Nobody was assigned" in message.inner_text()
    assert "message-error" in (message.get_attribute("class") or "")
    assert page.locator(".message-success").count() == 0


def test_point_13_an_empty_gold_form_is_refused_and_levels_show_their_anchors(page, screenshot, manager, assessment):
    submission = graded_submission(assessment)
    grounding = assessment.rubric.criteria.get(slug="grounding")
    login(page, "alice")
    page.goto(f"/reviews/manage/{assessment.pk}/")
    page.locator(f"#submission-{submission.pk}").get_by_role("link", name="Mark as gold").click()
    page.get_by_role("heading", name="Calibration: Dana Candidate, upload #1").wait_for()
    picker = page.locator(f"#gold-{grounding.pk}")
    for level, anchor in enumerate(grounding.anchors):
        assert picker.locator("label.level").nth(level + 1).inner_text().split(None, 1) == [str(level), anchor]

    page.get_by_label("Label").fill("reference")
    page.get_by_role("button", name="Save expected levels").click()
    page.get_by_text("Nothing to save: choose the expected level of at least one criterion.").wait_for()
    assert "/gold/" in page.url
    assert not GoldStandard.objects.filter(submission=submission).exists()
    screenshot(page, "manager-gold-refused")

    picker.get_by_text("Verifies quotes and abstains.").click()
    page.get_by_role("button", name="Save expected levels").click()
    page.get_by_text("Calibration levels saved for 1 of 2 criteria.").wait_for()
    assert page.url.endswith(f"#submission-{submission.pk}")
    assert GoldStandard.objects.get(submission=submission).expected_level == 3


def test_point_13_resolve_pickers_show_the_anchors_and_who_chose_each(page, manager, reviewer, reviewer2, assessment):
    _disagreements(assessment, reviewer, reviewer2, 1)
    grounding = assessment.rubric.criteria.get(slug="grounding")
    disagreement = Disagreement.objects.get(criterion=grounding)
    login(page, "alice")
    page.goto("/reviews/disagreements/")
    levels = page.locator(f"#disagreement-{disagreement.pk} label.level")
    assert levels.count() == 4
    for level, anchor in enumerate(grounding.anchors):
        assert anchor in levels.nth(level).inner_text()
    assert "chosen by bob" in levels.nth(0).inner_text()
    assert "chosen by carol" in levels.nth(2).inner_text()


def test_point_13_resolving_stays_at_the_row_under_the_same_filter(
    page, screenshot, manager, reviewer, reviewer2, assessment
):
    _disagreements(assessment, reviewer, reviewer2, 3)
    last = Disagreement.objects.order_by("flagged_at", "pk").last()
    login(page, "alice")
    listing = f"/reviews/disagreements/?show=open&assessment={assessment.pk}"
    page.goto(listing)
    screenshot(page, "manager-disagreements-open")
    screenshot(page, "manager-disagreements-open", phone=True)
    article = page.locator(f"#disagreement-{last.pk}")
    article.scroll_into_view_if_needed()
    article.locator("label.level").nth(1).click()
    article.get_by_label("Calibration note").fill("Both half right: it cites, but never checks.")
    article.get_by_role("button", name="Resolve").click()
    article.get_by_text("Resolved at level 1 by alice").wait_for()
    assert page.url.endswith(listing)
    assert page.evaluate("window.scrollY") > 0
    assert page.locator("article.disagreement").count() == 6  # the others are still there, unresolved
    assert Disagreement.objects.get(pk=last.pk).resolved_level == 1
    screenshot(page, "manager-disagreements-resolved")


def test_point_13_without_javascript_resolving_returns_to_the_filter_and_the_row(
    browser, live_server, manager, reviewer, reviewer2, assessment
):
    _disagreements(assessment, reviewer, reviewer2, 3)
    last = Disagreement.objects.order_by("flagged_at", "pk").last()
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=False, viewport={"width": 1280, "height": 800}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        login(page, "alice")
        page.goto(f"/reviews/disagreements/?show=open&assessment={assessment.pk}")
        article = page.locator(f"#disagreement-{last.pk}")
        article.locator("label.level").nth(0).click()
        article.get_by_label("Calibration note").fill("Nothing is grounded.")
        article.get_by_role("button", name="Resolve").click()
        page.wait_for_url(f"**resolved={last.pk}#disagreement-{last.pk}")
        assert f"show=open&assessment={assessment.pk}" in page.url
        assert page.locator(f"#disagreement-{last.pk}").get_by_text("Resolved at level 0 by alice").is_visible()
        assert page.evaluate("window.scrollY") > 0
    finally:
        context.close()


def test_point_13_an_added_third_reviewer_returns_to_the_row(page, manager, reviewer, reviewer2, assessment):
    _disagreements(assessment, reviewer, reviewer2, 2)
    dave = User.objects.create_user(username="dave", password=PASSWORD)
    dave.groups.add(Group.objects.get(name=REVIEWERS))
    last = Disagreement.objects.order_by("flagged_at", "pk").last()
    login(page, "alice")
    listing = f"/reviews/disagreements/?show=all&assessment={assessment.pk}"
    page.goto(listing)
    article = page.locator(f"#disagreement-{last.pk}")
    article.get_by_label("Or add another reviewer").select_option(label="dave")
    article.get_by_role("button", name="Assign").click()
    page.get_by_text("dave now reviews this upload.").wait_for()
    assert page.url.endswith(f"{listing}#disagreement-{last.pk}")
    assert page.locator(f"#disagreement-{last.pk}").get_by_text("dave: to do").is_visible()
