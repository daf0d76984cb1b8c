"""A simple stand-in for the tuned model, for working offline with the bundled fake.

It plays a well-behaved model: it reads the help-centre articles that appear in the request, picks
the sentence that best matches the customer's question, and replies in the house format
``{"answer": ..., "citations": [...], "quote": ...}``. When no visible sentence matches well
enough, it says it does not know (``"answer": null``).

The real model, and the one used in grading, is less polite than this one: see the brief.

Use it with the fake:  python devtools/fakemodel.py --responder devtools/responder.py:respond
(``devtools/run_fake.py`` does that for you).
"""

from __future__ import annotations

import json
import os
import random
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

DOCS_DIR = Path(os.environ.get("HELPDESK_DOCS_DIR") or Path(__file__).resolve().parent.parent / "docs")

_STOPWORDS = set(
    """a an and are as at be by can do does for from has have how i if in is it its my of on or our so
    that the their them then there these they this to was we what when where which who why will with
    you your me about after all also any into more not only other out up us use used using""".split()  # noqa: SIM905 - a word list reads better as text
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.findall(r"\w+", text))


def _words(text: str) -> set[str]:
    out = set()
    for word in _norm(text).split():
        if word in _STOPWORDS or len(word) < 2:
            continue
        out.add(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return out


@lru_cache(maxsize=4)
def _sentences(docs_dir: str) -> list[tuple[str, str, str]]:
    """(doc id, sentence, normalised sentence) for every sentence of every article."""
    out = []
    for path in sorted(Path(docs_dir).rglob("*.md")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip().lstrip("-*0123456789. ").strip()
            if not line or line.startswith(("#", "|")):
                continue
            for sentence in _SENTENCE_END.split(line):
                if len(sentence.split()) >= 5:
                    out.append((path.stem, sentence, _norm(sentence)))
    return out


@lru_cache(maxsize=4)
def _lines(docs_dir: str) -> list[str]:
    """Every normalised line of every article (titles and headings too), longest first."""
    out = set()
    for path in sorted(Path(docs_dir).rglob("*.md")):
        out.add(_norm(path.stem))
        for line in path.read_text(encoding="utf-8").splitlines():
            norm = _norm(line)
            if len(norm.split()) >= 3:
                out.add(norm)
    return sorted(out, key=len, reverse=True)


def _request_text(body: dict) -> str:
    parts = []
    system = body.get("system")
    if isinstance(system, str):
        parts.append(system)
    elif isinstance(system, list):
        parts += [b.get("text", "") for b in system if isinstance(b, dict)]
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
    return "\n".join(str(p) for p in parts)


def _last_user_text(body: dict) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def respond(body: dict, rng: random.Random) -> str:
    visible_text = _norm(_request_text(body))
    visible = [s for s in _sentences(str(DOCS_DIR)) if s[2] and s[2] in visible_text]
    # The question is what the last user message holds outside the span of article text.
    message = _norm(_last_user_text(body))
    start, end = len(message), 0
    for norm in _lines(str(DOCS_DIR)):
        first = message.find(norm)
        if first >= 0:
            start = min(start, first)
            end = max(end, message.rfind(norm) + len(norm))
    question = message if end <= start else message[:start] + " " + message[end:]
    wanted = _words(question)
    best, best_score = None, 0.0
    for doc_id, sentence, _ in visible:
        have = _words(sentence)
        score = len(wanted & have) / (1 + 0.02 * len(have))
        if score > best_score:
            best, best_score = (doc_id, sentence), score
    if best is None or best_score < 1.5:
        return json.dumps({"answer": None, "citations": [], "quote": ""})
    doc_id, sentence = best
    return json.dumps({"answer": sentence, "citations": [doc_id], "quote": sentence})
