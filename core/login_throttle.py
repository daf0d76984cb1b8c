"""Failed staff sign-ins, counted per account and per client in the cache all web processes share.

Each attempt is counted as a failure *before* the password is checked and handed back when it
succeeds, so attempts running in parallel cannot all slip in under the limit; a password hash costs
1.5M iterations, and a locked attempt never runs one. When a count reaches its limit the account (or
the client) is locked for ``LOGIN_THROTTLE_WINDOW_S`` from that moment: every attempt is refused
unread, the right password included (else guessing would go on, only more slowly), and one audit
entry says so. The lock then expires and counting starts again.

The trade-off of the per-account lock: it counts failures from every client, since that is what
stops guessing spread over many addresses, so anyone who knows a staff username can keep that
account locked by failing ``LOGIN_FAILURES_PER_ACCOUNT`` times per window. The owner then waits out
the lock (the page says how long), and each lock is in the audit trail with the address that caused
it. Per-client counts alone would let a botnet guess without end.

Usernames are counted as typed, after Unicode normalisation, trimming and case folding, whether or
not an account has that name: the answer is the same for both, so a lock says nothing about which
names exist. The counts live in Django's default cache; production must share it (CACHE_URL, Redis),
which ``manage.py check --deploy`` insists on (core.checks).
"""

import contextlib
import hashlib
import math
import time
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache

from core.audit import audit_record
from core.clients import client_bucket

ACCOUNT = "account"
CLIENT = "client"


@dataclass(frozen=True)
class LoginLock:
    scope: str  # ACCOUNT or CLIENT
    seconds_left: int

    @property
    def minutes_left(self) -> int:
        return max(1, math.ceil(self.seconds_left / 60))


def username_normalise(username: str) -> str:
    return unicodedata.normalize("NFKC", username).strip().casefold()


def _subjects(*, username: str, client: str) -> dict[str, str]:
    account = hashlib.sha256(username_normalise(username).encode()).hexdigest()[:32]
    return {ACCOUNT: account, CLIENT: client_bucket(client)}


def _limit(scope: str) -> int:
    limit: int = settings.LOGIN_FAILURES_PER_ACCOUNT if scope == ACCOUNT else settings.LOGIN_FAILURES_PER_CLIENT
    return limit


def _failures_key(scope: str, subject: str) -> str:
    return f"login-failures:{scope}:{subject}"


def _lock_key(scope: str, subject: str) -> str:
    return f"login-lock:{scope}:{subject}"


def login_lock_get(*, username: str, client: str) -> LoginLock | None:
    """The lock that refuses a sign-in as ``username`` from ``client`` now (the longer of two), if any."""
    keys = {scope: _lock_key(scope, subject) for scope, subject in _subjects(username=username, client=client).items()}
    found = cache.get_many(list(keys.values()))
    now = time.time()
    locks = [
        LoginLock(scope=scope, seconds_left=math.ceil(found[key] - now))
        for scope, key in keys.items()
        if key in found and found[key] > now
    ]
    return max(locks, key=lambda lock: lock.seconds_left, default=None)


def _count(key: str) -> int:
    """One more in a window that starts at the first count and does not slide."""
    window: int = settings.LOGIN_THROTTLE_WINDOW_S
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: this count opens a new window
        cache.set(key, 1, timeout=window)
        return 1


def _account(username: str) -> AbstractBaseUser | None:
    user_model = get_user_model()
    return user_model._default_manager.filter(**{f"{user_model.USERNAME_FIELD}__iexact": username.strip()}).first()


def _lock(*, scope: str, subject: str, failures: int, username: str, client: str) -> None:
    """Lock ``subject`` for a window from now; the attempt that does it writes the audit entry."""
    window: int = settings.LOGIN_THROTTLE_WINDOW_S
    if not cache.add(_lock_key(scope, subject), time.time() + window, timeout=window):
        return  # a parallel attempt locked it first
    cache.delete(_failures_key(scope, subject))  # counting starts afresh once the lock expires
    account = _account(username)
    audit_record(
        actor=f"client:{client or 'unknown'}",
        action="login.locked",
        target=account,
        data={
            "scope": scope,
            "failures": failures,
            "locked_for_s": window,
            "client": client,
            # The name typed is kept only when it is an account's: a password typed into the
            # username box by mistake must not end up in the audit trail.
            "username": account.get_username() if account else None,
        },
    )


def login_attempt_begin(*, username: str, client: str) -> LoginLock | None:
    """Count this attempt as a failure, or refuse it: the lock that refuses it (check no password then)."""
    lock = login_lock_get(username=username, client=client)
    if lock is not None:
        return lock
    for scope, subject in _subjects(username=username, client=client).items():
        failures = _count(_failures_key(scope, subject))
        if failures > _limit(scope):  # parallel attempts took the last ones
            _lock(scope=scope, subject=subject, failures=failures - 1, username=username, client=client)
    return login_lock_get(username=username, client=client)


def login_attempt_failed(*, username: str, client: str) -> None:
    """The password was wrong (the attempt is already counted): lock what has reached its limit."""
    for scope, subject in _subjects(username=username, client=client).items():
        failures = cache.get(_failures_key(scope, subject)) or 0
        if failures >= _limit(scope):
            _lock(scope=scope, subject=subject, failures=failures, username=username, client=client)


def login_attempt_succeeded(*, username: str, client: str) -> None:
    """The password was right: the account's count starts again; the client's loses this attempt only."""
    subjects = _subjects(username=username, client=client)
    cache.delete(_failures_key(ACCOUNT, subjects[ACCOUNT]))
    with contextlib.suppress(ValueError):  # the window ended meanwhile
        cache.decr(_failures_key(CLIENT, subjects[CLIENT]))


def login_throttle_clear(*, username: str | None = None, client: str | None = None) -> None:
    """Lift the lock and forget the count of a username, a client, or both (manage.py login_unlock)."""
    keys = []
    if username is not None:
        account = _subjects(username=username, client="")[ACCOUNT]
        keys += [_failures_key(ACCOUNT, account), _lock_key(ACCOUNT, account)]
    if client is not None:
        bucket = client_bucket(client)
        keys += [_failures_key(CLIENT, bucket), _lock_key(CLIENT, bucket)]
    cache.delete_many(keys)


def login_unlock(*, username: str | None = None, client: str | None = None) -> None:
    """An operator lifts a lock at once (manage.py login_unlock), on the record."""
    login_throttle_clear(username=username, client=client)
    audit_record(
        actor=None,
        action="login.unlocked",
        target=_account(username) if username is not None else None,
        data={"username": username, "client": client},
    )
