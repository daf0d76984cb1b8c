"""``answer(question)``: the contract's entry point. It never raises and returns within 20 s."""

from __future__ import annotations

import logging
import time
import uuid

from helpdesk import model
from helpdesk.config import DEADLINE_S
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


def _answer(question: object, deadline: float, trace: str) -> tuple[dict, str]:
    cleaned = clean_question(question)
    if cleaned.text is None:
        return _result("rejected"), cleaned.reason
    corpus = get_corpus()
    chunks = select_chunks(corpus, cleaned.text)
    log_event(
        logging.INFO,
        "retrieved",
        trace=trace,
        question_chars=len(cleaned.text),
        question_hash=fingerprint(cleaned.text),
        chunks=len(chunks),
        docs=sorted({c.doc_id for c in chunks}),
    )
    if not chunks:
        return _result("unknown"), "nothing_retrieved"
    try:
        reply = model.complete(SYSTEM_PROMPT, user_message(cleaned.text, chunks), deadline, trace)
    except model.ModelUnavailable as exc:
        return _result("unavailable"), f"model_unavailable:{exc}"
    if reply.stop_reason == "refusal":
        return _result("unknown"), "model_refused"
    if reply.stop_reason not in ("end_turn", "stop_sequence"):
        return _result("unavailable"), f"stop_reason:{reply.stop_reason}"
    house = parse_house_reply(reply.text)
    if house is None:
        return _result("unavailable"), "unparseable_reply"
    verdict = verify(house, corpus)
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
