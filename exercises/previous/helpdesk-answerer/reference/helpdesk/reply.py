"""From the model's text to something safe to show: parse the house format, then verify it."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from helpdesk.config import MAX_ANSWER_CHARS, MIN_QUOTE_WORDS
from helpdesk.corpus import Corpus
from helpdesk.text import normalise


class HouseReply(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    answer: str | None
    citations: list[str] = Field(default_factory=list, max_length=20)
    quote: str = ""


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def parse_house_reply(text: str) -> HouseReply | None:
    """The first JSON object in the text that has the house format, or None.

    Models wrap JSON in prose or code fences; both are accepted. Truncated or otherwise invalid
    JSON is not repaired: a half answer is worse than none.
    """
    candidates = [text.strip(), *(m.group(1).strip() for m in _FENCE.finditer(text))]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for start in [i for i, ch in enumerate(candidate) if ch == "{"][:20]:
            try:
                value, _ = decoder.raw_decode(candidate, start)
            except ValueError:
                continue
            if not isinstance(value, dict):
                continue
            try:
                return HouseReply.model_validate(value)
            except ValidationError:
                continue
    return None


@dataclass(frozen=True)
class Verdict:
    answer: str | None  # None: do not show anything from the model
    citations: list[str]
    reason: str


_LINK = re.compile(r"(https?://\S+|www\.\S+|[\w.+-]+@[\w-]+\.[\w.-]+)", re.IGNORECASE)


def _doc_id(raw: str) -> str:
    raw = raw.strip().removesuffix(".md")
    return raw.rsplit("/", 1)[-1]


def _clean_answer(text: str) -> str:
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\n" else ch for ch in text)
    text = text.strip()
    if len(text) > MAX_ANSWER_CHARS:
        text = text[:MAX_ANSWER_CHARS].rsplit(" ", 1)[0] + "…"
    return text


def verify(reply: HouseReply, corpus: Corpus) -> Verdict:
    """Show the answer only if its quote is really in an article it cites, and it adds no links.

    The model is steerable and does not always admit ignorance: it may cite an article that does
    not exist, or quote a sentence that no article contains. Either way the customer gets
    'unknown' rather than a confident invention.
    """
    if reply.answer is None or not reply.answer.strip():
        return Verdict(None, [], "model_said_unknown")
    cited = [c for c in dict.fromkeys(_doc_id(c) for c in reply.citations) if c in corpus.articles]
    if not cited:
        return Verdict(None, [], "no_known_citation")
    quote = normalise(reply.quote)
    if len(quote.split()) < MIN_QUOTE_WORDS:
        return Verdict(None, [], "quote_missing")
    supporting = [c for c in cited if quote in corpus.articles[c].normalised]
    if not supporting:
        return Verdict(None, [], "quote_not_in_cited_article")
    answer = _clean_answer(reply.answer)
    sources = " ".join(corpus.articles[c].text for c in supporting).casefold()
    for link in _LINK.findall(answer):
        if link.casefold().rstrip(".,;:)") not in sources:
            return Verdict(None, [], "unsupported_link")
    return Verdict(answer, supporting + [c for c in cited if c not in supporting], "grounded")
