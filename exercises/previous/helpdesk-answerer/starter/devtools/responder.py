"""A simple stand-in for the tuned model, for working offline with the bundled fake.

It plays a well-behaved model: it reads the help-centre articles that appear in the request, picks
the sentence that best matches the customer's question, and replies in the house format
``{"answer": ..., "citations": [...], "quote": ...}``. When no visible sentence matches well
enough, it says it does not know (``"answer": null``).

The real model, and the one used in grading, is less polite than this one: see the brief.

Use it with the fake:  python devtools/fakemodel --responder devtools/responder.py:respond
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
# Words of the instructions a prompt wraps around the question ("answer only from the articles
# above, cite their ids, reply in JSON"): a real model knows they are not the question.
_INSTRUCTION_WORDS = set(
    """answer answers article articles cite cited citation citations quote quotes json reply respond
    provided above below following based context instruction instructions question questions doc
    docs id ids sentence sentences unknown customer customers ask asks asked""".split()  # noqa: SIM905 - a word list reads better as text
)
_QUESTION_MARKER = re.compile(r"(?im)^\W*(?:customer(?:'s)? )?question\s*[:\-]\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.findall(r"\w+", text))


def _words(text: str, ignore: set[str] = frozenset()) -> set[str]:
    out = set()
    for word in _norm(text).split():
        if word in _STOPWORDS or word in ignore or len(word) < 2:
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
def _article_text(docs_dir: str) -> tuple[frozenset[str], str, tuple[str, ...]]:
    """(every normalised line of every article, all articles normalised and joined, the doc ids)."""
    lines, texts, ids = set(), [], []
    for path in sorted(Path(docs_dir).rglob("*.md")):
        ids.append(path.stem)
        text = path.read_text(encoding="utf-8")
        texts.append(_norm(text))
        lines.update(n for n in (_norm(line) for line in text.splitlines()) if n)
    return frozenset(lines), "\n".join(texts), tuple(sorted(ids, key=len, reverse=True))


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


def _question_text(message: str) -> str:
    """What the customer asked, out of a prompt that also holds articles and instructions.

    The text after the last "Question:" label if there is one; else the message without markup,
    doc ids and the lines copied from articles, and of what is left the last line that asks
    something ("...?"), or all of it.
    """
    marks = list(_QUESTION_MARKER.finditer(message))
    if marks:
        return message[marks[-1].end() :].split("\n\n", 1)[0]
    article_lines, corpus, doc_ids = _article_text(str(DOCS_DIR))
    text = re.sub(r"<[^<>]{0,300}>", "\n", message)
    for doc_id in doc_ids:
        text = re.sub(re.escape(doc_id), " ", text, flags=re.IGNORECASE)
    kept = []
    for line in text.splitlines():
        norm = _norm(line)
        if not norm or norm in article_lines or (len(norm.split()) >= 8 and norm in corpus):
            continue
        kept.append(line)
    asked = [line for line in kept if line.rstrip().endswith("?")]
    return asked[-1] if asked else "\n".join(kept)


def respond(body: dict, rng: random.Random) -> str:
    visible_text = _norm(_request_text(body))
    visible = [s for s in _sentences(str(DOCS_DIR)) if s[2] and s[2] in visible_text]
    # Like a real model, it tells the question apart from the articles and the instructions around it.
    question = _question_text(_last_user_text(body))
    wanted = _words(question, ignore=_INSTRUCTION_WORDS) or _words(question)
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
