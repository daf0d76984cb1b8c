"""Input hygiene for customer questions: type, size, encoding, and obvious abuse.

Everything here is cheap and runs before any model request, so invalid input never costs a call.
The injection patterns are a first filter, not the defence: the prompt treats the question as data,
the system prompt holds no secrets, and the reply is checked on the way out (see grounding.py).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from helpdesk.textutil import collapse_ws, nfkc

# Categories removed from questions: controls (except whitespace), format characters (zero-width
# and bidi overrides, used to hide text), surrogates (lone ones break UTF-8 encoding), private use
# and unassigned code points.
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_KEEP_CONTROLS = frozenset("\t\n\r")

_INJECTION_PATTERNS = [
    # "ignore / disregard / forget ... previous instructions" (and a few other languages)
    r"\b(ignore|disregard|forget)\b[^.?!\n]{0,40}\b(instructions?|prompts?|guidelines|directions|guardrails)\b",
    r"\b(ignore|disregard|forget|override|bypass)\s+(all\s+|any\s+|the\s+|your\s+)?(previous|prior|above|earlier|system|safety)\s+(rules|instructions|context|constraints)\b",
    r"\b(ignorez|oubliez)\b[^.?!\n]{0,40}\b(instructions?|consignes)\b",
    r"\b(ignora|olvida)\b[^.?!\n]{0,40}\b(instrucciones|indicaciones)\b",
    r"\b(ignoriere|vergiss)\b[^.?!\n]{0,40}\b(anweisungen|vorgaben)\b",
    # asking for the prompt, hidden instructions or internal material
    r"\b(system|developer|initial|original|hidden|secret)\s+(prompt|instructions)\b",
    r"\binternal\s+instructions\b",
    r"\b(reveal|print|show|repeat|output|display|dump|leak|recite|spell out|translate)\b[^.?!\n]{0,40}\byour\s+(instructions|prompt|guidelines|rules)\b",
    r"\b(what|which)\s+(are|were)\s+your\s+(instructions|rules|guidelines)\b",
    r"\b(repeat|print|output|show)\s+(everything|all|the text|the words|what is written)\s+(above|before)\b",
    r"\b(text|everything|words)\s+(above|before)\s+(this|my)\s+(message|question|line)\b",
    r"\bescalation\s+codes?\b",
    # role play / jailbreak framing
    r"\byou\s+are\s+now\s+(a|an|acting|free|unrestricted|jailbroken|dan)\b",
    r"\byou\s+are\s+no\s+longer\s+(bound|restricted|an?\s)",
    r"\b(pretend\s+(to\s+be|you\s+are)|role-?play\s+as)\b",
    r"\b(jailbreak|jailbroken|dan\s+mode|god\s+mode)\b",
    r"\bfrom\s+now\s+on,?\s+you\s+(will|must|are|should|shall)\b",
    # fake structure: chat-template tokens, our own wrapper tags, role headers
    r"<\|?\s*(im_start|im_end|system|endoftext)\s*\|?>",
    r"\[/?(INST|SYS)\]",
    r"</?\s*(article|articles|customer_question|system|instructions?|assistant)\b[^>]*>",
    r"(^|[.!?]\s*)(#+\s*)?(system|assistant|developer)\s*:",
]
_INJECTION_RE = re.compile("|".join(f"(?:{p})" for p in _INJECTION_PATTERNS), re.IGNORECASE)


@dataclass(frozen=True)
class CheckedQuestion:
    ok: bool
    text: str = ""  # the cleaned question (only when ok)
    reason: str = ""  # machine-readable, for logs: empty, too_long, not_text, ...


def clean(text: str) -> str:
    """NFKC-normalise, drop invisible/control/unpaired characters, collapse whitespace."""
    text = nfkc(text)
    text = "".join(
        " " if ch in _KEEP_CONTROLS else ch
        for ch in text
        if ch in _KEEP_CONTROLS or unicodedata.category(ch) not in _DROP_CATEGORIES
    )
    return collapse_ws(text)


def looks_like_injection(text: str) -> bool:
    return bool(_INJECTION_RE.search(text))


def check_question(question: object, max_chars: int) -> CheckedQuestion:
    if not isinstance(question, str):
        return CheckedQuestion(False, reason="not_text")
    # Refuse monsters before normalising them: NFKC on megabytes is wasted work.
    if len(question) > max_chars * 4:
        return CheckedQuestion(False, reason="too_long")
    text = clean(question)
    if not text:
        return CheckedQuestion(False, reason="empty")
    if len(text) > max_chars:
        return CheckedQuestion(False, reason="too_long")
    if not any(ch.isalnum() for ch in text):
        return CheckedQuestion(False, reason="no_content")
    if _is_repetitive(text):
        return CheckedQuestion(False, reason="garbage")
    if looks_like_injection(text):
        return CheckedQuestion(False, reason="injection")
    return CheckedQuestion(True, text=text)


def _is_repetitive(text: str) -> bool:
    """Keyboard mashing or a pasted blob: long text made of very few distinct characters, or one
    'word' repeated over and over."""
    if len(text) >= 80 and len(set(text.casefold())) <= 6:
        return True
    tokens = text.casefold().split()
    return len(tokens) >= 30 and len(set(tokens)) <= max(2, len(tokens) // 15)
