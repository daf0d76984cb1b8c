"""Deployment checks (`manage.py check --deploy`; docker-compose's migrate runs it before anything starts)."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

# Caches whose counts are seen by one process only (or by none).
_PROCESS_LOCAL_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}


@register(Tags.caches, Tags.security, deploy=True)
def shared_cache_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.CACHES["default"]["BACKEND"] not in _PROCESS_LOCAL_CACHES:
        return []
    return [
        Error(
            "The default cache is local to each process, so every web process keeps its own count of "
            "failed sign-ins and magic-link attempts and the limits multiply by the number of processes.",
            hint="Set CACHE_URL to a Redis URL that all web processes share (e.g. redis://redis:6379/1).",
            id="core.E001",
        )
    ]


@register(Tags.security, deploy=True)
def trusted_proxy_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not getattr(settings, "SECURE_PROXY_SSL_HEADER", None) or settings.TRUSTED_PROXY_COUNT > 0:
        return []
    return [
        Warning(
            "BEHIND_TLS_PROXY is on but TRUSTED_PROXY_COUNT is 0: every request seems to come from the "
            "proxy's address, so all clients share one sign-in and magic-link limit.",
            hint="Set TRUSTED_PROXY_COUNT to the number of proxies of yours that append to X-Forwarded-For.",
            id="core.W002",
        )
    ]
