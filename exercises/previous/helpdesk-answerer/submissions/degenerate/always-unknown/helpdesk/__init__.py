"""Consults the model, then says "unknown" to everything: hedging as a strategy.

A candidate who has worked out that a cautious "I don't know" is never a made-up answer, never
shows raw output and never leaks anything. It does ask the model about every question, with a
short bounded prompt, a small ``max_tokens``, timeouts and no SDK retries, so that it looks like a
feature that talks to a model; it then ignores the reply and returns ``unknown``. It never raises
and returns well within the 20 s limit.
"""

import concurrent.futures
import logging

import anthropic

MODEL = "claude-haiku-5-5"
MAX_QUESTION_CHARS = 2_000
WAIT_S = 8.0  # the SDK timeout is per read: a reply that trickles in needs a cap of its own

log = logging.getLogger("helpdesk")
_client = anthropic.Anthropic(max_retries=0, timeout=anthropic.Timeout(5.0, connect=2.0))
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=32)


def _consult(question: str) -> None:
    try:
        _client.messages.create(
            model=MODEL,
            max_tokens=300,
            system="You are Tallyhop's support assistant. Answer briefly.",
            messages=[{"role": "user", "content": question[:MAX_QUESTION_CHARS]}],
        )
    except Exception as exc:
        log.warning("model call failed: %s", exc)


def answer(question: str) -> dict:
    if isinstance(question, str) and question.strip():
        try:
            _pool.submit(_consult, question).result(timeout=WAIT_S)
        except concurrent.futures.TimeoutError:
            log.warning("the model did not reply within %.0f s", WAIT_S)
    return {"status": "unknown", "answer": "I couldn't find this in the help centre.", "citations": []}
