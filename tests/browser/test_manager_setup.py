"""A new hiring manager sets everything up in the app, never in the admin (#15's acceptance).

Creates an assessment, invites a candidate, adds a webhook endpoint, records a decision, and sees
the signed delivery arrive at a local receiver that verifies it the Standard Webhooks way.
"""

import pytest

from candidates.models import Invitation
from reports.models import WebhookDelivery
from tests.browser.conftest import login
from tests.conftest import _user
from tests.reports.test_webhooks import Receiver
from tests.workers import wait_for

pytestmark = pytest.mark.browser


def test_a_new_manager_sets_up_an_opening_and_hears_the_decision_signed(
    page, screenshot, celery_worker, exercise, reviewer, settings
):
    from core.roles import MANAGERS

    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # the receiver listens on this machine
    newcomer = _user("nora", MANAGERS, first_name="Nora", last_name="New", is_staff=True)
    login(page, "nora")

    # No admin, whatever the staff flag says; and no link to it.
    assert page.get_by_role("link", name="Admin").count() == 0
    page.goto("/admin/")
    assert "/admin/login/" in page.url

    # The empty dashboard leads to the new-assessment page.
    page.goto("/")
    page.get_by_role("link", name="Create one").click()
    page.get_by_role("heading", name="New assessment").wait_for()
    page.get_by_label("Title").fill("Applied AI engineer, spring")
    page.get_by_label("Take-home and version").select_option(
        label=f"{exercise.title} — version {exercise.version} (newest)"
    )
    page.get_by_label("Reviewers per upload").fill("1")
    page.get_by_label("bob").check()
    page.get_by_label("Keep candidates' data for (months)").fill("6")
    screenshot(page, "setup-new-assessment")
    page.get_by_role("button", name="Create assessment").click()
    page.get_by_role("heading", name="Applied AI engineer, spring").wait_for()

    # Invite one candidate from the assessment's page.
    page.get_by_label("Name").fill("Quinn Candidate")
    page.get_by_label("Email").fill("quinn@example.com")
    page.get_by_role("button", name="Invite", exact=True).click()
    page.get_by_text("Invited Quinn Candidate").wait_for()
    invitation = Invitation.objects.get(candidate__email="quinn@example.com")
    assert invitation.assessment.owner == newcomer and invitation.assessment.retention_months == 6

    with Receiver(secret="not-yet-known") as receiver:
        # Add the endpoint; the secret is on the next page, once.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
        page.get_by_label("Name").fill("Our ATS")
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_role("button", name="Add endpoint").click()
        secret = page.locator("#signing-secret").inner_text().strip()
        assert secret.startswith("whsec_")
        screenshot(page, "setup-webhook-secret")
        receiver.secret = secret
        page.get_by_role("link", name="I have stored it").click()
        assert secret not in page.content()

        # The review is not this test's subject: the candidate is brought to "reviewed" directly.
        Invitation.objects.filter(pk=invitation.pk).update(state=Invitation.REVIEWED)

        page.goto(f"/reports/assessments/{invitation.assessment_id}/candidates/{invitation.pk}/")
        page.get_by_label("Advance").check()
        page.get_by_label("Reason").fill("Thought about every failure mode we care about.")
        page.get_by_role("button", name="Record decision").click()
        page.get_by_text("Decision recorded: Advance.").wait_for()
        wait_for(
            lambda: WebhookDelivery.objects.filter(status=WebhookDelivery.DELIVERED).exists(),
            timeout=60,
            message="the decision to reach the receiver",
        )

    assert [r["verdict"] for r in receiver.requests] == ["ok"]
    body = receiver.accepted[0]["body"]
    assert body["outcome"] == "advance" and body["candidate"]["email"] == "quinn@example.com"
    assert receiver.accepted[0]["headers"]["webhook-signature"].startswith("v1,")
    endpoint_page = page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks")
    endpoint_page.click()
    page.get_by_role("link", name="Our ATS").click()
    page.locator("#deliveries-table").get_by_text("Delivered").wait_for()
    screenshot(page, "setup-webhook-endpoint")
