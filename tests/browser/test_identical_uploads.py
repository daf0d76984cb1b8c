"""Byte-identical archives across candidates (#20, point 4): worth a look on both scorecards and in the
comparison, and never a word of another manager's candidates."""

from datetime import timedelta

import pytest
from django.utils import timezone

from assessments.services import assessment_create
from rubrics.models import Rubric
from tests.browser.conftest import login
from tests.builders import graded_submission, make_zip

pytestmark = pytest.mark.browser

SHARED = make_zip({"echo/__init__.py": "def answer(q):\n    return 'copied'\n"})
OWN = make_zip({"echo/__init__.py": "def answer(q):\n    return 'mine'\n"})


def _upload(assessment, name, archive):
    email = f"{name.split()[0].lower()}@example.com"
    return graded_submission(assessment, name=name, email=email, archive=archive).invitation


def test_two_candidates_with_the_same_archive_are_flagged_on_both_scorecards_and_in_the_comparison(
    page, screenshot, assessment, other_manager, exercise
):
    ada = _upload(assessment, "Ada Same", SHARED)
    ben = _upload(assessment, "Ben Same", SHARED)
    cy = _upload(assessment, "Cy Own", OWN)
    theirs = assessment_create(
        owner=other_manager,
        title="Another team's opening",
        exercise=exercise,
        rubric=Rubric.objects.get(slug=exercise.rubric_slug),
        closes_at=timezone.now() + timedelta(days=30),
    )
    _upload(theirs, "Eve Other Team", SHARED)

    login(page, assessment.owner.username)
    page.goto(f"/reports/assessments/{assessment.pk}/comparison/")
    for invitation in (ada, ben):
        row = page.locator(f'tr[data-invitation="{invitation.pk}"]')
        assert row.locator('[data-badge="identical"]').is_visible()
    assert page.locator(f'tr[data-invitation="{cy.pk}"] [data-badge="identical"]').count() == 0
    assert "Eve Other Team" not in page.content()
    screenshot(page, "comparison-identical-upload")

    # Ada's scorecard points at Ben, and the link leads to Ben's, which points back at Ada.
    page.locator(f'tr[data-invitation="{ada.pk}"]').get_by_role("link", name="Ada Same").click()
    notice = page.locator('[data-notice="identical"]')
    assert "Worth a look" in notice.inner_text()
    text = notice.inner_text()
    assert f"Byte-identical to an upload by Ben Same ({assessment.title}, upload #1, " in text
    assert "Eve Other Team" not in page.content()
    screenshot(page, "scorecard-identical-upload")
    screenshot(page, "scorecard-identical-upload", phone=True)
    notice.get_by_role("link", name="Ben Same").click()
    page.wait_for_url(f"**/reports/assessments/{assessment.pk}/candidates/{ben.pk}/")
    back = page.locator('[data-notice="identical"]')
    assert f"Byte-identical to an upload by Ada Same ({assessment.title}, upload #1, " in back.inner_text()
    assert "Eve Other Team" not in page.content()
    back.get_by_role("link", name="Ada Same").click()
    page.wait_for_url(f"**/reports/assessments/{assessment.pk}/candidates/{ada.pk}/")

    # The third candidate, with an archive of their own: nothing to say.
    page.goto(f"/reports/assessments/{assessment.pk}/candidates/{cy.pk}/")
    page.get_by_role("heading", name="Cy Own").wait_for()
    assert page.locator('[data-notice="identical"]').count() == 0

    # The other team's manager sees their own candidate, and nothing of ours.
    page.context.clear_cookies()
    login(page, other_manager.username)
    eve = theirs.invitations.get()
    page.goto(f"/reports/assessments/{theirs.pk}/candidates/{eve.pk}/")
    page.get_by_role("heading", name="Eve Other Team").wait_for()
    assert page.locator('[data-notice="identical"]').count() == 0
    assert "Ada Same" not in page.content() and "Ben Same" not in page.content()
    page.goto(f"/reports/assessments/{theirs.pk}/comparison/")
    assert page.locator('[data-badge="identical"]').count() == 0
