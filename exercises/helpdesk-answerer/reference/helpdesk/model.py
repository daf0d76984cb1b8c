"""Calling the model within a deadline: bounded attempts, backoff, retry-after, a concurrency cap.

The SDK's own retries are off (``max_retries=0``): they sleep for whatever ``retry-after`` says
and know nothing about our deadline. The response body is read here, chunk by chunk, so that the
overall deadline also stops a server that drips bytes slowly (a per-read timeout never fires then).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass

import anthropic

from helpdesk.config import (
    ATTEMPT_TIMEOUT_S,
    BACKOFF_BASE_S,
    BACKOFF_CAP_S,
    CONNECT_TIMEOUT_S,
    MAX_ATTEMPTS,
    MAX_CONCURRENT_CALLS,
    MAX_RESPONSE_BYTES,
    MAX_TOKENS,
    MIN_ATTEMPT_S,
    MODEL,
)
from helpdesk.logs import log_event

_RETRYABLE_STATUS = {408, 409, 429}


class ModelUnavailable(Exception):
    """The model could not give a usable reply before the deadline."""


@dataclass(frozen=True)
class ModelReply:
    text: str
    stop_reason: str | None
    attempts: int
    input_tokens: int | None
    output_tokens: int | None


class _Retry(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _GiveUp(Exception):
    pass


_client: anthropic.Anthropic | None = None
_client_lock = threading.Lock()
_slots = threading.BoundedSemaphore(MAX_CONCURRENT_CALLS)


def _get_client() -> anthropic.Anthropic:
    global _client
    with _client_lock:
        if _client is None:
            _client = anthropic.Anthropic(max_retries=0)
        return _client


def _retry_after(headers) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name) if headers is not None else None
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue  # an HTTP date: fall back to our own backoff
        if seconds >= 0:
            return seconds
    return None


def _backoff(attempt: int) -> float:
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def _read_body(response, attempt_deadline: float) -> bytes:
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > MAX_RESPONSE_BYTES:
            raise _Retry("response_too_large")
        if time.monotonic() > attempt_deadline:
            raise _Retry("attempt_deadline")
    return bytes(data)


def _attempt(system: str, user: str, deadline: float, patient: bool = False) -> tuple[ModelReply, str | None]:
    """One request. ``patient``: the last attempt timed out, so the model may just be slow today;
    this one may use all the time left rather than give up at the usual attempt timeout again."""
    remaining = deadline - time.monotonic()
    budget = remaining if patient else min(ATTEMPT_TIMEOUT_S, remaining)
    timeout = anthropic.Timeout(budget, connect=min(CONNECT_TIMEOUT_S, budget))
    request_id = None
    try:
        with _get_client().messages.with_streaming_response.create(
            model=MODEL,
            max_tokens=MAX_TOKENS,
            system=system,
            messages=[{"role": "user", "content": user}],
            timeout=timeout,
        ) as response:
            request_id = response.headers.get("request-id")
            body = _read_body(response, time.monotonic() + budget)
    except anthropic.APIStatusError as exc:
        status = exc.status_code
        should_retry = exc.response.headers.get("x-should-retry") if exc.response is not None else None
        if should_retry == "false" or (status < 500 and status not in _RETRYABLE_STATUS and should_retry != "true"):
            raise _GiveUp(f"status_{status}") from exc
        raise _Retry(
            f"status_{status}", _retry_after(exc.response.headers if exc.response is not None else None)
        ) from exc
    except anthropic.APITimeoutError as exc:
        raise _Retry("timeout") from exc
    except anthropic.APIConnectionError as exc:
        raise _Retry("connection") from exc
    except _Retry:
        raise
    except Exception as exc:  # the transport failed mid-body in a way the SDK does not wrap
        raise _Retry(f"transport_{type(exc).__name__}") from exc

    try:
        message = json.loads(body)
    except ValueError as exc:  # an HTML error page from a proxy, a body cut short
        raise _Retry("malformed_body") from exc
    if not isinstance(message, dict) or message.get("type") != "message":
        raise _Retry("malformed_body")
    blocks = message.get("content") if isinstance(message.get("content"), list) else []
    text = "".join(b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text")
    usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
    reply = ModelReply(
        text=text if isinstance(text, str) else "",
        stop_reason=message.get("stop_reason"),
        attempts=0,
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
    )
    return reply, request_id


def complete(system: str, user: str, deadline: float, trace: str) -> ModelReply:
    """One model reply, or ModelUnavailable before the deadline. Never sleeps past it."""
    if not _slots.acquire(timeout=max(0.0, deadline - time.monotonic() - MIN_ATTEMPT_S)):
        log_event(logging.WARNING, "model_busy", trace=trace)
        raise ModelUnavailable("no free slot before the deadline")
    try:
        timed_out = False
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if deadline - time.monotonic() < MIN_ATTEMPT_S:
                raise ModelUnavailable("deadline")
            started = time.monotonic()
            try:
                reply, request_id = _attempt(system, user, deadline, patient=timed_out)
            except _GiveUp as exc:
                log_event(logging.ERROR, "model_error", trace=trace, attempt=attempt, reason=str(exc))
                raise ModelUnavailable(str(exc)) from exc
            except _Retry as exc:
                timed_out = exc.reason in ("timeout", "attempt_deadline")
                wait = exc.retry_after if exc.retry_after is not None else _backoff(attempt)
                log_event(
                    logging.WARNING,
                    "model_retry",
                    trace=trace,
                    attempt=attempt,
                    reason=exc.reason,
                    latency_ms=round((time.monotonic() - started) * 1000),
                    wait_s=round(wait, 2),
                )
                if attempt == MAX_ATTEMPTS or time.monotonic() + wait + MIN_ATTEMPT_S > deadline:
                    raise ModelUnavailable(exc.reason) from exc
                time.sleep(wait)
                continue
            log_event(
                logging.INFO,
                "model_reply",
                trace=trace,
                attempt=attempt,
                request_id=request_id,
                stop_reason=reply.stop_reason,
                input_tokens=reply.input_tokens,
                output_tokens=reply.output_tokens,
                latency_ms=round((time.monotonic() - started) * 1000),
            )
            return ModelReply(reply.text, reply.stop_reason, attempt, reply.input_tokens, reply.output_tokens)
        raise ModelUnavailable("attempts exhausted")
    finally:
        _slots.release()
