"""The small override the test suite runs with: everything else is config.settings as deployed."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-any-real-deployment-0123456789")
# One id per test run, inherited by the workers it starts, so that two runs on one machine
# (two checkouts, or CI beside a developer) never share a SQLite file or a broker folder.
TEST_RUN_ID = os.environ.setdefault("TEST_RUN_ID", str(os.getpid()))

from config.settings import *  # noqa: E402,F403

# The test client speaks plain HTTP; production keeps these on.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
ALLOWED_HOSTS = ["*"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# Hashing with the production hasher makes every login in the suite cost ~300 ms.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or VAR_DIR / "test-uploads")  # noqa: F405
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{TEST_RUN_ID}.sqlite3")}  # noqa: F405
# The suite's workers and the suite share a broker of their own, never the dev server's.
if CELERY_BROKER_URL.startswith("filesystem://"):  # noqa: F405
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(VAR_DIR / f"test-celery-broker-{TEST_RUN_ID}")  # noqa: F405
