"""``answer(question)``: the contract's entry point. It never raises and returns within 20 s."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict

from helpdesk import model
from helpdesk.config import ANSWER_CACHE_SIZE, ANSWER_CACHE_TTL_S, DEADLINE_S
from helpdesk.corpus import get_corpus
from helpdesk.inputs import clean_question
from helpdesk.logs import fingerprint, log_event
from helpdesk.prompt import SYSTEM_PROMPT, select_chunks, user_message
from helpdesk.reply import parse_house_reply, verify

MESSAGES = {
    "rejected": "Sorry, I can't help with that. Please ask a question about Tallyhop in a sentence or two.",
    "unknown": "I couldn't find that in our help centre. You can ask our support team from Help > Contact us.",
    "unavailable": "Our assistant is busy right now. Please try again in a minute, or contact our support team.",
}


def _result(status: str, text: str | None = None, citations: list[str] | None = None) -> dict:
    return {"status": status, "answer": text if text is not None else MESSAGES[status], "citations": citations or []}


class _AnswerCache:
    """Recent grounded answers and 'unknown's by question, so a busy FAQ costs one model call.

    Only outcomes that hold for a while are kept: never 'unavailable' (the next ask should try the
    model again) and never 'rejected' (no model call to save). Bounded in size and age, so a fixed
    article reaches customers within ANSWER_CACHE_TTL_S.
    """

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[float, dict, str]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(question: str) -> str:
        return " ".join(question.casefold().split())

    def get(self, question: str) -> tuple[dict, str] | None:
        with self._lock:
            item = self._items.get(self.key(question))
            if item is None or time.monotonic() - item[0] > ANSWER_CACHE_TTL_S:
                return None
            self._items.move_to_end(self.key(question))
            return dict(item[1], citations=list(item[1]["citations"])), item[2]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def put(self, question: str, result: dict, reason: str) -> None:
        if result["status"] not in ("answered", "unknown") or reason in ("nothing_retrieved",):
            return
        with self._lock:
            self._items[self.key(question)] = (time.monotonic(), result, reason)
            self._items.move_to_end(self.key(question))
            while len(self._items) > ANSWER_CACHE_SIZE:
                self._items.popitem(last=False)


_cache = _AnswerCache()


def clear_cache() -> None:
    """Forget every remembered answer (after an article changes; between tests)."""
    _cache.clear()


def _answer(question: object, deadline: float, trace: str) -> tuple[dict, str]:
    cleaned = clean_question(question)
    if cleaned.text is None:
        return _result("rejected"), cleaned.reason
    cached = _cache.get(cleaned.text)
    if cached is not None:
        return cached[0], f"cached:{cached[1]}"
    result, reason = _answer_from_model(cleaned.text, deadline, trace)
    _cache.put(cleaned.text, result, reason)
    return result, reason


def _answer_from_model(question: str, deadline: float, trace: str) -> tuple[dict, str]:
    corpus = get_corpus()
    chunks = select_chunks(corpus, question)
    log_event(
        logging.INFO,
        "retrieved",
        trace=trace,
        question_chars=len(question),
        question_hash=fingerprint(question),
        chunks=len(chunks),
        docs=sorted({c.doc_id for c in chunks}),
    )
    if not chunks:
        return _result("unknown"), "nothing_retrieved"
    try:
        reply = model.complete(SYSTEM_PROMPT, user_message(question, chunks), deadline, trace)
    except model.ModelUnavailable as exc:
        return _result("unavailable"), f"model_unavailable:{exc}"
    if reply.stop_reason == "refusal":
        return _result("unknown"), "model_refused"
    if reply.stop_reason not in ("end_turn", "stop_sequence"):
        return _result("unavailable"), f"stop_reason:{reply.stop_reason}"
    house = parse_house_reply(reply.text)
    if house is None:
        return _result("unavailable"), "unparseable_reply"
    verdict = verify(house, corpus, shown={c.doc_id for c in chunks})
    if verdict.answer is None:
        return _result("unknown"), verdict.reason
    return _result("answered", verdict.answer, verdict.citations), verdict.reason


def answer(question: str) -> dict:
    started = time.monotonic()
    trace = uuid.uuid4().hex[:12]
    try:
        result, reason = _answer(question, started + DEADLINE_S, trace)
    except Exception:  # the contract: never raise. Log it with its traceback and degrade.
        logging.getLogger("helpdesk").exception("unexpected error (trace %s)", trace)
        result, reason = _result("unavailable"), "unexpected_error"
    log_event(
        logging.INFO if result["status"] == "answered" else logging.WARNING,
        "answered",
        trace=trace,
        status=result["status"],
        reason=reason,
        citations=result["citations"],
        latency_ms=round((time.monotonic() - started) * 1000),
    )
    return result
