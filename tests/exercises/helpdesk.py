"""Shared paths and loaders for the helpdesk-answerer tests."""

from __future__ import annotations

import importlib
import math
import re
from collections import Counter
from pathlib import Path

from grader.runner import load_exercise

ROOT = Path(__file__).resolve().parents[2]
EXERCISE = ROOT / "exercises" / "helpdesk-answerer"
PREVIOUS = ROOT / "exercises" / "previous" / "helpdesk-answerer"  # 1.3.0, frozen
HIDDEN_DOCS = EXERCISE / "hidden" / "docs"
SHARED_CONTRACT = ROOT.parent / "shared" / "helpdesk-exercise.md"


def exercise():
    return load_exercise(EXERCISE)


def hidden(name: str = "probes"):
    """A module of the exercise's hidden package, loaded the way the runner loads it."""
    package = exercise().module.__name__.rpartition(".")[0]
    return importlib.import_module(f"{package}.{name}")


def articles() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(HIDDEN_DOCS.rglob("*.md"))}


def bm25_top(question: str, docs: dict[str, str], k: int = 3) -> list[str]:
    """Plain BM25 over whole articles: 'ordinary retrieval on the question's words'."""
    stop = {"the", "a", "an", "and", "or", "of", "to", "in", "on", "for", "is", "are", "do", "does", "how", "what"}

    def terms(text: str) -> list[str]:
        return [w for w in re.findall(r"\w+", text.casefold()) if w not in stop]

    tokenised = {doc_id: Counter(terms(text)) for doc_id, text in docs.items()}
    lengths = {doc_id: sum(c.values()) for doc_id, c in tokenised.items()}
    average = sum(lengths.values()) / len(lengths)
    n = len(docs)
    scores: dict[str, float] = {}
    for term in set(terms(question)):
        having = [d for d, c in tokenised.items() if term in c]
        if not having:
            continue
        idf = math.log(1 + (n - len(having) + 0.5) / (len(having) + 0.5))
        for doc_id in having:
            tf = tokenised[doc_id][term]
            scores[doc_id] = scores.get(doc_id, 0.0) + idf * tf * 2.2 / (
                tf + 1.2 * (0.25 + 0.75 * lengths[doc_id] / average)
            )
    return [d for d, _ in sorted(scores.items(), key=lambda item: -item[1])[:k]]
