"""A fake Anthropic Messages API: a real HTTP server that plays a script of answers and faults.

The official ``anthropic`` SDK, pointed at it with ``base_url`` / ``ANTHROPIC_BASE_URL``, cannot
tell it from the real API: same JSON shapes, error bodies, status codes, headers (``request-id``,
``retry-after``, ``retry-after-ms``, ``x-should-retry``) and streaming events. Point code at it
to see how it behaves when the model misbehaves; it records every request, so that a test can
judge *how* the code talked to the model (retries, gaps, timeouts, concurrency, cost).

Python standard library only, Python 3.11+, and no import from outside this package (its modules
import each other relatively), so the folder works wherever it is copied. In a starter kit it is
``devtools/fakemodel/`` (on the platform: grader.fakemodel): run it as ``python devtools/fakemodel
--port 8765 --script "ok,429,ok"``, or ``import fakemodel`` with ``devtools`` on ``sys.path``.
The package: ``script`` (the grammar below), ``replies`` (responders, tokens, the reply and its
faults), ``wire`` (JSON, SSE, errors, headers, request validation), ``server`` (``FakeModel`` and
its HTTP/1.1) and ``cli`` (the command line; ``__main__`` runs it).

In process (with ``devtools`` on ``sys.path``)::

    from fakemodel import FakeModel
    with FakeModel(script="429(retry_after=1)*2,ok", seed=0, max_in_flight=4) as fm:
        client = anthropic.Anthropic(base_url=fm.base_url, api_key="sk-test")
        ...
        fm.requests        # snapshot list of record dicts, oldest first
        fm.peak_in_flight  # most requests served at once
        fm.reset(script="ok")

Standalone: ``python devtools/fakemodel`` (or ``python -m fakemodel`` from ``devtools``) ``--port
PORT --script SCRIPT [--responder module:callable | /path/file.py:callable] [--seed N]
[--max-in-flight N] [--tpm N] [--context-window N] [--unix-socket PATH] [--host HOST]``. It prints
``fakemodel listening on URL`` and, standalone only, also serves ``GET /_fake/requests`` (JSON list
of records) and ``POST /_fake/reset`` (optional JSON body ``{"script": "..."}``). In process these
control endpoints are off by default (``control_endpoints=False``): the code under test can reach
the server, and must not be able to read or wipe the evidence.

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

What the SDK did (anthropic 2.14.0, observed against this fake)
----------------------------------------------------------------
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

from .cli import main
from .replies import Responder, default_responder, estimate_tokens, last_user_text, system_text
from .script import Step, parse_script
from .server import MAX_KEPT_BODY_BYTES, MAX_RECORDS, FakeModel
from .wire import ERROR_MESSAGES, ERROR_TYPES

__all__ = [
    "ERROR_MESSAGES",
    "ERROR_TYPES",
    "MAX_KEPT_BODY_BYTES",
    "MAX_RECORDS",
    "FakeModel",
    "Responder",
    "Step",
    "default_responder",
    "estimate_tokens",
    "last_user_text",
    "main",
    "parse_script",
    "system_text",
]
