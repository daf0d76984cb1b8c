"""Talking to the model under a hard deadline.

Why not just ``client.messages.create(...)`` with the SDK's retries:
- the SDK's timeouts are per read, so a server that trickles whitespace never times out, and its
  retries sleep whatever ``retry-after`` says even when that overruns our 20 s contract;
- ``answer`` has one budget for everything, so retries must be planned against what is left.

So the SDK is used with ``max_retries=0`` and a streaming request. Each attempt runs in a daemon
worker thread; the caller waits for it no longer than the budget allows. The worker watches for
progress (an idle timeout on bytes *and* on SSE events, so a trickle is caught too) and for a cancel
flag, and closes the connection when either fires, so abandoned requests do not linger on the
server. Failures are classified into retryable or not, honouring ``retry-after``/``retry-after-ms``
and ``x-should-retry``; retries are only made when they can still finish inside the budget.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field

import anthropic

from helpdesk.config import Settings
from helpdesk.limiter import AdaptiveLimiter

log = logging.getLogger("helpdesk.model")

try:  # the HTTP library under the pinned SDK; only needed to recognise its transport errors
    import httpx2 as _http
except ImportError:  # pragma: no cover - older SDKs use httpx
    import httpx as _http  # type: ignore[no-redef]

_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    anthropic.APIConnectionError,  # includes APITimeoutError
    _http.TransportError,  # timeouts, resets, protocol errors raised while reading the body
    json.JSONDecodeError,
    UnicodeDecodeError,
)
_RETRYABLE_STREAM_ERRORS = {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}
_CAPACITY_BY_STREAM_ERROR = {"overloaded_error": "overloaded", "rate_limit_error": "rate_limited"}
MAX_BODY_BYTES = 2_000_000


class AttemptError(Exception):
    """One attempt failed. ``kind`` is a short machine-readable label for logs."""

    def __init__(
        self,
        kind: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        capacity: str = "other",
        status: int | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.retryable = retryable
        self.retry_after = retry_after
        self.capacity = capacity  # what the failure says about capacity: see AdaptiveLimiter.release
        self.status = status
        self.detail = detail


class ModelUnavailable(Exception):
    """No usable reply could be had within the budget."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ModelReply:
    text: str
    stop_reason: str | None
    complete: bool
    input_tokens: int = 0
    output_tokens: int = 0
    request_id: str | None = None


@dataclass
class Budget:
    """What one ``answer`` call may still spend."""

    deadline: float  # time.monotonic() value
    max_attempts: int
    attempts: int = 0
    events: list[str] = field(default_factory=list)  # attempt outcomes, for the log line
    input_tokens: int = 0
    output_tokens: int = 0
    request_ids: list[str] = field(default_factory=list)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def can_attempt(self, min_s: float) -> bool:
        return self.attempts < self.max_attempts and self.remaining() >= min_s


# -- client and limiter (process-wide) ------------------------------------------------------------

_client_lock = threading.Lock()
_client_key: tuple | None = None
_client: anthropic.Anthropic | None = None
limiter = AdaptiveLimiter(initial=4, maximum=16)


def get_client() -> anthropic.Anthropic:
    """One client per process, rebuilt if the endpoint or credentials in the environment change."""
    global _client, _client_key
    key = tuple(os.environ.get(k) for k in ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"))
    with _client_lock:
        if _client is None or key != _client_key:
            _client = anthropic.Anthropic(max_retries=0)
            _client_key = key
        return _client


# -- one attempt -------------------------------------------------------------------------------------


class _SSEDecoder:
    """Server-sent events from raw bytes (a blank line ends an event)."""

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        self._buf += chunk
        out = []
        while True:
            cut = self._buf.find(b"\n")
            if cut < 0:
                break
            line, self._buf = self._buf[:cut].rstrip(b"\r"), self._buf[cut + 1 :]
            if not line:
                if self._data:
                    out.append((self._event, "\n".join(self._data)))
                self._event, self._data = None, []
                continue
            if line.startswith(b":"):
                continue
            name, _, value = line.partition(b":")
            value = value[1:] if value.startswith(b" ") else value
            if name == b"event":
                self._event = value.decode("utf-8", "replace")
            elif name == b"data":
                self._data.append(value.decode("utf-8", "replace"))
        if len(self._buf) > MAX_BODY_BYTES:
            raise AttemptError("oversized_event", retryable=True)
        return out


class _Message:
    """Accumulates a streamed message."""

    def __init__(self) -> None:
        self.blocks: dict[int, list[str]] = {}
        self.closed: set[int] = set()
        self.stop_reason: str | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.done = False

    def handle(self, event: str | None, raw: str) -> None:
        try:
            data = json.loads(raw)
        except ValueError:
            raise AttemptError("broken_event", retryable=True, detail=raw[:80]) from None
        if not isinstance(data, dict):
            raise AttemptError("broken_event", retryable=True)
        kind = data.get("type") or event
        index = data.get("index") if isinstance(data.get("index"), int) else 0
        if kind == "message_start":
            usage = (data.get("message") or {}).get("usage") or {}
            self.input_tokens = _int(usage.get("input_tokens"))
        elif kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "text":
                self.blocks[index] = [str(block.get("text") or "")]
        elif kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta":
                self.blocks.setdefault(index, []).append(str(delta.get("text") or ""))
        elif kind == "content_block_stop":
            self.closed.add(index)
        elif kind == "message_delta":
            delta = data.get("delta") or {}
            self.stop_reason = delta.get("stop_reason") or self.stop_reason
            usage = data.get("usage") or {}
            self.output_tokens = _int(usage.get("output_tokens")) or self.output_tokens
            self.input_tokens = _int(usage.get("input_tokens")) or self.input_tokens
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            error = data.get("error") or {}
            etype = str(error.get("type") or "error")
            raise AttemptError(
                f"stream_{etype}",
                retryable=etype in _RETRYABLE_STREAM_ERRORS,
                capacity=_CAPACITY_BY_STREAM_ERROR.get(etype, "other"),
                detail=str(error.get("message") or "")[:200],
            )
        # ping and unknown events: progress only

    def text(self) -> str:
        return "".join("".join(self.blocks[i]) for i in sorted(self.blocks))

    def reply(self, request_id: str | None) -> ModelReply:
        # A stream cut before message_stop is only usable if every text block was closed.
        complete = self.done or (bool(self.blocks) and set(self.blocks) <= self.closed)
        if not complete:
            raise AttemptError("stream_cut", retryable=True)
        return ModelReply(self.text(), self.stop_reason, self.done, self.input_tokens, self.output_tokens, request_id)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _message_from_json(body: bytes, request_id: str | None) -> ModelReply:
    """A plain JSON message (a proxy or server that ignored ``stream``)."""
    data = json.loads(body)
    if not isinstance(data, dict) or data.get("type") == "error":
        raise AttemptError("error_body", retryable=True)
    content = data.get("content") if isinstance(data.get("content"), list) else []
    text = "".join(str(b.get("text") or "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return ModelReply(
        text,
        data.get("stop_reason"),
        True,
        _int(usage.get("input_tokens")),
        _int(usage.get("output_tokens")),
        request_id,
    )


def _read(response: anthropic.APIResponse, idle_s: float, cancel: threading.Event) -> ModelReply:
    request_id = response.headers.get("request-id")
    ctype = (response.headers.get("content-type") or "").lower()
    if "text/event-stream" not in ctype:
        body = bytearray()
        for chunk in response.iter_bytes():
            if cancel.is_set():
                raise AttemptError("cancelled", retryable=False)
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise AttemptError("oversized_body", retryable=True)
        if "json" not in ctype:  # e.g. a proxy's HTML error page with status 200
            raise AttemptError("bad_content_type", retryable=True, detail=ctype[:60])
        return _message_from_json(bytes(body), request_id)

    decoder, message = _SSEDecoder(), _Message()
    last_event = time.monotonic()
    received = 0
    for chunk in response.iter_bytes():
        if cancel.is_set():
            raise AttemptError("cancelled", retryable=False)
        received += len(chunk)
        if received > MAX_BODY_BYTES:
            raise AttemptError("oversized_body", retryable=True)
        events = decoder.feed(chunk)
        now = time.monotonic()
        for event, data in events:
            last_event = now
            message.handle(event, data)
            if message.done:
                return message.reply(request_id)
        if now - last_event > idle_s:  # bytes are arriving, events are not: a trickle
            raise AttemptError("stalled_stream", retryable=True)
    return message.reply(request_id)


def _retry_after(headers: object) -> float | None:
    get = getattr(headers, "get", None)
    if get is None:
        return None
    try:
        return max(0.0, float(get("retry-after-ms")) / 1000)
    except (TypeError, ValueError):
        pass
    value = get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    parsed = email.utils.parsedate_tz(str(value))
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def _from_status(exc: anthropic.APIStatusError) -> AttemptError:
    status = exc.status_code
    headers = exc.response.headers
    should = (headers.get("x-should-retry") or "").lower()
    # The server's explicit word wins; otherwise the usual transient statuses.
    retryable = should == "true" if should in ("true", "false") else status in (408, 409, 429) or status >= 500
    message = str(getattr(exc, "api_message", None) or "")
    kind = f"http_{status}"
    if status == 400 and "prompt is too long" in message:
        kind = "context_too_long"
    return AttemptError(
        kind,
        retryable=retryable,
        retry_after=_retry_after(headers),
        capacity={429: "rate_limited", 529: "overloaded"}.get(status, "other"),
        status=status,
        detail=message[:200],
    )


def _worker(params: dict, timeout: anthropic.Timeout, idle_s: float, cancel: threading.Event, box: dict) -> None:
    outcome = "other"
    try:
        headers = {"x-stainless-retry-count": str(params.pop("_retry_index", 0))}
        with get_client().messages.with_streaming_response.create(
            **params, stream=True, timeout=timeout, extra_headers=headers
        ) as response:
            box["reply"] = _read(response, idle_s, cancel)
        outcome = "ok"
    except AttemptError as exc:
        box["error"] = exc
        outcome = exc.capacity
    except anthropic.APIStatusError as exc:
        box["error"] = _from_status(exc)
        outcome = box["error"].capacity
    except _TRANSPORT_ERRORS as exc:
        timed_out = isinstance(exc, (anthropic.APITimeoutError, _http.TimeoutException))
        box["error"] = AttemptError("timeout" if timed_out else "connection", retryable=True, detail=type(exc).__name__)
    except Exception as exc:  # an SDK or programming error: do not hammer the API with it
        log.exception("model request failed unexpectedly")
        box["error"] = AttemptError("client_error", retryable=False, detail=type(exc).__name__)
    finally:
        limiter.release(outcome)
        box["done"].set()


def _attempt(params: dict, settings: Settings, budget: Budget) -> ModelReply:
    remaining = budget.remaining()
    idle = max(0.1, min(settings.idle_timeout_s, remaining))
    timeout = anthropic.Timeout(
        idle, connect=max(0.1, min(settings.connect_timeout_s, remaining)), read=idle, write=idle, pool=idle
    )
    cancel, box = threading.Event(), {"done": threading.Event()}
    thread = threading.Thread(
        target=_worker, args=(dict(params), timeout, idle, cancel, box), name="helpdesk-model-call", daemon=True
    )
    try:
        thread.start()
    except RuntimeError:  # cannot start a thread: give the slot back
        limiter.release("other")
        raise AttemptError("no_thread", retryable=False) from None
    if not box["done"].wait(max(0.0, budget.remaining())):
        cancel.set()  # the worker closes the connection at its next chance
        raise AttemptError("deadline", retryable=False)
    if "error" in box:
        raise box["error"]
    return box["reply"]


def _delay(error: AttemptError, attempt: int) -> float:
    if error.retry_after is not None:
        return error.retry_after + random.uniform(0, 0.1)
    if error.kind in ("timeout", "stalled_stream"):
        return random.uniform(0, 0.1)  # we already waited; the fresh attempt is the point
    return min(4.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def complete(params: dict, settings: Settings, budget: Budget) -> ModelReply:
    """One model reply, retrying transient failures while the budget allows; else ModelUnavailable."""
    limiter.configure(settings.initial_concurrency, settings.max_concurrency)
    last = "no_attempt"
    while True:
        if budget.attempts >= budget.max_attempts:
            raise ModelUnavailable(f"attempts_exhausted:{last}")
        if budget.remaining() < settings.min_attempt_s:
            raise ModelUnavailable(f"deadline:{last}")
        if not limiter.acquire(timeout=budget.remaining() - settings.min_attempt_s):
            raise ModelUnavailable(f"queue_timeout:{last}")
        budget.attempts += 1
        started = time.monotonic()
        try:
            reply = _attempt({**params, "_retry_index": budget.attempts - 1}, settings, budget)
        except AttemptError as error:
            last = error.kind
            budget.events.append(f"{error.kind}@{time.monotonic() - started:.1f}s")
            log.warning("model attempt %d failed: %s", budget.attempts, error)
            if error.status in (401, 403):
                log.error("the model endpoint refused our credentials (HTTP %s): check ANTHROPIC_API_KEY", error.status)
            if not error.retryable:
                raise ModelUnavailable(error.kind) from None
            pause = _delay(error, budget.attempts)
            if budget.attempts >= budget.max_attempts or budget.remaining() - pause < settings.min_attempt_s:
                raise ModelUnavailable(f"{error.kind}:no_time_to_retry") from None
            time.sleep(pause)
            continue
        budget.events.append(f"ok@{time.monotonic() - started:.1f}s")
        budget.input_tokens += reply.input_tokens
        budget.output_tokens += reply.output_tokens
        if reply.request_id:
            budget.request_ids.append(reply.request_id)
        return reply
