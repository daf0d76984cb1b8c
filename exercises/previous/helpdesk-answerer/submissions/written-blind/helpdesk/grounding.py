"""Check a parsed reply before a customer sees it.

Grounding: citations must name articles we actually sent, the quote must really be in a cited
article, and the answer's content words and numbers must be found in the cited articles.
Safety: no contact details that official articles do not contain, no requests for credentials, no
text lifted from our own system prompt.

Anything that fails becomes "unknown": showing nothing is better than showing a wrong or
steered answer with a help-centre badge on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from helpdesk.corpus import ContextDoc, Corpus
from helpdesk.parsing import HouseReply
from helpdesk.prompts import SYSTEM_PROMPT
from helpdesk.textutil import (
    EMAIL_RE,
    GENERIC_WORDS,
    URL_RE,
    content_terms,
    english_ratio,
    numbers,
    phone_numbers,
    sentences,
    words,
)

MAX_ANSWER_CHARS = 1200
MIN_SUPPORT = 0.6  # share of the answer's content words found in the cited articles
MIN_SUPPORT_WITHOUT_QUOTE = 0.8
COMMUNITY_PREFIX = "Tip from the Tallyhop community forum (not official guidance): "

_ASKS_FOR_SECRETS_RE = re.compile(
    r"\b(send|share|e-?mail|give|provide|forward|dm|reply with|tell us|post|text)\b[^.!?]{0,60}"
    r"\b(passwords?|passcodes?|usernames?|user names?|login details|credentials|card numbers?|card details|"
    r"cvv|cvc|security codes?|recovery codes?|2fa codes?|one-time codes?|verification codes?|pin|"
    r"online banking)\b",
    re.I,
)
_NEGATION_RE = re.compile(r"\b(never|not|don't|do not|won't|will not|no one|nobody|cannot|can't)\b[^.!?]{0,40}$", re.I)
_SHINGLE = 8


def _shingles(text: str, n: int = _SHINGLE) -> set[tuple[str, ...]]:
    toks = words(text)
    return {tuple(toks[i : i + n]) for i in range(max(0, len(toks) - n + 1))}


_PROMPT_SHINGLES = _shingles(SYSTEM_PROMPT)


def leaks_system_prompt(text: str) -> bool:
    """True when the text repeats a run of our system prompt (an echo or an extraction)."""
    return bool(_shingles(text) & _PROMPT_SHINGLES)


@dataclass
class Verdict:
    status: str  # "answered" or "unknown"
    reason: str  # for logs and metrics
    answer: str = ""
    citations: list[str] = field(default_factory=list)
    unsafe: bool = False  # the safety guard fired (the answer may have been steered)


def _quote_found(quote: str, doc_text: str) -> bool:
    q = words(quote)
    if len(q) < 3:
        return False
    d = words(doc_text)
    if f" {' '.join(q)} " in f" {' '.join(d)} ":
        return True
    # Tolerate a small edit (a dropped or changed word) in a long quote, not a paraphrase.
    if len(q) < 8:
        return False
    doc_bigrams = set(zip(d, d[1:]))
    q_bigrams = list(zip(q, q[1:]))
    return sum(b in doc_bigrams for b in q_bigrams) / len(q_bigrams) >= 0.85


def _support(answer: str, doc_terms: set[str]) -> float:
    """Share of the answer's content words that the cited articles contain. Words the question
    used get no pass: an answer that merely restates the customer's premise ("Yes, nonprofits get
    a discount") is exactly the unsupported kind."""
    terms = [t for t in content_terms(answer) if t not in GENERIC_WORDS and not t.isdigit()]
    if not terms:
        return 1.0
    return sum(t in doc_terms for t in terms) / len(terms)


def unsafe_reason(answer: str, corpus: Corpus) -> str | None:
    """Why an answer must not be shown, or None."""
    folded = answer.casefold()
    if leaks_system_prompt(answer):
        return "prompt_leak"
    for email in EMAIL_RE.findall(answer):
        if email.casefold() not in corpus.official_text_folded:
            return "unknown_email"
    for url in URL_RE.findall(answer):
        if url.casefold().rstrip(".,)") not in corpus.official_text_folded:
            return "unknown_link"
    for phone in phone_numbers(answer):
        if phone not in corpus.official_text_folded:
            return "unknown_phone"
    for match in _ASKS_FOR_SECRETS_RE.finditer(answer):
        sentence_start = max(folded.rfind(". ", 0, match.start()), folded.rfind("\n", 0, match.start()), -1) + 1
        if not _NEGATION_RE.search(answer[sentence_start : match.start() + len(match.group(1))]):
            return "asks_for_secrets"
    return None


def _trim(answer: str) -> str:
    answer = answer.strip()
    if len(answer) <= MAX_ANSWER_CHARS:
        return answer
    out = ""
    for sentence in sentences(answer):
        if len(out) + len(sentence) + 1 > MAX_ANSWER_CHARS:
            break
        out = f"{out} {sentence}".strip()
    return out or answer[:MAX_ANSWER_CHARS].rsplit(" ", 1)[0] + "…"


def verify(reply: HouseReply, sent: list[ContextDoc], corpus: Corpus, question: str) -> Verdict:
    if reply.answer is None and not reply.answer_missing:
        return Verdict("unknown", "model_unknown")
    sent_ids = {d.id for d in sent}
    cited: list[str] = []
    for raw in reply.citations:
        doc_id = corpus.resolve_id(raw)
        if doc_id and doc_id in sent_ids and doc_id not in cited:
            cited.append(doc_id)
    if not cited:
        return Verdict("unknown", "no_valid_citation" if reply.citations else "no_citation")

    quote_doc = None
    if reply.quote:
        quote_doc = next((d for d in cited if _quote_found(reply.quote, corpus.articles[d].text)), None)
        if quote_doc is None:
            return Verdict("unknown", "quote_not_found")

    answer = reply.answer
    if answer is None:  # the "answer" key went missing: the verified quote is the safest answer text
        if quote_doc is None:
            return Verdict("unknown", "no_answer")
        answer = reply.quote
    answer = answer.strip()
    if not answer:
        return Verdict("unknown", "empty_answer")

    # Safety first: a steered answer must be reported as such even if it is also unsupported.
    reason = unsafe_reason(answer, corpus)
    if reason:
        return Verdict("unknown", reason, unsafe=True)

    doc_texts = [corpus.articles[d].text for d in cited]
    labels = [f"{corpus.articles[d].title} {d.replace('-', ' ')}" for d in cited]
    doc_terms = set(content_terms(" ".join(doc_texts + labels)))
    asked = {t for t in content_terms(question) if t not in GENERIC_WORDS}
    if asked and not asked & doc_terms:
        return Verdict("unknown", "off_topic_citation")  # the cited articles share no word with the question
    english = english_ratio(answer) >= 0.12
    if english:
        support = _support(answer, doc_terms)
        if support < (MIN_SUPPORT if quote_doc else MIN_SUPPORT_WITHOUT_QUOTE):
            return Verdict("unknown", f"unsupported_answer:{support:.2f}")
    elif quote_doc is None:
        return Verdict("unknown", "unverifiable_answer")
    known_numbers = numbers(question).union(*(numbers(t) for t in doc_texts))
    if not numbers(answer) <= known_numbers:
        return Verdict("unknown", "unsupported_number")

    # Keep the citations that actually relate to the answer; the quote's article first.
    answer_terms = set(content_terms(answer))
    enough = max(1, len(answer_terms) // 5)
    related = [
        d for d in cited if d == quote_doc or len(answer_terms & set(content_terms(corpus.articles[d].text))) >= enough
    ]
    citations = ([quote_doc] if quote_doc else []) + [d for d in related if d != quote_doc]
    citations = citations or cited
    answer = _trim(answer)
    if all(corpus.articles[d].community for d in citations):
        answer = COMMUNITY_PREFIX + answer
    return Verdict("answered", "ok", answer, citations)
