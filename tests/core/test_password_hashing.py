"""Sign-in hashes with Argon2; a password stored with the old PBKDF2 hasher still works and is upgraded."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.urls import reverse

import config.settings as production
from tests.conftest import PASSWORD


def test_it_hashes_new_passwords_with_argon2(settings):
    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS
    assert make_password(PASSWORD).startswith("argon2$")


def test_it_signs_in_an_old_pbkdf2_user_and_rehashes_the_password_to_argon2(client, reviewer, settings):
    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS
    # As stored before the switch, with few iterations to keep the test fast: PBKDF2 verifies at the
    # iteration count written in the hash, so this stands for a 1.5M-iteration one.
    reviewer.password = PBKDF2PasswordHasher().encode(PASSWORD, "oldsalt0123456789", iterations=1000)
    reviewer.save(update_fields=["password"])

    response = client.post(reverse("login"), {"username": reviewer.username, "password": PASSWORD})

    assert response.status_code == 302 and response["Location"] == reverse("assessments:dashboard")
    assert "_auth_user_id" in client.session
    reviewer.refresh_from_db()
    assert reviewer.password.startswith("argon2$")
    client.logout()
    response = client.post(reverse("login"), {"username": reviewer.username, "password": PASSWORD}, follow=True)
    assert response.status_code == 200 and "_auth_user_id" in client.session


def test_it_refuses_a_wrong_password_against_an_old_pbkdf2_hash(client, reviewer, settings):
    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS
    old = PBKDF2PasswordHasher().encode(PASSWORD, "oldsalt0123456789", iterations=1000)
    reviewer.password = old
    reviewer.save(update_fields=["password"])

    response = client.post(reverse("login"), {"username": reviewer.username, "password": "not it"})

    assert response.status_code == 200 and "_auth_user_id" not in client.session
    reviewer.refresh_from_db()
    assert reviewer.password == old
