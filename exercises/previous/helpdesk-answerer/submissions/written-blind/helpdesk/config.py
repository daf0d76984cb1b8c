"""Runtime settings, read from the environment on every call (cheap) so that a change of
``HELPDESK_DOCS_DIR`` / ``ANTHROPIC_BASE_URL`` between calls is honoured.

Every knob has a safe default; a malformed value falls back to the default instead of raising.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"

# The contract: ``answer`` returns within 20 s. We aim well inside it, leaving room for thread
# scheduling under load (32 callers) and for the work done before and after the model call.
CONTRACT_DEADLINE_S = 20.0


@dataclass(frozen=True)
class Settings:
    model: str
    docs_dir: Path
    deadline_s: float  # total budget for one answer() call
    max_tokens: int  # output cap per model request
    idle_timeout_s: float  # no byte / no SSE event for this long = stalled attempt
    connect_timeout_s: float
    max_attempts: int  # HTTP requests per answer() call, all causes included
    min_attempt_s: float  # do not start an attempt with less budget than this
    max_question_chars: int
    context_char_budget: int  # article text sent per request (~4 chars per token)
    max_context_docs: int
    initial_concurrency: int  # model requests in flight per process, starting point
    max_concurrency: int  # ceiling for the adaptive limiter
    cache_ttl_s: float  # 0 = no result cache (only concurrent identical questions are merged)


def _env_float(name: str, default: float, lo: float, hi: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except (TypeError, ValueError):
        return default
    if value != value:  # NaN
        return default
    return min(max(value, lo), hi)


def _env_int(name: str, default: int, lo: int, hi: int) -> int:
    return int(_env_float(name, default, lo, hi))


def load_settings() -> Settings:
    docs = os.environ.get("HELPDESK_DOCS_DIR") or ""
    return Settings(
        model=(os.environ.get("HELPDESK_MODEL") or "claude-haiku-5-5").strip(),
        docs_dir=Path(docs) if docs.strip() else DEFAULT_DOCS_DIR,
        deadline_s=_env_float("HELPDESK_DEADLINE_S", 17.0, 1.0, 19.0),
        max_tokens=_env_int("HELPDESK_MAX_TOKENS", 600, 128, 2048),
        idle_timeout_s=_env_float("HELPDESK_IDLE_TIMEOUT_S", 10.0, 0.5, 19.0),
        connect_timeout_s=_env_float("HELPDESK_CONNECT_TIMEOUT_S", 3.0, 0.2, 10.0),
        max_attempts=_env_int("HELPDESK_MAX_ATTEMPTS", 4, 1, 8),
        min_attempt_s=_env_float("HELPDESK_MIN_ATTEMPT_S", 1.0, 0.1, 10.0),
        max_question_chars=_env_int("HELPDESK_MAX_QUESTION_CHARS", 4000, 50, 20000),
        context_char_budget=_env_int("HELPDESK_CONTEXT_CHARS", 9000, 1000, 200000),
        max_context_docs=_env_int("HELPDESK_MAX_CONTEXT_DOCS", 4, 1, 20),
        initial_concurrency=_env_int("HELPDESK_INITIAL_CONCURRENCY", 4, 1, 64),
        max_concurrency=_env_int("HELPDESK_MAX_CONCURRENCY", 16, 1, 64),
        cache_ttl_s=_env_float("HELPDESK_CACHE_TTL_S", 0.0, 0.0, 86400.0),
    )
