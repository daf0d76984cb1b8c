"""From the model's text to something safe to show: parse the house format, then verify it."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from helpdesk.config import MAX_ANSWER_CHARS, MIN_QUOTE_WORDS
from helpdesk.corpus import Corpus
from helpdesk.text import normalise, terms


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


# A number and the word after it ("29 dollars", "15 minutes", "2.9 percent"): the unit of a claim.
_AMOUNT = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(%|[^\W\d_]+)?")
_NEGATION = re.compile(r"\b(not|no|never|cannot|can't|won't|isn't|aren't|doesn't|don't|without|neither|nor)\b")


def _amounts(text: str) -> set[str]:
    return {f"{n.replace(',', '')} {(unit or '').casefold()}".strip() for n, unit in _AMOUNT.findall(text)}


def _negated(text: str) -> bool:
    return bool(_NEGATION.search(text.casefold().replace("’", "'")))


def claim_problem(answer: str, quote: str) -> str | None:
    """Why the answer says more than (or the opposite of) its quote, or None.

    The quote is verified against the article, the answer is not: the model can quote the right
    sentence and still change the number it states, or turn its 'cannot' into 'yes'. Every amount
    in the answer (a number with its unit) must be in the quote, and the answer must be negated
    exactly when the quote is.
    """
    missing = _amounts(normalise(answer)) - _amounts(normalise(quote))
    if missing:
        return "amount_not_in_quote"
    if _negated(answer) != _negated(quote):
        return "polarity_differs_from_quote"
    if answer.strip().casefold().startswith("yes") and _negated(quote):
        return "polarity_differs_from_quote"
    return None


_CONNECTIVES = frozenset({"yes", "no", "go", "also", "too"})


def unsupported_terms(answer: str, sources: str) -> list[str]:
    """The answer's content words that its cited articles do not contain.

    Not the question's words either: "Does Tallyhop integrate with Amazon?" answered with the
    Shopify article's sentence, Amazon put in for Shopify, is the commonest invention there is.
    Strict on purpose (a word the articles never use is a claim they do not make); a false alarm
    costs an 'unknown', a miss shows the customer an invention.
    """
    known = set(terms(sources)) | _CONNECTIVES
    return [t for t in dict.fromkeys(terms(answer)) if t not in known and not t.isdigit()]


def verify(reply: HouseReply, corpus: Corpus, shown: set[str] | None = None) -> Verdict:
    """Show the answer only if its quote is really in an article it cites, among those the model
    was shown, the answer claims what the quote says, and it adds no links.

    The model is steerable and does not always admit ignorance: it may cite an article that does
    not exist, one it was not shown (answering from memory, or another question), or quote a
    sentence that no article contains, or quote the right one and change the claim or add one. Either way the
    customer gets 'unknown' rather than a confident invention.
    """
    if reply.answer is None or not reply.answer.strip():
        return Verdict(None, [], "model_said_unknown")
    cited = [c for c in dict.fromkeys(_doc_id(c) for c in reply.citations) if c in corpus.articles]
    if not cited:
        return Verdict(None, [], "no_known_citation")
    if shown is not None:
        cited = [c for c in cited if c in shown]
        if not cited:
            return Verdict(None, [], "cited_article_not_shown")
    quote = normalise(reply.quote)
    if len(quote.split()) < MIN_QUOTE_WORDS:
        return Verdict(None, [], "quote_missing")
    supporting = [c for c in cited if quote in corpus.articles[c].normalised]
    if not supporting:
        return Verdict(None, [], "quote_not_in_cited_article")
    answer = _clean_answer(reply.answer)
    problem = claim_problem(answer, reply.quote)
    if problem:
        return Verdict(None, [], problem)
    sources = " ".join(corpus.articles[c].text for c in supporting).casefold()
    if unsupported_terms(answer, " ".join(corpus.articles[c].text for c in cited)):
        return Verdict(None, [], "answer_not_in_sources")
    for link in _LINK.findall(answer):
        if link.casefold().rstrip(".,;:)") not in sources:
            return Verdict(None, [], "unsupported_link")
    return Verdict(answer, supporting + [c for c in cited if c not in supporting], "grounded")
