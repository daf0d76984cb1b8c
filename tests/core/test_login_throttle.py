"""Staff sign-in is throttled per account and per client, before any password is hashed."""

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.urls import reverse

from core.login_throttle import login_throttle_clear
from core.models import AuditEvent
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
LOGIN = "/login/"
REDIS_CACHE = "redis://127.0.0.1:6379/12"


class CountingHasher(MD5PasswordHasher):
    """The suite's hasher, counting how often a password is hashed (the CPU a sign-in costs): checking
    one hashes it too, through encode."""

    calls = 0

    def encode(self, password, salt):
        CountingHasher.calls += 1
        return super().encode(password, salt)


@pytest.fixture
def hashes(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    CountingHasher.calls = 0
    return CountingHasher


def _sign_in(client, username, password, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def _alert(response) -> str:
    return re.search(r'role="alert">(.*?)</div>', response.content.decode(), re.S).group(1)


def _fail(client, username, times, **extra):
    for _ in range(times):
        response = _sign_in(client, username, "wrong password", **extra)
        assert response.status_code == 200, response.status_code
        assert "Please enter a correct username and password" in response.content.decode()


def test_forty_wrong_passwords_then_the_right_one_does_not_sign_in(client, manager, settings):
    """The issue's report, replayed."""
    for _ in range(40):
        _sign_in(client, "alice", "wrong password")
    response = _sign_in(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert not _signed_in(client)


def test_it_locks_the_account_after_ten_failures_even_for_the_right_password(client, manager, settings, hashes):
    assert settings.LOGIN_FAILURES_PER_ACCOUNT == 10 and settings.LOGIN_THROTTLE_WINDOW_S == 15 * 60
    _fail(client, "alice", 10)
    assert hashes.calls == 10

    response = _sign_in(client, "alice", PASSWORD)

    assert response.status_code == 429
    assert response["Retry-After"] in {"899", "900"}
    html = response.content.decode()
    assert "Too many failed sign-ins for this username" in html
    assert "try again in 15 minutes" in html
    assert 'role="alert"' in html and "<form" in html  # the page, with its message, not a bare error
    assert not _signed_in(client)
    assert hashes.calls == 10  # the locked attempt ran no hash: it costs no CPU


def test_a_lock_is_audited_once_with_the_account_and_the_client(client, manager, settings):
    _fail(client, "alice", 10)
    for _ in range(3):
        assert _sign_in(client, "alice", PASSWORD).status_code == 429

    events = list(AuditEvent.objects.filter(action="login.locked"))
    assert len(events) == 1
    event = events[0]
    assert event.target_type == "auth.user" and event.target_id == str(manager.pk)
    assert event.actor_label == "client:127.0.0.1"
    assert event.data == {
        "scope": "account",
        "failures": 10,
        "locked_for_s": 900,
        "client": "127.0.0.1",
        "username": "alice",
    }


def test_the_lock_expires(client, manager, settings):
    _fail(client, "alice", 9)
    settings.LOGIN_THROTTLE_WINDOW_S = 1  # the lock the tenth failure sets lasts one second
    _fail(client, "alice", 1)
    response = _sign_in(client, "alice", PASSWORD)
    assert response.status_code == 429 and "try again in 1 minute." in response.content.decode()

    deadline = time.monotonic() + 30
    while (response := _sign_in(client, "alice", PASSWORD)).status_code == 429:
        assert time.monotonic() < deadline, "the lock never expired"
        time.sleep(0.2)
    assert response.status_code == 302 and _signed_in(client)


def test_a_successful_sign_in_clears_the_account_count(client, manager):
    _fail(client, "alice", 9)
    assert _sign_in(client, "alice", PASSWORD).status_code == 302
    client.logout()
    _fail(client, "alice", 9)
    assert _sign_in(client, "alice", PASSWORD).status_code == 302


def test_the_account_lock_counts_failures_from_every_client(client, manager):
    for i in range(10):
        _fail(client, "alice", 1, REMOTE_ADDR=f"198.51.100.{i}")
    response = _sign_in(client, "alice", PASSWORD, REMOTE_ADDR="203.0.113.77")
    assert response.status_code == 429 and not _signed_in(client)


def test_the_client_lock_counts_every_username_and_spares_other_clients(client, manager, reviewer, settings):
    assert settings.LOGIN_FAILURES_PER_CLIENT == 30
    for i in range(30):
        _fail(client, f"guess{i}", 1)  # never the same name twice: only the client limit applies
    response = _sign_in(client, "bob", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-ins from your network" in response.content.decode()
    assert AuditEvent.objects.get(action="login.locked").data["scope"] == "client"

    assert _sign_in(client, "bob", PASSWORD, REMOTE_ADDR="203.0.113.5").status_code == 302


def test_a_forged_x_forwarded_for_does_not_escape_the_client_lock(client, db, settings):
    assert settings.TRUSTED_PROXY_COUNT == 0
    for i in range(30):
        _fail(client, f"guess{i}", 1, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    assert _sign_in(client, "someone", "x", HTTP_X_FORWARDED_FOR="192.0.2.200").status_code == 429


def test_behind_one_proxy_it_counts_the_address_the_proxy_saw(client, db, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for i in range(30):
        _fail(client, f"guess{i}", 1, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, 203.0.113.9")
    assert _sign_in(client, "x", "y", HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.9").status_code == 429
    assert _sign_in(client, "x", "y", HTTP_X_FORWARDED_FOR="203.0.113.10").status_code == 200
    assert AuditEvent.objects.get(action="login.locked").data["client"] == "203.0.113.9"


def test_an_unknown_username_locks_the_same_way_and_says_nothing_of_accounts(client, db, manager):
    _fail(client, "nobody", 10)
    _fail(client, "alice", 10)
    unknown, known = (_sign_in(client, name, "x") for name in ("nobody", "alice"))
    assert unknown.status_code == known.status_code == 429
    assert _alert(unknown) == _alert(known)
    assert "Too many failed sign-ins for this username" in _alert(unknown)
    locks = AuditEvent.objects.filter(action="login.locked").order_by("id")
    assert [(e.target_type, e.data["username"]) for e in locks] == [("", None), ("auth.user", "alice")]


def test_usernames_are_counted_as_one_whatever_their_case_and_spacing(client, manager):
    for name in ["alice", "Alice", " ALICE ", "alice\u00a0", "ａｌｉｃｅ"] * 2:  # the last: fullwidth letters
        _sign_in(client, name, "wrong password")
    assert _sign_in(client, "alice", PASSWORD).status_code == 429


def test_the_admin_sign_in_counts_against_the_same_limit(client, manager):
    for _ in range(10):
        client.post("/admin/login/", {"username": "alice", "password": "wrong password"})
    response = client.post("/admin/login/", {"username": "alice", "password": PASSWORD})
    assert "Too many failed sign-ins for this username" in response.content.decode()
    assert not _signed_in(client)
    assert _sign_in(client, "alice", PASSWORD).status_code == 429


def test_an_operator_can_lift_a_lock(client, manager):
    from django.core.management import call_command

    _fail(client, "alice", 10)
    assert _sign_in(client, "alice", PASSWORD).status_code == 429
    call_command("login_unlock", "Alice")
    assert _sign_in(client, "alice", PASSWORD).status_code == 302


def test_the_login_page_still_signs_in_and_redirects_a_signed_in_user(client, manager):
    response = _sign_in(client, "alice", PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("assessments:dashboard")
    assert client.get(LOGIN).status_code == 302


# --- Shared by every web process --------------------------------------------------------------------


def _other_process(code: str) -> str:
    """Run ``code`` in a Django process of its own, on the same Redis cache: another web process."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "CACHE_URL": REDIS_CACHE}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--verbosity", "0", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_counts_are_shared_by_every_process_through_redis(client, manager, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_CACHE}}
    # Names and an address of this run's own, so that no other run's counts (nor ours for theirs) matter.
    username, address = f"alice-{uuid.uuid4().hex[:8]}", f"10.{os.getpid() % 250}.{uuid.uuid4().int % 250}.7"
    manager.username = username
    manager.save()
    try:
        other = "from core.login_throttle import *\n"
        # Five failures counted by another process...
        _other_process(
            other
            + "for _ in range(5):\n"
            + f"    assert login_attempt_begin(username={username!r}, client={address!r}) is None\n"
            + f"    login_attempt_failed(username={username!r}, client={address!r})\n"
        )
        # ...and five here make ten: the account locks.
        _fail(client, username, 5, REMOTE_ADDR=address)
        assert _sign_in(client, username, PASSWORD, REMOTE_ADDR=address).status_code == 429
        assert AuditEvent.objects.get(action="login.locked").data["failures"] == 10
        # A third process sees the lock too.
        seen = _other_process(other + f"print(login_lock_get(username={username!r}, client='192.0.2.1').scope)")
        assert seen == "account"
    finally:
        login_throttle_clear(username=username, client=address)
