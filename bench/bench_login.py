"""Sign-in to the reviewer's dashboard with the old and the new password hasher (#20, point 15).

Builds a throwaway test database (PostgreSQL when DATABASE_URL says so), a reviewer, and times with
the Django test client, N times each (fresh client, the login form fetched first as a browser does):

- old: Django's default PBKDF2-SHA256 (1.5M iterations) as the only hasher, as deployed before;
- new: config.settings' PASSWORD_HASHERS (Argon2 first) with an Argon2 hash stored;
- upgrade: the new settings with an old PBKDF2 hash stored, the first sign-in after deploying
  (verifies with PBKDF2, then rehashes to Argon2 and saves: paid once per user).

Printed: one make_password, the median and min of the login POST, and the median of the dashboard
GET that follows it, in ms.

    DATABASE_URL=postgres://... .venv/bin/python bench/bench_login.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
os.environ["TEST_RUN_ID"] = f"bench-{os.getpid()}"

import django

django.setup()

from django.conf import global_settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

import config.settings as production  # noqa: E402

PASSWORD = "correct horse battery staple"  # noqa: S105  (a throwaway test database)
OLD = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
assert global_settings.PASSWORD_HASHERS[0] == OLD[0]


def _sign_in(user: User) -> tuple[float, float]:
    client = Client()
    client.get(reverse("login"))
    started = time.perf_counter()
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    post_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 302, response.status_code
    started = time.perf_counter()
    response = client.get(response["Location"])
    assert response.status_code == 200, response.status_code
    return post_ms, (time.perf_counter() - started) * 1000


def _case(name: str, user: User, hashers: list[str], stored_with: list[str], runs: int) -> None:
    posts, dashboards = [], []
    with override_settings(PASSWORD_HASHERS=hashers):
        started = time.perf_counter()
        make_password(PASSWORD)
        hash_ms = (time.perf_counter() - started) * 1000
    for _ in range(runs):
        with override_settings(PASSWORD_HASHERS=stored_with):
            user.set_password(PASSWORD)
            user.save(update_fields=["password"])
        with override_settings(PASSWORD_HASHERS=hashers):
            post_ms, dashboard_ms = _sign_in(user)
        posts.append(post_ms)
        dashboards.append(dashboard_ms)
    user.refresh_from_db()
    algorithm = user.password.split("$", 1)[0]
    print(
        f"{name:9} hash {hash_ms:6.0f} ms | POST /login/ median {statistics.median(posts):6.0f} ms, "
        f"min {min(posts):6.0f} ms | dashboard GET median {statistics.median(dashboards):5.0f} ms | "
        f"stored after: {algorithm}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from core.roles import REVIEWERS, ensure_role_groups

        ensure_role_groups()
        reviewer = User.objects.create_user("bench-reviewer")
        reviewer.groups.add(Group.objects.get(name=REVIEWERS))
        print(f"database: {connection.vendor}; {args.runs} sign-ins each; ms")
        new = production.PASSWORD_HASHERS
        _case("old", reviewer, OLD, OLD, args.runs)
        _case("new", reviewer, new, new, args.runs)
        _case("upgrade", reviewer, new, OLD, args.runs)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
