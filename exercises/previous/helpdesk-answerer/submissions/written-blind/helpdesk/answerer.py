"""Answer customer questions from the Tallyhop help centre with Claude.

``answer(question) -> {"status", "answer", "citations"}``; never raises, returns within 20 s.

Pipeline: validate the question -> retrieve the few matching article sections -> ask the model
(streamed, deadline-bounded, retried) -> parse the reply leniently -> verify citations, quote,
support and safety -> answered / unknown / unavailable / rejected.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field

from helpdesk import model_client
from helpdesk.config import CONTRACT_DEADLINE_S, Settings, load_settings
from helpdesk.corpus import ContextDoc, Corpus, get_corpus
from helpdesk.grounding import leaks_system_prompt, verify
from helpdesk.parsing import ReplyFormatError, parse_reply
from helpdesk.prompts import SYSTEM_PROMPT, build_user_message
from helpdesk.validation import check_question

log = logging.getLogger("helpdesk")

ANSWERED, UNKNOWN, UNAVAILABLE, REJECTED = "answered", "unknown", "unavailable", "rejected"

MESSAGES = {
    UNKNOWN: "Sorry, I couldn't find the answer to that in the Tallyhop help centre. "
    "Please contact our support team and they will be glad to help.",
    UNAVAILABLE: "Sorry, I can't answer right now. Please try again in a few minutes, or contact our support team.",
    REJECTED: "Sorry, I can't help with that. Please ask a question about using Tallyhop.",
}
_REJECT_MESSAGES = {
    "empty": "Please type your question about Tallyhop.",
    "too_long": "Your question is too long. Please shorten it to the essentials and ask again.",
}


@dataclass
class Outcome:
    status: str
    reason: str
    answer: str = ""
    citations: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        if self.status == ANSWERED:
            text = self.answer
        elif self.status == REJECTED:
            text = _REJECT_MESSAGES.get(self.reason, MESSAGES[REJECTED])
        else:
            text = MESSAGES[self.status]
        return {"status": self.status, "answer": text, "citations": list(self.citations)}


@dataclass
class _Trace:
    """What happened during one call, for the single structured log line."""

    qid: str = ""
    qlen: int = 0
    docs: list[str] = field(default_factory=list)
    budget: model_client.Budget | None = None
    shared: bool = False
    extra: list[str] = field(default_factory=list)


# -- the entry point ---------------------------------------------------------------------------------


def answer(question: str) -> dict:
    """Answer a customer's question from the help-centre articles. Never raises; returns within
    20 seconds whatever the model does; safe to call from many threads at once."""
    started = time.monotonic()
    try:
        settings = load_settings()
    except Exception:  # pragma: no cover - load_settings is defensive already
        log.exception("helpdesk: bad settings")
        return Outcome(UNAVAILABLE, "settings").as_dict()
    trace = _Trace()
    box: dict = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["outcome"] = _answer(question, settings, started, trace)
        except Exception:
            log.exception("helpdesk: unexpected failure")
            box["outcome"] = Outcome(UNAVAILABLE, "internal_error")
        finally:
            done.set()

    # The pipeline runs in a helper thread so that the time limit holds even if something we did
    # not foresee blocks (a huge docs folder on first load, a wedged socket...). The pipeline aims
    # for settings.deadline_s; this is the backstop, comfortably inside the contract's 20 s.
    hard_limit = min(settings.deadline_s + 1.5, CONTRACT_DEADLINE_S - 0.8)
    try:
        threading.Thread(target=run, name="helpdesk-answer", daemon=True).start()
        finished = done.wait(max(0.0, hard_limit - (time.monotonic() - started)))
    except RuntimeError:  # cannot start a thread (resource exhaustion): run inline
        run()
        finished = True
    outcome = box.get("outcome") if finished else None
    if outcome is None:
        outcome = Outcome(UNAVAILABLE, "hard_deadline")
    _log(outcome, trace, started)
    return outcome.as_dict()


_stats_lock = threading.Lock()
_stats: collections.Counter = collections.Counter()


def stats() -> dict:
    """Counters since process start (``status:<s>``, ``reason:<r>``, ``model_requests``,
    ``input_tokens``, ``output_tokens``): cheap to expose on a health or metrics endpoint."""
    with _stats_lock:
        return dict(_stats)


def _log(outcome: Outcome, trace: _Trace, started: float) -> None:
    budget = trace.budget
    with _stats_lock:
        _stats[f"status:{outcome.status}"] += 1
        _stats[f"reason:{outcome.reason.split(':')[0]}"] += 1
        if budget:
            _stats["model_requests"] += budget.attempts
            _stats["input_tokens"] += budget.input_tokens
            _stats["output_tokens"] += budget.output_tokens
    record = {
        "status": outcome.status,
        "reason": outcome.reason,
        "latency_ms": round(1000 * (time.monotonic() - started)),
        "qid": trace.qid,
        "qlen": trace.qlen,
        "docs": trace.docs,
        "citations": outcome.citations,
        "attempts": budget.attempts if budget else 0,
        "attempt_log": budget.events if budget else [],
        "input_tokens": budget.input_tokens if budget else 0,
        "output_tokens": budget.output_tokens if budget else 0,
        "request_ids": budget.request_ids if budget else [],
        "shared": trace.shared,
        "concurrency_limit": model_client.limiter.limit,
        "notes": trace.extra,
    }
    level = logging.WARNING if outcome.status == UNAVAILABLE or outcome.reason == "internal_error" else logging.INFO
    log.log(level, "helpdesk.answer %s", " ".join(f"{k}={v}" for k, v in record.items()), extra={"helpdesk": record})


# -- identical questions at the same moment share one model call ---------------------------------


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.outcome: Outcome | None = None


_flights_lock = threading.Lock()
_flights: dict[tuple, _Flight] = {}
_cache: dict[tuple, tuple[float, Outcome]] = {}
_CACHE_MAX = 2048


def _answer(question: object, settings: Settings, started: float, trace: _Trace) -> Outcome:
    deadline = started + settings.deadline_s
    checked = check_question(question, settings.max_question_chars)
    if isinstance(question, str):
        trace.qlen = len(question)
        trace.qid = hashlib.sha256(question.encode("utf-8", "replace")).hexdigest()[:12]
    if not checked.ok:
        return Outcome(REJECTED, checked.reason)

    key = (str(settings.docs_dir), settings.model, checked.text.casefold())
    now = time.monotonic()
    with _flights_lock:
        hit = _cache.get(key)
        if hit and hit[0] > now:
            trace.shared = True
            return _copy(hit[1])
        flight = _flights.get(key)
        leader = flight is None
        if leader:
            flight = _flights[key] = _Flight()
    if not leader:
        trace.shared = True
        if flight.done.wait(max(0.0, deadline - time.monotonic())) and flight.outcome is not None:
            return _copy(flight.outcome)
        return Outcome(UNAVAILABLE, "shared_call_timeout")
    try:
        outcome = _answer_checked(checked.text, settings, deadline, trace)
        flight.outcome = outcome
        if settings.cache_ttl_s > 0 and outcome.status in (ANSWERED, UNKNOWN):
            with _flights_lock:
                if len(_cache) >= _CACHE_MAX:
                    _cache.clear()
                _cache[key] = (time.monotonic() + settings.cache_ttl_s, outcome)
        return outcome
    finally:
        with _flights_lock:
            _flights.pop(key, None)
        if flight.outcome is None:
            flight.outcome = Outcome(UNAVAILABLE, "shared_call_failed")
        flight.done.set()


def _copy(outcome: Outcome) -> Outcome:
    return Outcome(outcome.status, outcome.reason, outcome.answer, list(outcome.citations))


# -- retrieval, the model call, checks ---------------------------------------------------------------


def _answer_checked(question: str, settings: Settings, deadline: float, trace: _Trace) -> Outcome:
    corpus = get_corpus(settings.docs_dir, timeout=max(0.0, deadline - time.monotonic() - 2.0))
    if corpus is None or len(corpus) == 0:
        log.error("helpdesk: no help-centre articles available in %s", settings.docs_dir)
        return Outcome(UNAVAILABLE, "no_corpus")
    docs = corpus.search(question, settings.context_char_budget, settings.max_context_docs)
    trace.docs = [d.id for d in docs]
    if not docs:
        # Nothing in the help centre shares a meaningful word with the question: the model could
        # only say "null" (or make something up). Save the request.
        return Outcome(UNKNOWN, "no_matching_articles")
    budget = model_client.Budget(deadline=deadline, max_attempts=settings.max_attempts)
    trace.budget = budget
    return _ask(question, docs, corpus, settings, budget, trace)


def _ask(
    question: str,
    docs: list[ContextDoc],
    corpus: Corpus,
    settings: Settings,
    budget: model_client.Budget,
    trace: _Trace,
) -> Outcome:
    max_tokens = settings.max_tokens
    format_retry_used = False
    dropped_community = False
    while True:
        params = {
            "model": settings.model,
            "max_tokens": max_tokens,
            "system": SYSTEM_PROMPT,
            "messages": [{"role": "user", "content": build_user_message(docs, question)}],
        }
        try:
            reply = model_client.complete(params, settings, budget)
        except model_client.ModelUnavailable as exc:
            return Outcome(UNAVAILABLE, exc.reason)

        if reply.stop_reason == "refusal":
            # The API's safety layer declined: that is a verdict on the input, and asking again
            # would only repeat it.
            return Outcome(REJECTED, "model_refusal")

        problem, parsed = None, None
        if not reply.text.strip():
            problem = "empty_reply"
        elif leaks_system_prompt(reply.text):
            problem = "prompt_echo"
        else:
            try:
                parsed = parse_reply(reply.text)
            except ReplyFormatError as exc:
                problem = "truncated" if reply.stop_reason == "max_tokens" else f"bad_format({exc})"
        if problem:
            trace.extra.append(problem)
            if not format_retry_used and budget.can_attempt(settings.min_attempt_s):
                format_retry_used = True
                if problem == "truncated":
                    max_tokens = min(2 * max_tokens, 1200)
                continue
            return Outcome(UNAVAILABLE, f"unusable_reply:{problem}")

        verdict = verify(parsed, docs, corpus, question)
        if verdict.unsafe:
            log.warning("helpdesk: blocked an answer (%s); docs=%s", verdict.reason, [d.id for d in docs])
            community = [d for d in docs if d.community]
            if community and not dropped_community and budget.can_attempt(settings.min_attempt_s):
                # Most likely steered by a forum post: ask again from official articles only.
                dropped_community = True
                docs = [d for d in docs if not d.community]
                trace.extra.append(f"retry_without_community:{verdict.reason}")
                if docs:
                    continue
            return Outcome(UNKNOWN, f"blocked:{verdict.reason}")
        if verdict.status == ANSWERED:
            return Outcome(ANSWERED, "ok", verdict.answer, verdict.citations)
        return Outcome(UNKNOWN, verdict.reason)
