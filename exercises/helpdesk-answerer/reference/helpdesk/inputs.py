"""Turn whatever the caller passed into a clean question, or say why it is rejected."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from helpdesk.config import MAX_QUESTION_CHARS

# Unmistakable attempts to steer the assistant. This is a cheap first filter, not the defence:
# answers are only shown when they are grounded in trusted articles (see reply.py), whatever the
# input. It is kept narrow on purpose: customers ask to "ignore my bank rules" or "override the
# payment instructions", and a broad keyword filter rejects them as attacks.
_ABUSE = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\b(ignore|disregard|forget|override)\s+(all\s+|any\s+|your\s+|the\s+)*"
        r"(previous|prior|above|earlier|system)\s+(instructions?|rules|prompts?|guidelines)\b",
        r"\b(system|hidden|initial|original)\s+prompt\b",
        r"\b(reveal|print|repeat|show|output)\b[^.?!]{0,40}\b(your)\s+(instructions|prompt|rules)\b",
        r"\byou are now\b",
        r"\b(developer|god|jailbreak)\s+mode\b",
    )
]


@dataclass(frozen=True)
class CleanQuestion:
    text: str | None
    reason: str  # "ok", or why the question was rejected


def clean_question(raw: object) -> CleanQuestion:
    if not isinstance(raw, str):
        return CleanQuestion(None, "not_a_string")
    if len(raw) > MAX_QUESTION_CHARS * 4:  # do not even normalise absurdly large input
        return CleanQuestion(None, "too_long")
    # Lone surrogates cannot be encoded as UTF-8 (the HTTP client would raise); replace them.
    text = raw.encode("utf-8", "replace").decode("utf-8")
    text = unicodedata.normalize("NFKC", text)
    # Control and format characters (NUL, escape sequences, zero-width, bidi overrides) become spaces.
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") else ch for ch in text)
    text = " ".join(text.split())
    if not text:
        return CleanQuestion(None, "empty")
    if len(text) > MAX_QUESTION_CHARS:
        return CleanQuestion(None, "too_long")
    if not any(ch.isalnum() for ch in text):
        return CleanQuestion(None, "no_words")
    if any(p.search(text) for p in _ABUSE):
        return CleanQuestion(None, "abuse")
    return CleanQuestion(text, "ok")
