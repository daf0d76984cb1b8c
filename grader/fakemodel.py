"""A fake Anthropic Messages API: a real HTTP server that plays a script of answers and faults.

The official ``anthropic`` SDK, pointed at it with ``base_url`` / ``ANTHROPIC_BASE_URL``, cannot
tell it from the real API: same JSON shapes, error bodies, status codes, headers (``request-id``,
``retry-after``, ``retry-after-ms``, ``x-should-retry``) and streaming events. Hidden probes use it
to see how a candidate's code behaves when the model misbehaves, and it records every request so a
probe can judge *how* the code talked to the model (retries, gaps, timeouts, concurrency, cost).

Python standard library only, Python 3.11+, no Django: this very file is bundled into starter kits
so candidates can work offline (``python fakemodel.py --port 8765 --script "ok,429,ok"``).

In process::

    from grader.fakemodel import FakeModel
    with FakeModel(script="429(retry_after=1)*2,ok", seed=0, max_in_flight=4) as fm:
        client = anthropic.Anthropic(base_url=fm.base_url, api_key="sk-test")
        ...
        fm.requests        # snapshot list of record dicts, oldest first
        fm.peak_in_flight  # most requests served at once
        fm.reset(script="ok")

Standalone: ``python -m grader.fakemodel --port PORT --script SCRIPT [--responder
module:callable | /path/file.py:callable] [--seed N] [--max-in-flight N] [--tpm N]
[--context-window N] [--unix-socket PATH] [--host HOST]``. It prints ``fakemodel listening on URL``
and, standalone only, also serves ``GET /_fake/requests`` (JSON list of records) and
``POST /_fake/reset`` (optional JSON body ``{"script": "..."}``). In process these control
endpoints are off by default (``control_endpoints=False``): the code under test can reach the
server, and must not be able to read or wipe the evidence.

Endpoints: ``POST …/v1/messages`` (non-streaming and ``"stream": true``) and
``POST …/v1/messages/count_tokens``. Any path prefix before ``/v1`` is accepted, since a base URL
may carry one. Auth: ``x-api-key`` or ``Authorization: Bearer``, any non-empty value (401 when both
are missing); any ``anthropic-version``.

Script grammar
--------------
A script is a comma-separated list of steps. Each ``POST /v1/messages`` that passes validation and
the limits consumes one step; the last step repeats forever::

    script := step ("," step)*
    step   := name ["(" [param ("," param)*] ")"] ["*" COUNT]      # COUNT >= 1 repeats the step
    name   := identifier | status code 400-599
    param  := key "=" value
    value  := number | true | false | none | bare-word | 'quoted' | "quoted"

Whitespace is allowed between tokens. Examples: ``ok``; ``529*3,ok``;
``429(retry_after_ms=200)*2,ok``; ``stall(s=30)``; ``ok(text="hello"),refusal``.

=================  ===========================================================================
step               what the server does
=================  ===========================================================================
ok(text=)          200 with the responder's reply (or ``text`` verbatim)
NNN(...)           any status 400-599 with the API's error body. Params: ``retry_after=S``
                   (seconds, ``none`` to omit), ``retry_after_ms=MS`` (sends ``retry-after-ms``
                   and ``retry-after`` rounded up), ``should_retry=true|false``
                   (``x-should-retry``), ``type=`` and ``message=`` to override the error.
                   ``429`` sends ``retry-after: 1`` unless told otherwise. Types by status: 400
                   invalid_request_error, 401 authentication_error, 402 billing_error, 403
                   permission_error, 404 not_found_error, 413 request_too_large, 429
                   rate_limit_error, 504 timeout_error, 529 overloaded_error, other 4xx
                   invalid_request_error, other 5xx api_error
stall(s=3600)      waits ``s`` seconds before sending anything, then answers like ``ok``
drip(s=0.5, n=)    200 headers at once, then one ``\\n`` (JSON whitespace / blank SSE line) every
                   ``s`` seconds, ``n`` times (default: until the client leaves or one hour),
                   then the reply: it beats any per-read timeout
reset              reads the request, then resets the connection (RST; EOF on a Unix socket)
html(status=200)   a proxy's HTML error page, ``content-type: text/html``, with that status
badjson            200 ``application/json`` whose body is the reply cut mid-way (broken JSON);
                   streaming: a ``content_block_delta`` event whose data is broken JSON
max_tokens(tokens=)  the reply cut to ``tokens`` (default half of it), ``stop_reason``
                   ``max_tokens``
empty(block=false) ``content: []`` (``block=true``: one empty text block), ``end_turn``
refusal(text=, category=)  ``stop_reason: refusal`` with ``stop_details``
sse_error(type=overloaded_error, message=, after=)  streaming: the first ``after`` events
                   (default 4: up to the first text delta), then an ``error`` event, then the
                   stream ends. Non-streaming: the matching status error (529 for overloaded)
sse_cut(after=, hard=false)  streaming: the first ``after`` events (default: half of them), then
                   the body ends cleanly before ``message_stop``; ``hard=true`` closes the
                   connection without ending the chunked body. Non-streaming: the JSON body cut
                   in half under a full ``content-length``, then the connection closed
prose              reply text wrapped in chatty prose ("Sure! Here is ...")
fenced             reply text in a ````json`` fence
invalid_json(kind=)  reply text corrupted: ``truncated``, ``trailing_comma`` or ``single_quotes``
                   (default: chosen by the seeded random generator)
wrong_schema       valid JSON of the wrong shape: the first key of the reply object dropped,
                   lists joined into strings, numbers and booleans as strings, an extra
                   ``confidence`` key (a non-JSON reply becomes ``{"response": text}``)
echo_system        the reply is the request's system prompt, verbatim (a leak)
=================  ===========================================================================

Checks, in this order, before a step is consumed: the path (404), auth (401), body size (413 over
``max_body_bytes``), JSON and required fields (400), ``context_window`` (400 ``prompt is too
long: N tokens > M maximum``), ``max_in_flight`` (429, ``retry-after``: more than N requests
served at once), ``tokens_per_minute`` (429 when the input tokens admitted in the sliding last 60
s plus this request would exceed it; ``retry-after`` = when enough would have expired). Rejected
requests do not consume a step. Every reply also obeys the request's ``max_tokens`` and
``stop_sequences`` like the real API.

Tokens: ``input_tokens = max(1, ceil(chars / 4))`` where chars counts the system prompt, every text
in the messages (text blocks, tool_result contents, tool_use name plus compact JSON input, other
blocks as compact JSON) and the compact JSON of ``tools``. ``output_tokens = max(1, ceil(chars /
4))`` over the reply's text and tool_use blocks; ``max_tokens`` truncation keeps ``4 * max_tokens``
characters. Deterministic: the same seed and the same requests give the same responses (ids
included); each request gets ``random.Random(f"{seed}:{seq}")``, also handed to the responder.

A responder is ``responder(body: dict, rng: random.Random) -> str | dict``: a ``str`` is the
assistant text; a dict gives ``{"content": [blocks], "stop_reason": ..., "stop_sequence": ...}``
(or ``{"text": ...}``); tool_use blocks without an ``id`` get one. Faults apply on top of it.

Records (``fm.requests``, ``GET /_fake/requests``), one dict per request, JSON-serialisable:
``seq``, ``arrived``/``ended`` (``time.monotonic()``), ``method``, ``path``, ``headers`` (lower-cased;
the api key and authorization values redacted to ``sk-…last4``), ``body`` (parsed JSON or None),
``stream``, ``model``, ``max_tokens``, ``input_tokens``, ``output_tokens``, ``stop_reason``,
``reply_content`` (the content blocks of the reply the step produced: for a cut or errored stream
the whole reply, of which only a part was sent; None when no reply was produced),
``in_flight_at_arrival`` (requests being served when it arrived, not counting itself), ``fault``
(the step name, or ``concurrency_limit``, ``tpm_limit``, ``context_window``, ``invalid_request``,
``auth``, ``too_large``, ``not_found``, ``count_tokens``, ``responder_error``, ``flood``,
``fake_error``), ``step`` (the step
as written), ``status`` (int sent, None for a reset or cut connection), ``outcome`` (``complete``,
``reset``, ``cut``, ``client_gone``: the client left first, ``stopped``: the server stopped first),
``request_id``, ``retry_count`` (int from ``x-stainless-retry-count`` or None), ``read_timeout`` and
``timeout`` (finite floats from ``x-stainless-read-timeout`` / ``x-stainless-timeout`` or None). Records are
appended on arrival and completed when the exchange ends; ``fm.wait_idle()`` waits for that.

A body is recorded only once it passed validation, so whoever reads ``body`` may trust its shape
(``model`` a string, ``messages`` a list of role/content dicts, text blocks with string ``text``,
``system`` a string or text blocks, ``stop_sequences`` strings). A refused body is recorded as
``invalid`` (the reason) and ``body_excerpt`` (its first 2,000 characters as text), ``body`` None.
Evidence is bounded whatever the client does: past ``max_records`` (1,000) requests the fake answers
a cheap 429 (fault ``flood``) and closes the connection, recording nothing but a count; past
``max_kept_body_bytes`` (64 MB) of kept bodies a record keeps ``body_dropped`` (the size) instead of
the body. ``fm.flood`` reports both counts; when either is non-zero the records are incomplete.
Headers are kept to 64 per record, 1,000 characters each. A request the fake itself fails on (its
own bug) is recorded with fault ``fake_error`` and the error.

What the SDK did (anthropic 2.14.0, observed in tests/grading/test_fakemodel_sdk.py)
---------------------------------------------------------------------------------------
=======================  ======================================================================
fault                    what ``client.messages`` did
=======================  ======================================================================
ok                       ``Message``; ``messages.stream`` assembles the same final message
429                      retried (2 retries by default, ``x-stainless-retry-count`` 0, 1, 2),
                         waiting the ``retry-after-ms`` / ``retry-after`` given (gaps in the
                         records: 0.2 s asked, 0.20-0.45 s seen; 1 s asked, 1.0-1.3 s); then
                         ``RateLimitError``
529                      retried, then ``OverloadedError`` (an ``InternalServerError``)
500 / 503                retried, then ``InternalServerError`` / ``ServiceUnavailableError``
400 / 401 / 413          not retried: ``BadRequestError`` / ``AuthenticationError`` /
                         ``ContentTooLargeError``
any + should_retry       ``x-should-retry: false`` stops retries of a 5xx; ``true`` retries a 400
stall (short timeout)    ``APITimeoutError`` after its retries; the server sees the client leave
drip (per-read timeout)  no timeout: the reply arrives after ``n * s`` seconds, well past it
reset                    retried, then ``APIConnectionError`` (not ``APITimeoutError``)
html                     ``create`` returns the page as a ``str`` (no exception); ``html(status=502)``
                         retried, then ``InternalServerError`` with the HTML as body. Streaming:
                         no events, ``get_final_message`` fails (``AssertionError``)
badjson                  bare ``json.JSONDecodeError`` (not an ``APIError``, not retried);
                         streaming too
max_tokens / empty       ``Message`` with ``stop_reason`` ``max_tokens`` / ``content == []``
refusal                  ``Message`` with ``stop_reason == "refusal"``, ``stop_details.type``
                         ``refusal``
sse_error                ``APIStatusError`` with ``status_code == 200``, not retried;
                         non-streaming: ``OverloadedError`` after retries
sse_cut                  nothing raised; final message has ``stop_reason None``;
                         ``hard=true``: ``httpx2.RemoteProtocolError`` (not an ``APIError``);
                         non-streaming: retried, then ``APIConnectionError``
concurrency / tpm limit  a 429 like any other: retried honouring ``retry-after`` (6 threads
                         against a limit of 2 all got answers); ``RateLimitError`` once the
                         retries run out
context window           ``BadRequestError`` ``prompt is too long: N tokens > M maximum``
=======================  ======================================================================
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import email.utils
import http
import importlib
import importlib.util
import json
import math
import os
import random
import re
import select
import signal
import socket
import socketserver
import string
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

__all__ = [
    "FakeModel",
    "Step",
    "default_responder",
    "estimate_tokens",
    "last_user_text",
    "main",
    "parse_script",
    "system_text",
]

Responder = Callable[[dict[str, Any], random.Random], "str | dict[str, Any]"]

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ERROR_MESSAGES = {
    "invalid_request_error": "Invalid request.",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found.",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "This request would exceed the rate limit for your organization. "
    "Please wait before trying again.",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "Overloaded",
}
# What an SSE error event's type becomes when the same step hits a non-streaming request.
_STATUS_BY_TYPE = {v: k for k, v in ERROR_TYPES.items()}

_ALNUM = string.ascii_letters + string.digits
_MAX_LINE = 65536
_MAX_HEADERS = 100
# Evidence is bounded whatever the client sends. One probe's honest traffic is a few hundred
# requests at most (32 threads retrying 429s for 20 s stay under 700) and a few MB of bodies (the
# whole hidden corpus in every prompt of a 32-thread burst, retries included, is ~35 MB).
MAX_RECORDS = 1000
MAX_KEPT_BODY_BYTES = 64 * 1024 * 1024
_KEPT_HEADERS = 64  # per record: names cut to 100 characters, values to 1,000
_EXCERPT_CHARS = 2000  # of a body the API refused, kept for reviewers instead of the body
_DRIP_FOREVER_S = 3600.0
_BROKEN_SSE = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"te\n\n'


# --------------------------------------------------------------------------------------------
# Script grammar
# --------------------------------------------------------------------------------------------


@dataclass
class Step:
    """One parsed script step: ``name`` is the step name (``"ok"``, ``"429"``, ``"stall"``...)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    count: int = 1
    source: str = ""

    @property
    def status(self) -> int | None:
        return int(self.name) if self.name.isdigit() else None


def _num(value: str) -> float:
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError("must be a finite number >= 0")
    return number


def _optional_num(value: str) -> float | None:
    return None if value.lower() in ("none", "null", "off") else _num(value)


def _count(value: str) -> int:
    if not value.isdigit():
        raise ValueError("must be a whole number >= 0")
    return int(value)


def _flag(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _word(value: str) -> str:
    if not re.fullmatch(r"[a-z_]+", value):
        raise ValueError("must be a lower-case word such as overloaded_error")
    return value


def _any_text(value: str) -> str:
    return value


def _status_code(value: str) -> int:
    if not value.isdigit() or not 200 <= int(value) <= 599:
        raise ValueError("must be an HTTP status 200-599")
    return int(value)


def _invalid_kind(value: str) -> str:
    if value not in _JSON_CORRUPTIONS:
        raise ValueError(f"must be one of {', '.join(_JSON_CORRUPTIONS)}")
    return value


_STATUS_PARAMS: dict[str, Callable[[str], Any]] = {
    "retry_after": _optional_num,
    "retry_after_ms": _num,
    "should_retry": _flag,
    "type": _word,
    "message": _any_text,
}
_STEP_PARAMS: dict[str, dict[str, Callable[[str], Any]]] = {
    "ok": {"text": _any_text},
    "stall": {"s": _num},
    "drip": {"s": _num, "n": _count},
    "reset": {},
    "html": {"status": _status_code},
    "badjson": {},
    "max_tokens": {"tokens": _count},
    "empty": {"block": _flag},
    "refusal": {"text": _any_text, "category": _word},
    "sse_error": {"type": _word, "message": _any_text, "after": _count},
    "sse_cut": {"after": _count, "hard": _flag},
    "prose": {},
    "fenced": {},
    "invalid_json": {"kind": _invalid_kind},
    "wrong_schema": {},
    "echo_system": {},
}

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_RE = re.compile(r"[^\s,()'\"*=]+")
_COUNT_RE = re.compile(r"[0-9]+")


class _ScriptParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> NoReturn:
        raise ValueError(f"bad fake-model script {self.text!r}: {what} (at position {self.pos})")

    def peek(self) -> str:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.text[self.pos : self.pos + 1]

    def take(self, pattern: re.Pattern[str], what: str) -> str:
        self.peek()
        match = pattern.match(self.text, self.pos)
        if not match:
            self.fail(f"expected {what}")
        self.pos = match.end()
        return match.group()

    def quoted(self) -> str:
        quote, out = self.text[self.pos], []
        self.pos += 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\" and self.pos < len(self.text):
                out.append(self.text[self.pos])
                self.pos += 1
            elif char == quote:
                return "".join(out)
            else:
                out.append(char)
        self.fail("unterminated quoted value")
        return ""

    def step(self) -> Step:
        self.peek()
        start = self.pos
        name = self.take(_NAME_RE, "a step name").lower()
        raw: dict[str, str] = {}
        if self.peek() == "(":
            self.pos += 1
            while self.peek() != ")":
                key = self.take(_KEY_RE, "a parameter name")
                if self.peek() != "=":
                    self.fail(f"expected '=' after {key!r}")
                self.pos += 1
                if self.peek() in ("'", '"'):
                    raw[key] = self.quoted()
                else:
                    raw[key] = self.take(_BARE_RE, f"a value for {key!r}")
                if self.peek() == ",":
                    self.pos += 1
                elif self.peek() != ")":
                    self.fail("expected ',' or ')'")
            self.pos += 1
        source = self.text[start : self.pos].strip()
        count = 1
        if self.peek() == "*":
            self.pos += 1
            count = int(self.take(_COUNT_RE, "a repeat count after '*'"))
            if count < 1:
                self.fail("a repeat count must be at least 1")
        return Step(name=name, params=self.convert(name, raw), count=count, source=source)

    def convert(self, name: str, raw: dict[str, str]) -> dict[str, Any]:
        if name.isdigit():
            if not 400 <= int(name) <= 599:
                self.fail(f"status step {name} is not an error status 400-599")
            spec = _STATUS_PARAMS
        elif name in _STEP_PARAMS:
            spec = _STEP_PARAMS[name]
        else:
            known = ", ".join(sorted(_STEP_PARAMS))
            self.fail(f"unknown step {name!r}; known steps: {known}, or a status 400-599")
        params = {}
        for key, value in raw.items():
            if key not in spec:
                allowed = ", ".join(spec) or "none"
                self.fail(f"step {name!r} takes no parameter {key!r} (allowed: {allowed})")
            try:
                params[key] = spec[key](value)
            except ValueError as exc:
                self.fail(f"{name}({key}={value}): {exc}")
        return params


def parse_script(script: str) -> list[Step]:
    """Parse a script (grammar in the module doc); raise ValueError with the position on error."""
    if not isinstance(script, str) or not script.strip():
        raise ValueError("bad fake-model script: it is empty; give at least one step, e.g. 'ok'")
    parser = _ScriptParser(script)
    steps = [parser.step()]
    while parser.peek():
        if parser.peek() != ",":
            parser.fail("expected ',' between steps")
        parser.pos += 1
        steps.append(parser.step())
    return steps


class _Cursor:
    """Hands out steps in order, honouring counts; the last step repeats forever."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps, self.index, self.used = steps, 0, 0

    def next(self) -> Step:
        step = self.steps[self.index]
        self.used += 1
        if self.used >= step.count and self.index < len(self.steps) - 1:
            self.index, self.used = self.index + 1, 0
        return step


# --------------------------------------------------------------------------------------------
# Reading requests: text, tokens, the default responder
# --------------------------------------------------------------------------------------------


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def system_text(body: dict[str, Any]) -> str:
    """The request's system prompt as one string (a list of text blocks is joined)."""
    system = body.get("system")
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
    return ""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
        return "\n".join(str(p) for p in parts)
    return ""


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last user message (empty if none)."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def _content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if not isinstance(content, list):
        return 0
    total = 0
    for block in content:
        if not isinstance(block, dict):
            total += len(str(block))
        elif block.get("type") == "text":
            total += len(str(block.get("text", "")))
        elif block.get("type") == "tool_result":
            total += _content_chars(block.get("content"))
        elif block.get("type") == "tool_use":
            total += len(str(block.get("name", ""))) + len(_compact(block.get("input", {})))
        else:
            total += len(_compact(block))
    return total


def estimate_tokens(body: dict[str, Any]) -> int:
    """Input tokens: ceil(chars / 4) over system, message texts and tool definitions (min 1)."""
    chars = len(system_text(body))
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            chars += _content_chars(message.get("content"))
    if body.get("tools"):
        chars += len(_compact(body["tools"]))
    return max(1, math.ceil(chars / 4))


def _block_chars(block: dict[str, Any]) -> int:
    if block.get("type") == "text":
        return len(block.get("text", ""))
    if block.get("type") == "tool_use":
        return len(block.get("name", "")) + len(_compact(block.get("input", {})))
    return len(_compact(block))


def _output_tokens(blocks: list[dict[str, Any]]) -> int:
    return max(1, math.ceil(sum(_block_chars(b) for b in blocks) / 4))


_OPENERS = ("Here is a plain answer", "A short answer", "My answer")


def default_responder(body: dict[str, Any], rng: random.Random) -> str:
    """A healthy model that answers plainly, echoing (a bounded part of) the question."""
    question = " ".join(last_user_text(body).split())
    if not question:
        return "Hello! How can I help you today?"
    if len(question) > 200:
        question = question[:197] + "..."
    return f"{rng.choice(_OPENERS)} to your message: {question}"


# --------------------------------------------------------------------------------------------
# Composing the reply: responder output, faults on top, stop sequences, max_tokens
# --------------------------------------------------------------------------------------------


@dataclass
class _Reply:
    blocks: list[dict[str, Any]]
    stop_reason: str | None
    stop_sequence: str | None = None
    stop_details: dict[str, Any] | None = None

    @property
    def output_tokens(self) -> int:
        return _output_tokens(self.blocks)


_PROSE_BEFORE = (
    "Sure! Here is the information you asked for:",
    "Of course. Based on the articles, here's my answer:",
    "Great question! Here you go:",
)
_PROSE_AFTER = (
    "Let me know if you need anything else!",
    "I hope this helps.",
    "Feel free to ask a follow-up question.",
)


def _prose(text: str, rng: random.Random, params: dict[str, Any]) -> str:
    return f"{rng.choice(_PROSE_BEFORE)}\n\n{text}\n\n{rng.choice(_PROSE_AFTER)}"


def _fenced(text: str, rng: random.Random, params: dict[str, Any]) -> str:
    return f"```json\n{text}\n```"


def _json_truncated(text: str) -> str:
    return text[: max(1, len(text) * 2 // 3)]


def _json_trailing_comma(text: str) -> str:
    end = max(text.rfind("}"), text.rfind("]"))
    return text[:end] + "," + text[end:] if end > 0 else text + ","


def _json_single_quotes(text: str) -> str:
    return text.replace('"', "'") if '"' in text else "{'" + text + "'}"


_JSON_CORRUPTIONS = {
    "truncated": _json_truncated,
    "trailing_comma": _json_trailing_comma,
    "single_quotes": _json_single_quotes,
}


def _invalid_json(text: str, rng: random.Random, params: dict[str, Any]) -> str:
    kind = params.get("kind") or rng.choice(sorted(_JSON_CORRUPTIONS))
    return _JSON_CORRUPTIONS[kind](text)


def _wrong_schema(text: str, rng: random.Random, params: dict[str, Any]) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return json.dumps({"response": text})
    if isinstance(value, list):
        return json.dumps({"items": value})
    if not isinstance(value, dict):
        return json.dumps({"response": value})
    out: dict[str, Any] = {}
    for key in list(value)[1:]:  # the first field goes missing
        item = value[key]
        if isinstance(item, list):
            item = ", ".join(str(x) for x in item)
        elif isinstance(item, (bool, int, float)):
            item = str(item)
        out[key] = item
    out["confidence"] = "high"
    return json.dumps(out)


_TEXT_FAULTS = {
    "prose": _prose,
    "fenced": _fenced,
    "invalid_json": _invalid_json,
    "wrong_schema": _wrong_schema,
}


def _rand_id(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choices(_ALNUM, k=22))


def _normalise(raw: Any, rng: random.Random) -> tuple[list[dict[str, Any]], str | None, str | None]:
    if isinstance(raw, str):
        return [{"type": "text", "text": raw}], None, None
    if not isinstance(raw, dict) or not ("content" in raw or "text" in raw):
        raise TypeError(f"a responder must return a str or a dict with content, not {raw!r:.80}")
    blocks: list[dict[str, Any]] = (
        [dict(b) for b in raw["content"]] if "content" in raw else [{"type": "text", "text": str(raw["text"])}]
    )
    for block in blocks:
        if block.get("type") == "tool_use":
            block.setdefault("id", _rand_id(rng, "toolu_01"))
            block.setdefault("input", {})
    return blocks, raw.get("stop_reason"), raw.get("stop_sequence")


def _truncate(blocks: list[dict[str, Any]], tokens: int) -> tuple[list[dict[str, Any]], bool]:
    """Keep ``4 * tokens`` characters of output; a tool_use block that does not fit is dropped."""
    room, kept = tokens * 4, []
    for block in blocks:
        size = _block_chars(block)
        if size <= room:
            kept.append(block)
            room -= size
            continue
        if block.get("type") == "text" and room > 0:
            kept.append({**block, "text": block["text"][:room]})
        return kept, True
    return kept, False


def _cut_at_stop_sequence(
    blocks: list[dict[str, Any]], sequences: list[Any]
) -> tuple[list[dict[str, Any]], str] | None:
    sequences = [s for s in sequences if isinstance(s, str) and s]
    for index, block in enumerate(blocks):
        if block.get("type") != "text":
            continue
        hits = [(block["text"].find(s), s) for s in sequences if s in block["text"]]
        if hits:
            position, sequence = min(hits)
            return [*blocks[:index], {**block, "text": block["text"][:position]}], sequence
    return None


def _compose(body: dict[str, Any], step: Step, responder: Responder, rng: random.Random) -> _Reply:
    name, params = step.name, step.params
    if name == "echo_system":
        raw: Any = system_text(body)
    elif name == "ok" and "text" in params:
        raw = params["text"]
    else:
        raw = responder(body, rng)
    blocks, stop_reason, stop_sequence = _normalise(raw, rng)
    reply = _Reply(blocks, stop_reason, stop_sequence)

    if name in _TEXT_FAULTS:
        fault = _TEXT_FAULTS[name]
        reply.blocks = [
            {**b, "text": fault(b["text"], rng, params)} if b.get("type") == "text" else b for b in reply.blocks
        ]
    elif name == "empty":
        reply = _Reply([{"type": "text", "text": ""}] if params.get("block") else [], "end_turn")
    elif name == "refusal":
        text = params.get("text", "I'm sorry, but I can't help with that request.")
        details = {"type": "refusal", "category": params.get("category"), "explanation": None}
        reply = _Reply([{"type": "text", "text": text}], "refusal", None, details)

    if reply.stop_reason is None:
        cut = _cut_at_stop_sequence(reply.blocks, body.get("stop_sequences") or [])
        if cut:
            reply.blocks, reply.stop_sequence = cut
            reply.stop_reason = "stop_sequence"
        elif any(b.get("type") == "tool_use" for b in reply.blocks):
            reply.stop_reason = "tool_use"
        else:
            reply.stop_reason = "end_turn"

    limit = body["max_tokens"]
    if name == "max_tokens":
        limit = min(limit, params.get("tokens") or max(1, reply.output_tokens // 2))
    reply.blocks, truncated = _truncate(reply.blocks, limit)
    if truncated or name == "max_tokens":
        reply.stop_reason, reply.stop_sequence, reply.stop_details = "max_tokens", None, None
    return reply


# --------------------------------------------------------------------------------------------
# Wire formats
# --------------------------------------------------------------------------------------------


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _message(msg_id: str, model: str, reply: _Reply, input_tokens: int) -> dict[str, Any]:
    return {
        "model": model,
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "content": reply.blocks,
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "stop_details": reply.stop_details,
        "usage": _usage(input_tokens, reply.output_tokens),
    }


def _pieces(text: str, size: int = 3) -> list[str]:
    """Split text into deltas of a few words each, the way tokens arrive."""
    words = re.findall(r"\s*\S+\s*", text) or ([text] if text else [])
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


def _sse_events(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    start = dict(message, content=[], stop_reason=None, stop_sequence=None, stop_details=None)
    start["usage"] = _usage(message["usage"]["input_tokens"], 1)
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
    ping = ("ping", {"type": "ping"})
    for index, block in enumerate(message["content"]):
        first: dict[str, Any]
        deltas: list[dict[str, Any]]
        kind = block.get("type")
        if kind == "text":
            first, deltas = (
                {"type": "text", "text": ""},
                [{"type": "text_delta", "text": p} for p in _pieces(block["text"])],
            )
        elif kind == "tool_use":
            first = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            raw = json.dumps(block["input"], ensure_ascii=False)
            chunks = [""] + [raw[i : i + 24] for i in range(0, len(raw), 24)]
            deltas = [{"type": "input_json_delta", "partial_json": c} for c in chunks]
        else:  # any other block a responder gives is sent whole
            first, deltas = block, []
        events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": first}))
        if index == 0:
            events.append(ping)
        for delta in deltas:
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    if not message["content"]:
        events.append(ping)
    delta = {
        "stop_reason": message["stop_reason"],
        "stop_sequence": message["stop_sequence"],
        "stop_details": message["stop_details"],
    }
    usage = {"input_tokens": message["usage"]["input_tokens"], "output_tokens": message["usage"]["output_tokens"]}
    events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _dumps(data) + b"\n\n"


def _error_body(err_type: str, message: str, request_id: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": err_type, "message": message}, "request_id": request_id}


def _html_page(status: int) -> bytes:
    title = f"{status} {_reason(status)}" if status != 200 else "Upstream error"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<p>The upstream server returned an invalid response. Please try again later.</p>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def _reason(status: int) -> str:
    if status == 529:
        return "Overloaded"
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _redact(value: str) -> str:
    scheme, _, secret = value.rpartition(" ")
    tail = secret[-4:] if len(secret) >= 12 else ""
    head = secret[:3] if secret.startswith("sk-") and len(secret) >= 12 else ""
    return (scheme + " " if scheme else "") + head + "…" + tail


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:  # formatting a date per request would cost more than the rest
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]


# --------------------------------------------------------------------------------------------
# HTTP/1.1: one thread per connection, keep-alive, our own small parser
# --------------------------------------------------------------------------------------------


class _ClientGone(Exception):
    """A write failed: the client closed or reset the connection."""


@dataclass
class _Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes | None
    arrived: float
    keep_alive: bool
    too_large: bool = False


@dataclass
class _Exchange:
    """One request being answered: its connection, record and what was sent."""

    conn: _Handler
    req: _Request
    record: dict[str, Any]
    rng: random.Random
    status: int | None = None
    outcome: str = "complete"
    admitted: bool = False
    committed: bool = False
    overflow: bool = False  # past max_records: not recorded, answered with a 429


class _Handler(socketserver.BaseRequestHandler):
    """Reads requests off one connection and hands each to the FakeModel; owns the socket I/O."""

    def setup(self) -> None:
        self.sock: socket.socket = self.request
        if self.sock.family in (socket.AF_INET, socket.AF_INET6):
            # Headers and body go out in one send, but SSE chunks and drips must not wait on Nagle.
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb", 65536)
        self.open = True
        self.on_final: Callable[[], None] | None = None
        self.fake: FakeModel = self.server.fake  # type: ignore[attr-defined]
        self.fake._track(self.sock, True)

    def finish(self) -> None:
        self.fake._track(self.sock, False)
        self.rfile.close()

    def handle(self) -> None:
        while self.open and not self.fake._stopping.is_set():
            try:
                request = self._read_request()
            except (OSError, ValueError):
                return
            if request is None:
                return
            self.fake._dispatch(self, request)

    def _read_request(self) -> _Request | None:
        line = self.rfile.readline(_MAX_LINE)
        if line in (b"\r\n", b"\n"):  # a stray CRLF between requests is allowed (RFC 9112)
            line = self.rfile.readline(_MAX_LINE)
        if not line:
            return None
        arrived = time.monotonic()
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            self._bare(400, b"bad request line")
            return None
        method, target, version = parts
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            line = self.rfile.readline(_MAX_LINE)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        else:
            self._bare(431, b"too many headers")
            return None
        connection = headers.get("connection", "").lower()
        keep_alive = "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
        request = _Request(method.upper(), target, headers, None, arrived, keep_alive)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            request.body = self._read_chunked()
            request.too_large = request.body is None
        elif headers.get("content-length"):
            length = int(headers["content-length"])
            if length < 0:
                self._bare(400, b"bad content-length")
                return None
            if length > self.fake.max_body_bytes:
                request.too_large = True  # not read: the connection is closed after the 413
            else:
                request.body = self.rfile.read(length)
        if request.too_large:
            request.keep_alive = False
        return request

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(_MAX_LINE).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > self.fake.max_body_bytes:
                return None
            parts.append(self.rfile.read(size))
            self.rfile.readline(_MAX_LINE)

    def _bare(self, status: int, text: bytes) -> None:
        head = f"HTTP/1.1 {status} {_reason(status)}\r\ncontent-length: {len(text)}\r\nconnection: close\r\n\r\n"
        with contextlib.suppress(OSError):
            self.sock.sendall(head.encode() + text)
        self.open = False

    # -- writing -------------------------------------------------------------------------

    def head(self, status: int, headers: list[tuple[str, str]], keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {status} {_reason(status)}", f"date: {_http_date()}"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append("connection: keep-alive" if keep_alive else "connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _run_final(self) -> None:
        callback, self.on_final = self.on_final, None
        if callback is not None:
            callback()

    def write(self, data: bytes, final: bool = False) -> None:
        """Send bytes; ``final`` marks the last bytes of the response (the record completes first)."""
        if final:
            self._run_final()
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.open = False
            raise _ClientGone() from exc

    def send(self, status: int, headers: list[tuple[str, str]], body: bytes, keep_alive: bool) -> None:
        headers = [*headers, ("content-length", str(len(body)))]
        self.write(self.head(status, headers, keep_alive) + body, final=True)
        if not keep_alive:
            self.close()

    def start_chunked(self, status: int, headers: list[tuple[str, str]], keep_alive: bool, first: bytes = b"") -> None:
        head = self.head(status, [*headers, ("transfer-encoding", "chunked")], keep_alive)
        self.write(head + (self._chunk(first) if first else b""))

    @staticmethod
    def _chunk(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data)

    def chunks(self, pieces: list[bytes], end: bool, final: bool | None = None) -> None:
        data = b"".join(self._chunk(p) for p in pieces if p)
        self.write(data + (b"0\r\n\r\n" if end else b""), final=end if final is None else final)

    def wait(self, seconds: float) -> str:
        """Wait without a thread-blocking sleep: 'elapsed', 'stopped' or 'client_gone'."""
        deadline = time.monotonic() + seconds
        poller = select.poll()
        poller.register(self.fake._wake_r, select.POLLIN)
        poller.register(self.sock, select.POLLIN)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "elapsed"
            for fd, _ in poller.poll(remaining * 1000):
                if fd == self.fake._wake_r.fileno():
                    return "stopped"
                try:  # readable while waiting on a reply means EOF or reset: the client left
                    if not self.sock.recv(1, socket.MSG_PEEK):
                        return "client_gone"
                except OSError:
                    return "client_gone"
                poller.unregister(self.sock)  # pipelined bytes: stop watching, keep waiting

    def close(self) -> None:
        self.open = False
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def reset(self) -> None:
        self._run_final()
        self.open = False
        if self.sock.family in (socket.AF_INET, socket.AF_INET6):
            # Linger 0 turns close() into a RST, like a load balancer dropping the connection.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # the makefile reference would otherwise keep the fd open
            self.sock.close()
        else:
            self.close()


class _ThreadingTCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024  # 50 clients connecting at once must not wait on SYN retries

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _ThreadingUnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    handle_error = _ThreadingTCPServer.handle_error


# --------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------


class FakeModel:
    """One fake API server with its own script, records and limits (instances share nothing)."""

    def __init__(
        self,
        script: str = "ok",
        responder: Responder | None = None,
        seed: int = 0,
        max_in_flight: int | None = None,
        tokens_per_minute: int | None = None,
        context_window: int = 200_000,
        host: str = "127.0.0.1",
        port: int = 0,
        unix_socket: str | None = None,
        *,
        control_endpoints: bool = False,
        require_auth: bool = True,
        max_body_bytes: int = 32 * 1024 * 1024,
        limit_retry_after: float = 1.0,
        max_records: int | None = MAX_RECORDS,
        max_kept_body_bytes: int | None = MAX_KEPT_BODY_BYTES,
    ) -> None:
        self._steps = parse_script(script)
        self.script = script
        self.responder: Responder = responder or default_responder
        self.seed = seed
        self.max_in_flight = max_in_flight
        self.tokens_per_minute = tokens_per_minute
        self.context_window = context_window
        self.host, self.port, self.unix_socket = host, port, unix_socket
        self.control_endpoints = control_endpoints
        self.require_auth = require_auth
        self.max_body_bytes = max_body_bytes
        self.limit_retry_after = limit_retry_after
        self.max_records = max_records
        self.max_kept_body_bytes = max_kept_body_bytes

        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._conns: set[socket.socket] = set()
        self._server: socketserver.BaseServer | None = None
        self._thread: threading.Thread | None = None
        self._clear(self._steps)

    def _clear(self, steps: list[Step]) -> None:
        self._cursor = _Cursor(steps)
        self._records: list[dict[str, Any]] = []
        self._unrecorded = 0  # requests past max_records: answered with a 429, counted, not kept
        self._kept_body_bytes = 0
        self._bodies_dropped = 0  # requests past max_kept_body_bytes: recorded without their body
        self._seq = 0
        self._in_flight = 0
        self._open_exchanges = 0
        self._peak = 0
        self._window: collections.deque[tuple[float, int]] = collections.deque()

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeModel:
        if self._server is not None:
            return self
        if self._stopping.is_set():  # restarted after stop(): the old wake-up byte is still unread
            self._wake_r.close()
            self._wake_w.close()
            self._wake_r, self._wake_w = socket.socketpair()
            self._stopping.clear()
        if self.unix_socket:
            if os.path.exists(self.unix_socket):
                os.unlink(self.unix_socket)
            server: socketserver.BaseServer = _ThreadingUnixServer(self.unix_socket, _Handler)
            # The sandboxed code runs as another user; connecting needs write permission.
            os.chmod(self.unix_socket, 0o666)  # noqa: S103
        else:
            server = _ThreadingTCPServer((self.host, self.port), _Handler)
            self.port = server.server_address[1]
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fakemodel", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; returns promptly even while stalls and drips are in progress."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")  # never read: wakes every waiting stall/drip for good
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # idle keep-alive readers block in recv until their socket is shut
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.unix_socket and os.path.exists(self.unix_socket):
            os.unlink(self.unix_socket)
        self._server = None

    def __enter__(self) -> FakeModel:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def reset(self, script: str | None = None) -> None:
        """Fresh state: no records, script from the top (optionally a new script), no peak."""
        steps = parse_script(script) if script is not None else self._steps
        with self._lock:
            in_flight, open_exchanges = self._in_flight, self._open_exchanges
            self._steps = steps
            if script is not None:
                self.script = script
            self._clear(steps)
            # Requests still being served stay counted, or the limit would be breached.
            self._in_flight, self._open_exchanges = in_flight, open_exchanges

    # -- what probes read ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.unix_socket:
            return "http://localhost"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._records]

    @property
    def peak_in_flight(self) -> int:
        return self._peak

    @property
    def flood(self) -> dict[str, Any]:
        """How much traffic went past the record caps: ``requests_seen`` (every request, recorded
        or not), ``requests_unrecorded`` (past ``max_records``: a 429 and a count only) and
        ``bodies_dropped`` (past ``max_kept_body_bytes``: recorded without the body). A flood is
        evidence in itself; the records alone are incomplete when either count is non-zero."""
        with self._lock:
            return {
                "requests_seen": len(self._records) + self._unrecorded,
                "requests_unrecorded": self._unrecorded,
                "bodies_dropped": self._bodies_dropped,
            }

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no exchange is open (every record has ``ended``); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._open_exchanges == 0, timeout)

    # -- serving -------------------------------------------------------------------------

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def _dispatch(self, h: _Handler, req: _Request) -> None:
        route = req.target.split("?", 1)[0]
        if self.control_endpoints and route.endswith(("/_fake/requests", "/_fake/reset")):
            self._control(h, req, route)
            return
        ex = self._open_exchange(h, req)
        # The record is completed just before the last byte goes out: a client that has its
        # answer must find its record complete and its slot free (or a retry could hit the limit).
        h.on_final = lambda: self._commit(ex)
        try:
            self._serve(ex, route)
        except _ClientGone:
            ex.status, ex.outcome = None, "client_gone"
        except Exception as exc:
            # The fake's own bug, whatever the client sent: the record says so, so that the probe
            # is reported as the platform's error, never judged on a broken exchange.
            traceback.print_exc()
            self._note(ex, fault="fake_error", fake_error=f"{type(exc).__name__}: {exc}"[:500])
            ex.status, ex.outcome = None, "fake_error"
            h.close()
        finally:
            h.on_final = None
            self._commit(ex)

    def _commit(self, ex: _Exchange) -> None:
        with self._lock:
            if not ex.committed:
                ex.committed = True
                if ex.admitted:
                    self._in_flight -= 1
                self._open_exchanges -= 1
                ex.record["ended"] = time.monotonic()
                self._idle.notify_all()
            ex.record.update(status=ex.status, outcome=ex.outcome)

    def _open_exchange(self, h: _Handler, req: _Request) -> _Exchange:
        headers = {
            k[:100]: (_redact(v) if k in ("x-api-key", "authorization") else v)[:1000]
            for k, v in list(req.headers.items())[:_KEPT_HEADERS]
        }
        with self._lock:
            seq = self._seq
            self._seq += 1
            self._open_exchanges += 1
            rng = random.Random(f"{self.seed}:{seq}")  # noqa: S311 (reproducible, not secret)
            record = {
                "seq": seq,
                "arrived": req.arrived,
                "ended": None,
                "method": req.method,
                "path": req.target[:1000],
                "headers": headers,
                "body": None,
                "stream": False,
                "model": None,
                "max_tokens": None,
                "input_tokens": None,
                "output_tokens": None,
                "stop_reason": None,
                "reply_content": None,
                "in_flight_at_arrival": self._in_flight,
                "fault": None,
                "step": None,
                "status": None,
                "outcome": None,
                "request_id": _rand_id(rng, "req_011"),
                "retry_count": _to_number(req.headers.get("x-stainless-retry-count"), int),
                "read_timeout": _to_number(req.headers.get("x-stainless-read-timeout"), float),
                "timeout": _to_number(req.headers.get("x-stainless-timeout"), float),
            }
            overflow = self.max_records is not None and len(self._records) >= self.max_records
            if overflow:
                self._unrecorded += 1
            else:
                self._records.append(record)
        return _Exchange(h, req, record, rng, overflow=overflow)

    def _keep_body(self, ex: _Exchange, body: dict[str, Any], **fields: Any) -> None:
        """Record a validated body, unless this fake already keeps ``max_kept_body_bytes`` of them."""
        size = len(ex.req.body or b"")
        with self._lock:
            if self.max_kept_body_bytes is not None and self._kept_body_bytes + size > self.max_kept_body_bytes:
                self._bodies_dropped += 1
                ex.record.update(body=None, body_dropped=size, **fields)
            else:
                self._kept_body_bytes += size
                ex.record.update(body=body, **fields)

    def _note(self, ex: _Exchange, **fields: Any) -> None:
        with self._lock:
            ex.record.update(fields)

    def _send_json(self, ex: _Exchange, status: int, payload: Any, extra: Sequence[tuple[str, str]] = ()) -> None:
        headers = [("content-type", "application/json"), ("request-id", ex.record["request_id"]), *extra]
        ex.status = status
        ex.conn.send(status, headers, _dumps(payload), ex.req.keep_alive)

    def _send_error(
        self,
        ex: _Exchange,
        status: int,
        err_type: str | None = None,
        message: str | None = None,
        extra: Sequence[tuple[str, str]] = (),
    ) -> None:
        err_type = err_type or ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
        message = message or ERROR_MESSAGES.get(err_type, "Error")
        self._send_json(ex, status, _error_body(err_type, message, ex.record["request_id"]), extra)

    def _reject(
        self, ex: _Exchange, fault: str, status: int, message: str, extra: Sequence[tuple[str, str]] = ()
    ) -> None:
        self._note(ex, fault=fault)
        self._send_error(ex, status, message=message, extra=extra)

    def _refuse_body(self, ex: _Exchange, problem: str) -> None:
        excerpt = (ex.req.body or b"")[: _EXCERPT_CHARS * 4].decode("utf-8", "replace")[:_EXCERPT_CHARS]
        self._note(ex, invalid=problem, body_excerpt=excerpt)
        self._reject(ex, "invalid_request", 400, problem)

    def _serve(self, ex: _Exchange, route: str) -> None:
        """Validate, admit and play one request."""
        req = ex.req
        if ex.overflow:
            # Past the record cap: a cheap refusal that ends the connection, so a flood costs the
            # flooder a new connection per request and this server almost nothing.
            req.keep_alive = False
            message = f"Too many requests: more than {self.max_records} from this client. Slow down."
            return self._reject(ex, "flood", 429, message, _retry_headers(self.limit_retry_after))
        counting = route.endswith("/v1/messages/count_tokens")
        if req.method != "POST" or not (route.endswith("/v1/messages") or counting):
            return self._reject(ex, "not_found", 404, f"Not found: {req.method} {route[:200]}")
        if self.require_auth and not (req.headers.get("x-api-key") or req.headers.get("authorization")):
            return self._reject(ex, "auth", 401, "x-api-key header is required")
        if req.too_large:
            return self._reject(ex, "too_large", 413, ERROR_MESSAGES["request_too_large"])
        # Only a body the real API would accept is recorded as a body: the hidden checks read
        # records, and a client must not be able to feed them shapes they never expect. A refused
        # body is kept as a bounded excerpt of its text, for reviewers.
        try:
            body = json.loads(req.body or b"")
        except (ValueError, RecursionError):
            return self._refuse_body(ex, "There was an error parsing the body of your request.")
        if not isinstance(body, dict):
            return self._refuse_body(ex, "The request body must be a JSON object.")
        problem = _validate(body, counting)
        if problem:
            return self._refuse_body(ex, problem)
        stream = body.get("stream") is True
        self._keep_body(ex, body, stream=stream, model=body["model"], max_tokens=body.get("max_tokens"))
        tokens = estimate_tokens(body)
        self._note(ex, input_tokens=tokens)
        if counting:
            self._note(ex, fault="count_tokens")
            return self._send_json(ex, 200, {"input_tokens": tokens})
        if tokens > self.context_window:
            message = f"prompt is too long: {tokens} tokens > {self.context_window} maximum"
            return self._reject(ex, "context_window", 400, message)

        with self._lock:
            ex.record["in_flight_at_arrival"] = self._in_flight
            verdict = self._admit(tokens)
            if verdict is None:
                step = self._cursor.next()
                ex.record.update(fault=step.name, step=step.source)
                ex.admitted = True
                self._in_flight += 1
                self._peak = max(self._peak, self._in_flight)
        if verdict is not None:
            fault, wait, message = verdict
            # Integer seconds like the real API; a fractional wait goes out as retry-after-ms too.
            extra = _retry_headers(wait) if float(wait).is_integer() else _retry_headers(None, wait * 1000)
            return self._reject(ex, fault, 429, message, extra)
        return self._play(ex, body, step, stream)

    def _admit(self, tokens: int) -> tuple[str, float, str] | None:
        """Under the lock: None to admit, else (fault, retry-after seconds, message)."""
        if self.max_in_flight is not None and self._in_flight >= self.max_in_flight:
            message = f"Number of concurrent requests has exceeded your rate limit of {self.max_in_flight}."
            return "concurrency_limit", self.limit_retry_after, message
        if self.tokens_per_minute is not None:
            now = time.monotonic()
            while self._window and self._window[0][0] <= now - 60:
                self._window.popleft()
            used = sum(t for _, t in self._window)
            if used + tokens > self.tokens_per_minute:
                # Wait until enough of the window has expired for this request to fit.
                freed, wait = 0, 60.0
                for when, spent in self._window:
                    freed += spent
                    if used - freed + tokens <= self.tokens_per_minute:
                        wait = when + 60 - now
                        break
                message = (
                    f"This request would exceed your organization's rate limit of "
                    f"{self.tokens_per_minute} input tokens per minute."
                )
                return "tpm_limit", max(1.0, math.ceil(wait)), message
            self._window.append((now, tokens))
        return None

    def _play(self, ex: _Exchange, body: dict[str, Any], step: Step, stream: bool) -> None:
        name, params, h = step.name, step.params, ex.conn
        if step.status is not None or (name == "sse_error" and not stream):
            return self._play_status(ex, step)
        if name == "reset":
            ex.outcome = "reset"
            return h.reset()
        if name == "stall":
            why = h.wait(params.get("s", _DRIP_FOREVER_S))
            if why != "elapsed":
                ex.outcome = why
                return h.close()
        try:
            reply = _compose(body, step, self.responder, ex.rng)
        except Exception as exc:  # a broken exercise responder must show up, not hang the client
            traceback.print_exc()
            return self._reject(ex, "responder_error", 500, f"fake model responder failed: {exc!r}")
        message = _message(_rand_id(ex.rng, "msg_01"), str(body["model"]), reply, ex.record["input_tokens"])
        self._note(ex, output_tokens=reply.output_tokens, stop_reason=reply.stop_reason, reply_content=reply.blocks)
        rid = ("request-id", ex.record["request_id"])
        json_headers = [("content-type", "application/json"), rid]
        if name == "html":
            ex.status = params.get("status", 200)
            h.send(ex.status, [("content-type", "text/html"), rid], _html_page(ex.status), ex.req.keep_alive)
        elif stream:
            self._play_stream(ex, step, message)
        elif name == "drip":
            self._drip(ex, step, json_headers, [_dumps(message)])
        elif name == "badjson":
            raw = _dumps(message)
            ex.status = 200
            h.send(200, json_headers, raw[: len(raw) * 3 // 5], ex.req.keep_alive)
        elif name == "sse_cut":  # non-streaming: half the body under a full content-length
            raw = _dumps(message)
            ex.status, ex.outcome = None, "cut"
            head = h.head(200, [*json_headers, ("content-length", str(len(raw)))], True)
            h.write(head + raw[: len(raw) // 2], final=True)
            h.close()
        else:
            self._send_json(ex, 200, message)

    def _play_status(self, ex: _Exchange, step: Step) -> None:
        params = step.params
        status = step.status or _STATUS_BY_TYPE.get(params.get("type", "overloaded_error"), 500)
        retry_after = params.get("retry_after", 1.0 if status == 429 else None)
        extra = _retry_headers(retry_after, params.get("retry_after_ms"))
        if "should_retry" in params:
            extra.append(("x-should-retry", "true" if params["should_retry"] else "false"))
        self._send_error(ex, status, params.get("type"), params.get("message"), extra)

    def _play_stream(self, ex: _Exchange, step: Step, message: dict[str, Any]) -> None:
        name, params, h = step.name, step.params, ex.conn
        events = [_sse(n, d) for n, d in _sse_events(message)]
        headers = [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
            ("request-id", ex.record["request_id"]),
        ]
        if name == "drip":
            return self._drip(ex, step, headers, events)
        end = True
        ex.status = 200
        if name == "sse_error":
            err_type = params.get("type", "overloaded_error")
            text = params.get("message") or ERROR_MESSAGES.get(err_type, "Error")
            error = {"type": "error", "error": {"type": err_type, "message": text}}
            events = [*events[: params.get("after", 4)], _sse("error", error)]
        elif name == "sse_cut":
            events = events[: min(params.get("after", max(1, len(events) // 2)), len(events) - 1)]
            end = not params.get("hard", False)
            ex.status, ex.outcome = None, "cut"
        elif name == "badjson":
            events = [*events[:3], _BROKEN_SSE]
        keep_alive = ex.req.keep_alive and end
        h.start_chunked(200, headers, keep_alive, events[0])
        h.chunks(events[1:], end=end, final=True)
        if not keep_alive:
            h.close()

    def _drip(self, ex: _Exchange, step: Step, headers: list[tuple[str, str]], payload: list[bytes]) -> None:
        seconds, count, h = step.params.get("s", 0.5), step.params.get("n"), ex.conn
        deadline = time.monotonic() + _DRIP_FOREVER_S
        ex.status = 200
        h.start_chunked(200, headers, ex.req.keep_alive)
        sent = 0
        while (count is None and time.monotonic() < deadline) or (count is not None and sent < count):
            why = h.wait(seconds)
            if why != "elapsed":
                ex.outcome = why
                return h.close()
            h.chunks([b"\n"], end=False)
            sent += 1
        h.chunks(payload, end=True)
        if not ex.req.keep_alive:
            h.close()

    def _control(self, h: _Handler, req: _Request, route: str) -> None:
        headers = [("content-type", "application/json")]
        if route.endswith("/_fake/requests") and req.method == "GET":
            h.send(200, headers, _dumps(self.requests), req.keep_alive)
        elif route.endswith("/_fake/reset") and req.method == "POST":
            try:
                script = json.loads(req.body or b"{}").get("script")
                self.reset(script)
            except (ValueError, AttributeError) as exc:
                h.send(400, headers, _dumps({"ok": False, "error": str(exc)}), req.keep_alive)
                return
            h.send(200, headers, _dumps({"ok": True, "script": self.script}), req.keep_alive)
        else:
            h.send(405, headers, _dumps({"ok": False, "error": "method not allowed"}), req.keep_alive)


def _retry_headers(seconds: float | None, ms: float | None = None) -> list[tuple[str, str]]:
    if ms is not None:
        return [("retry-after", str(max(1, math.ceil(ms / 1000)))), ("retry-after-ms", _fmt_seconds(ms))]
    return [] if seconds is None else [("retry-after", _fmt_seconds(seconds))]


def _to_number(value: str | None, kind: type) -> Any:
    """A header's number, or None: never NaN or infinity (no database stores them in JSON)."""
    try:
        number = kind(value[:40]) if value is not None else None
    except ValueError:
        return None
    return number if number is None or math.isfinite(number) else None


def _validate(body: dict[str, Any], counting: bool) -> str | None:
    """The first problem the real API would report for a malformed request, or None.

    Every field the fake, a responder or a hidden check reads is checked for its shape here, so
    that a body that passes can be read without guarding each access.
    """
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not counting:
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            return "max_tokens: Field required"
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            return "max_tokens: Input should be a valid integer greater than or equal to 1"
        if "stream" in body and not isinstance(body["stream"], bool):
            return "stream: Input should be a valid boolean"
    problem = _system_problem(body.get("system"))
    if problem:
        return problem
    messages = body.get("messages")
    if not isinstance(messages, list):
        return "messages: Field required"
    if not messages:
        return "messages: at least one message is required"
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        if isinstance(content, list):
            problem = _blocks_problem(content, f"messages.{index}.content")
            if problem:
                return problem
        elif not isinstance(content, str):
            return f"messages.{index}.content: Field required"
    sequences = body.get("stop_sequences")
    if sequences is not None and not (isinstance(sequences, list) and all(isinstance(x, str) for x in sequences)):
        return "stop_sequences: Input should be a valid list of strings"
    if body.get("tools") is not None and not (
        isinstance(body["tools"], list) and all(isinstance(t, dict) for t in body["tools"])
    ):
        return "tools: Input should be a valid list"
    for name in ("temperature", "top_p", "top_k"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{name}: Input should be a valid number"
    if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
        return "metadata: Input should be a valid dictionary"
    return None


def _system_problem(system: Any) -> str | None:
    if system is None or isinstance(system, str):
        return None
    if not isinstance(system, list):
        return "system: Input should be a valid string or a list of text blocks"
    for index, block in enumerate(system):
        if not (isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)):
            return f"system.{index}: Input should be a text block with a string 'text'"
    return None


def _blocks_problem(blocks: list[Any], where: str, nested: bool = False) -> str | None:
    for index, block in enumerate(blocks):
        here = f"{where}.{index}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return f"{here}: Input should be a content block with a 'type'"
        kind = block["type"]
        if kind == "text" and not isinstance(block.get("text"), str):
            return f"{here}.text: Input should be a valid string"
        if kind == "tool_use" and not (isinstance(block.get("name"), str) and isinstance(block.get("input"), dict)):
            return f"{here}: a tool_use block needs a string 'name' and an object 'input'"
        if kind == "tool_result" and not nested:
            content = block.get("content")
            if isinstance(content, list):
                problem = _blocks_problem(content, f"{here}.content", nested=True)
                if problem:
                    return problem
            elif content is not None and not isinstance(content, str):
                return f"{here}.content: Input should be a valid string or list of blocks"
        elif kind == "tool_result":
            return f"{here}: a tool_result cannot hold another tool_result"
    return None


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _load_responder(spec: str) -> Responder:
    """``package.module:callable`` or ``/path/to/file.py:callable``."""
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise ValueError(f"--responder must look like module:callable or file.py:callable, not {spec!r}")
    if target.endswith(".py") or os.sep in target:
        module_spec = importlib.util.spec_from_file_location("_fakemodel_responder", target)
        if module_spec is None or module_spec.loader is None:
            raise ValueError(f"cannot load a responder from {target!r}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    responder: Responder = getattr(module, attr)
    return responder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fakemodel",
        description="A fake Anthropic Messages API that plays a script of faults.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "script: comma-separated steps, one per request, the last repeating; "
            "step := name[(key=value,...)][*count]\n"
            f"steps: {', '.join(_STEP_PARAMS)}, or a status 400-599\n"
            "e.g. '529*2,ok'  '429(retry_after_ms=500),ok'  'stall(s=30)'  'drip(s=0.5)'  'ok(text=\"hi\")'\n"
            "The full grammar and every parameter: the docstring of this file."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--unix-socket", help="serve on this Unix socket path instead of TCP")
    parser.add_argument("--script", default="ok", help="e.g. 'ok', '429(retry_after=2)*2,ok', 'stall(s=30)'")
    parser.add_argument("--responder", help="module:callable or /path/file.py:callable")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-in-flight", type=int)
    parser.add_argument("--tpm", type=int, help="input tokens per minute")
    parser.add_argument("--context-window", type=int, default=200_000)
    args = parser.parse_args(argv)
    try:
        fake = FakeModel(
            script=args.script,
            responder=_load_responder(args.responder) if args.responder else None,
            seed=args.seed,
            max_in_flight=args.max_in_flight,
            tokens_per_minute=args.tpm,
            context_window=args.context_window,
            host=args.host,
            port=args.port,
            unix_socket=args.unix_socket,
            control_endpoints=True,
        )
    except (ValueError, ImportError, AttributeError, OSError) as exc:
        parser.error(str(exc))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    fake.start()
    where = f"unix:{args.unix_socket}" if args.unix_socket else fake.base_url
    print(f"fakemodel listening on {where} (script: {args.script})", flush=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
