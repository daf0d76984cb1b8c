"""The help-centre articles: loaded once per docs folder, split into chunks, indexed for retrieval.

Community posts (``community/``) are written by anyone on the public forum. They are never sent to
the model and can never be cited: an instruction planted in one cannot steer an answer, and a false
claim in one cannot become an answer. The cost is that answers found only in the forum are lost;
see NOTES.md.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from helpdesk.config import CHUNK_CHARS
from helpdesk.text import normalise, terms

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Article:
    doc_id: str
    title: str
    text: str
    normalised: str


@dataclass(frozen=True)
class Chunk:
    doc_id: str
    title: str
    text: str


@dataclass
class Corpus:
    articles: dict[str, Article]  # trusted (official) articles only
    chunks: list[Chunk]
    untrusted_count: int = 0
    _postings: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    _lengths: list[int] = field(default_factory=list)
    _avg_length: float = 1.0

    def index(self) -> None:
        for position, chunk in enumerate(self.chunks):
            counts = Counter(terms(chunk.title) * 2 + terms(chunk.text))
            self._lengths.append(sum(counts.values()))
            for term, count in counts.items():
                self._postings.setdefault(term, []).append((position, count))
        self._avg_length = (sum(self._lengths) / len(self._lengths)) if self._lengths else 1.0

    def search(self, query: str, limit: int) -> list[tuple[float, Chunk]]:
        """BM25 over chunks; only chunks sharing at least one term with the query are returned."""
        scores: dict[int, float] = {}
        n = len(self.chunks)
        for term in set(terms(query)):
            postings = self._postings.get(term)
            if not postings:
                continue
            idf = math.log(1 + (n - len(postings) + 0.5) / (len(postings) + 0.5))
            for position, count in postings:
                norm = 1.2 * (0.25 + 0.75 * self._lengths[position] / self._avg_length)
                scores[position] = scores.get(position, 0.0) + idf * count * 2.2 / (count + norm)
        best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return [(score, self.chunks[position]) for position, score in best]


def _split(body: str) -> list[str]:
    """Paragraph-sized chunks of at most CHUNK_CHARS, split at sentence ends when needed."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", body):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= CHUNK_CHARS:
            pieces.append(paragraph)
            continue
        current = ""
        for sentence in _SENTENCE_END.split(paragraph):
            if current and len(current) + len(sentence) + 1 > CHUNK_CHARS:
                pieces.append(current)
                current = ""
            current = f"{current} {sentence}".strip()
        if current:
            pieces.append(current)
    chunks: list[str] = []
    current = ""
    for piece in pieces:  # merge small neighbouring paragraphs (a heading and its text)
        if current and len(current) + len(piece) + 2 > CHUNK_CHARS:
            chunks.append(current)
            current = ""
        current = f"{current}\n\n{piece}".strip()
    if current:
        chunks.append(current)
    return chunks


def _load(docs_dir: Path) -> Corpus:
    articles: dict[str, Article] = {}
    chunks: list[Chunk] = []
    untrusted = 0
    for path in sorted(docs_dir.rglob("*.md")):
        relative = path.relative_to(docs_dir)
        if "community" in relative.parts[:-1]:
            untrusted += 1
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()
        title = lines[0].lstrip("#").strip() if lines else path.stem
        body = "\n".join(lines[1:])
        articles[path.stem] = Article(path.stem, title, text, normalise(text))
        chunks += [Chunk(path.stem, title, piece) for piece in _split(body)]
    corpus = Corpus(articles, chunks, untrusted)
    corpus.index()
    return corpus


_lock = threading.Lock()
_cache: dict[str, Corpus] = {}


def get_corpus() -> Corpus:
    """The corpus for HELPDESK_DOCS_DIR, loaded on first use (thread-safe)."""
    docs_dir = os.environ.get("HELPDESK_DOCS_DIR", "")
    if not docs_dir or not Path(docs_dir).is_dir():
        raise FileNotFoundError(f"HELPDESK_DOCS_DIR is not a folder: {docs_dir!r}")
    with _lock:
        if docs_dir not in _cache:
            _cache[docs_dir] = _load(Path(docs_dir))
        return _cache[docs_dir]
