"""Structured logs: one JSON object per event on the ``helpdesk`` logger.

The library never configures handlers; the application decides where logs go. Customer text is
never logged in full: questions are logged by length and a short hash, so that two log lines about
the same question can be correlated without storing what the customer wrote.
"""

from __future__ import annotations

import hashlib
import json
import logging

logger = logging.getLogger("helpdesk")


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:12]


def log_event(level: int, event: str, **fields: object) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, json.dumps({"event": event, **fields}, default=str, sort_keys=True))
