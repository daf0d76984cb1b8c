import pytest

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_logs_in_and_sees_the_dashboard(page, screenshot, manager, invitation):
    page.goto("/")
    assert "/login/" in page.url
    screenshot(page, "login")
    screenshot(page, "login", phone=True)
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    assert page.get_by_role("link", name=invitation.assessment.title).is_visible()
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Assessments").is_visible()
    screenshot(page, "dashboard-manager")
    screenshot(page, "dashboard-manager", phone=True)

    page.get_by_role("link", name=invitation.assessment.title).click()
    page.get_by_role("cell", name="Dana Candidate dana@example.com").wait_for()
    page.get_by_role("link", name="Started 0", exact=True).click()  # each filter shows its count
    page.get_by_text("No candidate is in this state.").wait_for()
    assert page.url.endswith("?state=started")
    assert page.get_by_role("link", name="Started").get_attribute("aria-current") == "true"
    assert page.get_by_role("link", name="All 1", exact=True).get_attribute("aria-current") is None
    assert page.locator("#invitations").count() == 1
    screenshot(page, "assessment-detail")


def test_a_wrong_password_shows_an_error(page, manager):
    page.goto("/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("Please enter a correct username and password")


def test_a_reviewer_sees_their_queue_and_not_the_manager_pages(page, reviewer, live_server):
    page.goto("/login/")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="My reviews").is_visible()
    assert nav.get_by_role("link", name="Assessments").count() == 0
    response = page.goto("/assessments/")
    assert response.status == 403
    page.goto("/reviews/")
    page.get_by_text("Nothing to review yet.").wait_for()


def test_signing_in_upgrades_an_old_slow_hash_to_argon2(page, reviewer, settings):
    # Point 15 of #20: a sign-in spent most of its time in PBKDF2's 1.5M iterations. The production
    # hashers (not the suite's fast one) must verify the old hash once and store Argon2 instead.
    from django.conf import settings as django_settings
    from django.contrib.auth.hashers import make_password

    from config import settings as production

    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS
    assert django_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    reviewer.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    reviewer.save(update_fields=["password"])

    page.goto("/login/")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()

    reviewer.refresh_from_db()
    assert reviewer.password.startswith("argon2$")
