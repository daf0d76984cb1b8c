"""The one settings module. Everything that differs between machines comes from the environment.

The README has a table of every variable read here; keep the two in step.
"""

import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (or set SECRET_KEY_FILE).")
    # Only ever used with DEBUG on, so a leaked dev key signs nothing that matters.
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "core.admin_apps.SuperuserAdminConfig",  # the admin, for superusers only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "core",
    "assessments",
    "candidates",
    "rubrics",
    "reports",
    "workflows",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "assessments.context_processors.roles",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
# Default: SQLite under var/, so `make run` needs no server. Production and CI: DATABASE_URL.
_DEFAULT_SQLITE = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or _DEFAULT_SQLITE,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the Celery worker write at the same time: WAL lets readers go on
    # while one writer works, IMMEDIATE takes the write lock up front instead of failing
    # halfway through a transaction, and the timeout makes the other writer wait, not fail.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not :memory:, so that a Celery worker started by the tests sees the same rows.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Argon2 first: a sign-in with PBKDF2 at Django's 1.5M iterations spent ~0.9 s hashing (#20, point
# 15). PBKDF2 stays next so existing hashes still verify; Django rehashes them to Argon2 on the next
# successful login. bench/bench_login.py measures both.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "assessments:dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files --------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "uploads")))
# Uploads are never served by URL (no route maps this prefix): candidate archives are
# hostile files and are only handed out through views that check who is asking.
MEDIA_URL = "/_private-media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024

# --- Security -------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The same policy with DEBUG on or off, so that `make run` breaks where production would. Nothing
# inline: every script and style is a file under static/, and a template that must inline something
# puts {% csp_nonce_attr %} on it. Only Django's own pages do (the CSRF failure page's <style>, the
# admin's); the nonce is in the header only on a page that rendered one. No 'unsafe-eval' either:
# htmx is told not to eval (<meta name="htmx-config"> in templates/skeleton.html).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.NONCE],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not SECURE_HSTS_PRELOAD:
    # Preloading is a one-way door an operator must choose; not choosing it is deliberate.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]

# --- Email ----------------------------------------------------------------------------------------
_EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
MAILERS: dict[str, dict[str, object]] = {"default": {"BACKEND": _EMAIL_BACKEND}}
if _EMAIL_BACKEND.endswith("smtp.EmailBackend"):
    MAILERS["default"]["OPTIONS"] = {
        "host": env_str("EMAIL_HOST", "localhost"),
        "port": env_int("EMAIL_PORT", 587),
        "username": env_str("EMAIL_HOST_USER", ""),
        "password": env_str("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", True),
    }
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Take-homes <takehome@localhost>")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# --- Celery ---------------------------------------------------------------------------------------
# Default broker: kombu's filesystem transport under var/, so `make run` needs no server.
CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"


def filesystem_broker_options(folder: Path) -> dict:
    """kombu's filesystem transport, entirely under ``folder`` (it defaults to ./control)."""
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(CELERY_BROKER_DIR)
else:
    # A grading task that outlives the visibility timeout would be handed to a second
    # worker while the first still runs it: keep the timeout at least twice the hard limit.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 2 * env_int("GRADING_HARD_TIME_LIMIT", 1800) + 600,
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "default"
# Trial regrades go to their own queue, which workers consume too; a trial run yields its slot
# whenever a candidate's own grading is waiting or running (workflows.regrades).
CELERY_TASK_ROUTES = {
    "assessments.tasks.grade_submission": {"queue": "grading"},
    "workflows.tasks.grade_trial_run": {"queue": "regrade"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
GRADING_SOFT_TIME_LIMIT = env_int("GRADING_SOFT_TIME_LIMIT", 1500)
GRADING_HARD_TIME_LIMIT = env_int("GRADING_HARD_TIME_LIMIT", 1800)
CELERY_WORKER_MAX_TASKS_PER_CHILD = env_int("CELERY_WORKER_MAX_TASKS_PER_CHILD", 50)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "sweep-grading-runs": {
        "task": "assessments.tasks.sweep_grading_runs",
        "schedule": float(env_int("GRADING_SWEEP_INTERVAL_S", 30)),
        "options": {"expires": max(1, env_int("GRADING_SWEEP_INTERVAL_S", 30) - 1)},
    },
    "sweep-webhook-deliveries": {
        "task": "reports.tasks.sweep_webhook_deliveries",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "erase-past-retention": {
        "task": "candidates.tasks.erase_past_retention",
        "schedule": 6 * 3600.0,
        "options": {"expires": 3600},
    },
    "worker-heartbeat": {
        "task": "assessments.tasks.record_worker_heartbeat",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Exercises and grading ------------------------------------------------------------------------
# exercises/previous/ keeps earlier versions of this repository's packages (help-desk 1.3.0), so a
# fresh install can still grade, regrade and show an assessment pinned to one; the highest version
# of a slug is the current one whatever the order (assessments.services.version_key).
EXERCISE_DIRS = [
    Path(p)
    for p in env_list(
        "EXERCISE_DIRS", [str(BASE_DIR / "exercises"), str(BASE_DIR / "exercises" / "previous")], sep=os.pathsep
    )
]
# Where a host unpacks the stored files of the exercise versions it needs (by checksum; never pruned
# by the app, and safe to delete: they come back from the database on next use).
EXERCISE_CACHE_DIR = Path(env_str("EXERCISE_CACHE_DIR", str(VAR_DIR / "exercise-cache")))
# Without bubblewrap the grader refuses to run candidate code unless this is set, and then
# every run it makes is recorded and shown as unsandboxed. Development only.
SANDBOX_ALLOW_UNSAFE = env_bool("SANDBOX_ALLOW_UNSAFE", False)
SANDBOX_BWRAP = env_str("SANDBOX_BWRAP", "bwrap")
SANDBOX_MEMORY_MB = env_int("SANDBOX_MEMORY_MB", 1024)
SANDBOX_MAX_PROCESSES = env_int("SANDBOX_MAX_PROCESSES", 256)
SANDBOX_CPU_SECONDS = env_int("SANDBOX_CPU_SECONDS", 120)
SANDBOX_FILE_SIZE_MB = env_int("SANDBOX_FILE_SIZE_MB", 64)
SANDBOX_UID = env_int("SANDBOX_UID", 65534)
# One box per probe thread of a grading, a forked child per probe (grader/sandbox/warm.py); 0: a box per probe.
SANDBOX_WARM = env_bool("SANDBOX_WARM", True)
GRADING_PARALLEL_PROBES = env_int("GRADING_PARALLEL_PROBES", 8)
# After an infrastructure fault the attempt is retried this many seconds times the attempt number.
GRADING_RETRY_DELAY_S = env_int("GRADING_RETRY_DELAY_S", 10)
# A running run whose heartbeat is older than this is taken back (its worker died).
GRADING_STALE_AFTER_S = env_int("GRADING_STALE_AFTER_S", 60)
# A queued run untouched for this long has its message sent again (the broker may have lost it).
GRADING_REQUEUE_AFTER_S = env_int("GRADING_REQUEUE_AFTER_S", 600)
# A worker consuming the grading queues proves it can grade before it takes any (workflows.worker):
# checked again this often while it can, this often while it cannot; its state is written this often.
GRADING_SELF_CHECK = env_bool("GRADING_SELF_CHECK", True)
GRADING_SELF_CHECK_EVERY_S = env_int("GRADING_SELF_CHECK_EVERY_S", 300)
GRADING_SELF_CHECK_RETRY_S = env_int("GRADING_SELF_CHECK_RETRY_S", 30)
GRADING_SELF_CHECK_BEAT_S = env_int("GRADING_SELF_CHECK_BEAT_S", 30)
# A trial regrade's run waits this long before trying again when candidates' gradings hold the workers.
REGRADE_YIELD_DELAY_S = env_int("REGRADE_YIELD_DELAY_S", 5)
# How many of a trial's runs are graded at once (messages driving it; never more than this in the queue).
REGRADE_PARALLEL = env_int("REGRADE_PARALLEL", 2)
INVITATION_TTL_DAYS = env_int("INVITATION_TTL_DAYS", 14)
# Uploads one candidate may make to one take-home; the latest is the one assessed.
MAX_UPLOADS_PER_INVITATION = env_int("MAX_UPLOADS_PER_INVITATION", 10)
if MAX_UPLOADS_PER_INVITATION < 1:
    raise ImproperlyConfigured("MAX_UPLOADS_PER_INVITATION must be 1 or more.")

# --- The debrief guide --------------------------------------------------------------------------
# The debrief guide (reports.debrief) is the platform's own use of the Anthropic API. Without a key
# the feature says so and stays off. The key is a secret: read here (or from ANTHROPIC_API_KEY_FILE),
# handed to the SDK, never rendered or logged. The base URL points the SDK elsewhere (the tests' fake).
ANTHROPIC_API_KEY = env_str("ANTHROPIC_API_KEY", "")
ANTHROPIC_BASE_URL = env_str("ANTHROPIC_BASE_URL", "") or None
DEBRIEF_MODEL = env_str("DEBRIEF_MODEL", "claude-sonnet-4-5")
# One model call waits this long; the SDK retries a 429/529/timeout this many times within a call;
# the task then tries the call again after base, 2×base… seconds, up to the maximum attempts.
DEBRIEF_TIMEOUT_S = env_int("DEBRIEF_TIMEOUT_S", 120)
DEBRIEF_SDK_RETRIES = env_int("DEBRIEF_SDK_RETRIES", 2)
DEBRIEF_MAX_ATTEMPTS = env_int("DEBRIEF_MAX_ATTEMPTS", 3)
DEBRIEF_RETRY_BASE_S = env_int("DEBRIEF_RETRY_BASE_S", 20)

# --- Decision webhooks (each manager's endpoints live on their own Webhooks page) -----------------
# A failed delivery is retried after base, 2×base, 4×base… seconds, at most this many attempts.
WEBHOOK_RETRY_BASE_S = env_int("WEBHOOK_RETRY_BASE_S", 30)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_TIMEOUT_S = env_int("WEBHOOK_TIMEOUT_S", 10)
# Webhooks never reach loopback, private, link-local, shared, reserved or multicast addresses (checked
# after DNS, on the address actually connected to). The rare internal ATS is let through by naming
# its network here, e.g. "10.20.0.0/24,fd00:1::/64".
WEBHOOK_ALLOWED_NETWORKS = env_list("WEBHOOK_ALLOWED_NETWORKS")
for _network in WEBHOOK_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"WEBHOOK_ALLOWED_NETWORKS: {_network!r} is not a network, e.g. 10.0.0.0/24."
        ) from None

# --- Cache, clients and sign-in limits -------------------------------------------------------------
# The cache counts failed sign-ins and magic-link attempts. Local memory is per process, which is
# enough for `make run`; with several web processes every count must be shared: CACHE_URL (Redis).
# `manage.py check --deploy` fails without it (core.checks), and compose's migrate runs that check.
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "takehomes"}}
# Proxies of ours in front of the web processes, each appending the address it saw to X-Forwarded-For
# (core.clients). 0: none, the header is ignored and the client is the TCP peer.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more.")
# Staff sign-in (core.login_throttle): this many failures in the window lock the username (from any
# client) or the client (for any username) for one window; a locked attempt is refused unread.
LOGIN_FAILURES_PER_ACCOUNT = env_int("LOGIN_FAILURES_PER_ACCOUNT", 10)
LOGIN_FAILURES_PER_CLIENT = env_int("LOGIN_FAILURES_PER_CLIENT", 30)
LOGIN_THROTTLE_WINDOW_S = env_int("LOGIN_THROTTLE_WINDOW_S", 15 * 60)
if min(LOGIN_FAILURES_PER_ACCOUNT, LOGIN_FAILURES_PER_CLIENT, LOGIN_THROTTLE_WINDOW_S) < 1:
    raise ImproperlyConfigured(
        "LOGIN_FAILURES_PER_ACCOUNT, LOGIN_FAILURES_PER_CLIENT and LOGIN_THROTTLE_WINDOW_S must be 1 or more."
    )

# --- Data retention -------------------------------------------------------------------------------
# What the candidate portal promises: personal data and uploads are kept this long after the decision
# (or expiry, or withdrawal), then erased by the beat task candidates.tasks.erase_past_retention.
DATA_RETENTION_MONTHS = env_int("DATA_RETENTION_MONTHS", 12)
if DATA_RETENTION_MONTHS < 1:
    raise ImproperlyConfigured("DATA_RETENTION_MONTHS must be 1 or more.")

# --- Logging --------------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
# A magic link's token is as good as the candidate's password: no log line may carry one. The filter
# rewrites /t/<token>/ to /t/[redacted]/ on the loggers that write request paths (django.server is
# runserver's request lines, declared again here to carry it) and on every line our handlers write.
# Gunicorn's access log gets the same filter from gunicorn.conf.py.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "core.logs.RedactTokens"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_tokens"]},
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server", "filters": ["redact_tokens"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {
            "handlers": ["django.server"],
            "level": "INFO",
            "propagate": False,
            "filters": ["redact_tokens"],
        },
        "django.request": {"filters": ["redact_tokens"]},
        "django.db.backends": {"level": "INFO"},
        # WeasyPrint (the scorecard PDF) logs every CSS property it does not know and each layout step.
        "weasyprint": {"level": "ERROR"},
        "fontTools": {"level": "ERROR"},
    },
}
