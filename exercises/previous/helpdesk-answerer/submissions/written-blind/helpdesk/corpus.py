"""The help-centre corpus: loading, community-post hygiene, chunking and BM25 retrieval.

The starter sent every article on every request; that does not survive a production-sized corpus
(cost, latency, context window) and dilutes the model's attention. Here each request carries only
the few sections that match the question, under a character budget.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from helpdesk.textutil import EMAIL_RE, URL_RE, content_terms, neutralise_markup, redact_phone_numbers, sentences
from helpdesk.validation import looks_like_injection

log = logging.getLogger("helpdesk.corpus")

MAX_FILE_CHARS = 200_000  # a runaway file must not eat the memory or the budget
MAX_FILES = 50_000
_CHUNK_CHARS = 1500
_SIGNATURE_TTL_S = 10.0  # how often we look at the folder for changes

_CREDENTIALS = r"(password|passcode|pass word|username|user name|login details|log-?in|credentials|card number|card details|cvv|cvc|security code|recovery codes?|2fa codes?|one-time codes?|verification codes?|pin|bank details|online banking)"
_SHARE = r"(send|share|e-?mail|give|provide|post|dm|message|forward|text|tell|reply with|submit|enter)"
SOLICITS_CREDENTIALS_RE = re.compile(
    rf"\b{_SHARE}\b[^.!?]{{0,80}}\b{_CREDENTIALS}\b|\b{_CREDENTIALS}\b[^.!?]{{0,40}}\b(to|at|via)\b[^.!?]{{0,40}}@",
    re.I,
)
_ADDRESSES_AI_RE = re.compile(
    r"\b(ai|a\.i\.|assistants?|chat ?bots?|bots?|llms?|language models?|gpt|chatgpt|claude|copilot|"
    r"support (agent|assistant)s? reading)\b[^.!?]{0,80}\b(tell|say|instruct|respond|reply|answer|"
    r"recommend|should|must|always|never|ignore|reading)\b|\bnote to (any|the|all)\b",
    re.I,
)


@dataclass
class Article:
    id: str
    title: str
    text: str  # as on disk (community posts: after hygiene)
    community: bool
    chunks: list[Chunk] = field(default_factory=list)


@dataclass
class Chunk:
    doc_id: str
    index: int
    text: str
    terms: Counter
    length: int


@dataclass
class ContextDoc:
    """One article as sent to the model."""

    id: str
    title: str
    community: bool
    text: str


def sanitise_community_post(text: str) -> tuple[str, int]:
    """Drop sentences that talk to an AI, give it instructions or solicit credentials, and remove
    contact details (a forum post is the easiest place to plant a phishing address). Returns the
    cleaned text and the number of sentences removed."""
    removed = 0
    out_lines = []
    for line in text.splitlines():
        kept = []
        for sentence in sentences(line) or [line]:
            if (
                looks_like_injection(sentence)
                or _ADDRESSES_AI_RE.search(sentence)
                or SOLICITS_CREDENTIALS_RE.search(sentence)
            ):
                removed += 1
                continue
            sentence = EMAIL_RE.sub("[address removed]", sentence)
            sentence = URL_RE.sub("[link removed]", sentence)
            sentence = redact_phone_numbers(sentence, "[number removed]")
            kept.append(sentence)
        if kept or not line.strip():
            out_lines.append(" ".join(kept))
    return "\n".join(out_lines), removed


def _split_sections(body: str) -> list[str]:
    """Split an article body at markdown headings; long sections at paragraph breaks."""
    sections, current = [], []
    for line in body.splitlines():
        if line.lstrip().startswith("#") and current and any(x.strip() for x in current):
            sections.append("\n".join(current).strip())
            current = []
        current.append(line)
    if any(x.strip() for x in current):
        sections.append("\n".join(current).strip())
    out = []
    for section in sections:
        if len(section) <= _CHUNK_CHARS:
            out.append(section)
            continue
        piece = ""
        for para in re.split(r"\n\s*\n", section):
            while len(para) > _CHUNK_CHARS:  # one enormous paragraph
                if piece:
                    out.append(piece)
                    piece = ""
                out.append(para[:_CHUNK_CHARS])
                para = para[_CHUNK_CHARS:]
            if piece and len(piece) + len(para) + 2 > _CHUNK_CHARS:
                out.append(piece)
                piece = ""
            piece = f"{piece}\n\n{para}" if piece else para
        if piece.strip():
            out.append(piece)
    return [s for s in out if s.strip()]


class Corpus:
    def __init__(self, articles: list[Article]) -> None:
        self.articles = {a.id: a for a in articles}
        self._by_folded = {a.id.casefold(): a.id for a in articles}
        self._by_title = {a.title.casefold(): a.id for a in articles}  # a model citing a title
        self.chunks: list[Chunk] = [c for a in articles for c in a.chunks]
        self._postings: dict[str, list[int]] = defaultdict(list)
        for i, chunk in enumerate(self.chunks):
            for term in chunk.terms:
                self._postings[term].append(i)
        n = max(1, len(self.chunks))
        self._avg_len = sum(c.length for c in self.chunks) / n if self.chunks else 1.0
        self._idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self._postings.items()}
        # Contact details that official articles mention may appear in answers; no others may.
        self.official_text_folded = "\n".join(a.text for a in articles if not a.community).casefold()

    def __len__(self) -> int:
        return len(self.articles)

    def resolve_id(self, raw: object) -> str | None:
        """Map a citation as the model wrote it to a real doc id, or None."""
        if not isinstance(raw, str):
            return None
        cand = raw.strip().strip("\"'`[]()<>").strip()
        cand = cand.replace("\\", "/").rsplit("/", 1)[-1]
        if cand.casefold().endswith(".md"):
            cand = cand[:-3]
        folded = cand.casefold()
        return self._by_folded.get(folded) or self._by_title.get(folded.rstrip("."))

    # -- retrieval -----------------------------------------------------------------------------

    def _score(self, query_terms: list[str]) -> dict[int, float]:
        k1, b = 1.2, 0.75
        scores: dict[int, float] = defaultdict(float)
        for term in set(query_terms):
            idf = self._idf.get(term)
            if idf is None:
                continue
            for i in self._postings[term]:
                chunk = self.chunks[i]
                tf = chunk.terms[term]
                scores[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * chunk.length / self._avg_len))
        return scores

    def search(self, question: str, char_budget: int, max_docs: int) -> list[ContextDoc]:
        """The best-matching articles for a question, trimmed to fit ``char_budget`` characters."""
        scores = self._score(content_terms(question))
        if not scores:
            return []
        per_doc: dict[str, list[tuple[float, Chunk]]] = defaultdict(list)
        for i, score in scores.items():
            chunk = self.chunks[i]
            per_doc[chunk.doc_id].append((score, chunk))
        ranked = []
        for doc_id, hits in per_doc.items():
            hits.sort(key=lambda h: -h[0])
            doc_score = hits[0][0] + 0.25 * sum(s for s, _ in hits[1:3])
            if self.articles[doc_id].community:
                doc_score *= 0.85  # official articles first when both match
            ranked.append((doc_score, doc_id, hits))
        ranked.sort(key=lambda r: (-r[0], r[1]))
        top = ranked[0][0]
        selected: list[ContextDoc] = []
        budget = char_budget
        for doc_score, doc_id, hits in ranked[:max_docs]:
            if doc_score < 0.4 * top or budget < 200:
                break
            article = self.articles[doc_id]
            text = self._render(article, hits, min(budget, max(char_budget // 2, 600)))
            budget -= len(text)
            selected.append(ContextDoc(doc_id, article.title, article.community, text))
        return selected

    @staticmethod
    def _render(article: Article, hits: list[tuple[float, Chunk]], cap: int) -> str:
        full = "\n\n".join(c.text for c in article.chunks)
        if len(full) <= cap:
            return full
        # Title/intro first, then the best-matching sections, shown in article order.
        keep: set[int] = set()
        used = 0
        for chunk in [article.chunks[0]] + [c for _, c in hits]:
            if chunk.index in keep:
                continue
            if used + len(chunk.text) > cap:
                if not keep:  # the best chunk alone is too big: send its start
                    return chunk.text[:cap]
                continue
            keep.add(chunk.index)
            used += len(chunk.text) + 7
        parts, last = [], -1
        for i in sorted(keep):
            if last >= 0 and i != last + 1:
                parts.append("[...]")
            parts.append(article.chunks[i].text)
            last = i
        return "\n\n".join(parts)


# -- loading and caching -----------------------------------------------------------------------


def _iter_markdown(root: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".md") and not name.startswith(".") and len(name) > 3:
                found.append(Path(dirpath) / name)
                if len(found) >= MAX_FILES:
                    log.warning("docs folder has more than %d articles; ignoring the rest", MAX_FILES)
                    return found
    return found


def _signature(root: Path) -> tuple:
    sig = []
    for path in _iter_markdown(root):
        try:
            st = path.stat()
        except OSError:
            continue
        sig.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(sig)


def _load(root: Path) -> Corpus:
    articles: dict[str, Article] = {}
    injected = 0
    for path in _iter_markdown(root):
        try:
            raw = path.read_text(encoding="utf-8", errors="replace")[:MAX_FILE_CHARS]
        except OSError as exc:
            log.warning("cannot read article %s: %s", path, exc)
            continue
        raw = raw.replace("\r\n", "\n").replace("\x00", "")
        doc_id = path.name[:-3]
        community = "community" in path.relative_to(root).parts[:-1]
        if doc_id in articles:
            # Two files, one id. Never let a forum post shadow an official article.
            if articles[doc_id].community and not community:
                log.warning("doc id %r: official article replaces a community post with the same id", doc_id)
            else:
                log.warning("doc id %r is duplicated (%s); keeping the first one", doc_id, path)
                continue
        lines = raw.split("\n", 1)
        first = lines[0].strip()
        title = first.lstrip("#").strip() if first.startswith("#") else doc_id
        if community:
            raw, removed = sanitise_community_post(raw)
            injected += removed
        text = neutralise_markup(raw).strip()
        article = Article(doc_id, neutralise_markup(title)[:200], text, community)
        for i, section in enumerate(_split_sections(text) or [text or title]):
            terms = Counter(content_terms(section))
            # The title and the id say what the whole article is about: count them in every chunk.
            for term in content_terms(f"{title} {doc_id.replace('-', ' ')}"):
                terms[term] += 1
            article.chunks.append(Chunk(doc_id, i, section, terms, max(1, sum(terms.values()))))
        articles[doc_id] = article
    if injected:
        log.warning("removed %d suspicious sentence(s) from community posts in %s", injected, root)
    return Corpus(list(articles.values()))


_lock = threading.Lock()
_cache: dict[str, tuple[Corpus, float, tuple]] = {}


def get_corpus(root: Path, timeout: float) -> Corpus | None:
    """The corpus for ``root``, reloaded when its files change (checked every few seconds).
    None if the folder cannot be read or the lock cannot be had within ``timeout``."""
    key = str(root)
    now = time.monotonic()
    cached = _cache.get(key)
    if cached and now - cached[1] < _SIGNATURE_TTL_S:
        return cached[0]
    # With a corpus in hand, never wait: if another thread is already checking for changes, use
    # what we have. Only the very first load makes callers wait (bounded by ``timeout``).
    got_lock = _lock.acquire(blocking=False) if cached else _lock.acquire(timeout=max(0.0, timeout))
    if not got_lock:
        return cached[0] if cached else None
    try:
        cached = _cache.get(key)
        if cached and time.monotonic() - cached[1] < _SIGNATURE_TTL_S:
            return cached[0]
        if not root.is_dir():
            log.error("docs folder %s does not exist", root)
            return None
        sig = _signature(root)
        if cached and cached[2] == sig:
            _cache[key] = (cached[0], time.monotonic(), sig)
            return cached[0]
        started = time.monotonic()
        corpus = _load(root)
        log.info("loaded %d articles from %s in %.0f ms", len(corpus), root, 1000 * (time.monotonic() - started))
        _cache[key] = (corpus, time.monotonic(), sig)
        return corpus
    except OSError as exc:
        log.error("cannot load docs from %s: %s", root, exc)
        return cached[0] if cached else None
    finally:
        _lock.release()
