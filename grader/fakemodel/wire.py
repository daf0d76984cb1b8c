"""The Messages API on the wire: message JSON and its usage, SSE events, error bodies and types,
HTML error pages, status reasons, dates, retry headers, the redaction of keys in recorded headers,
and the validation that decides which request bodies the real API would accept.
"""

from __future__ import annotations

import email.utils
import http
import json
import math
import re
import time
from typing import Any

from .replies import _Reply

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

_BROKEN_SSE = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"te\n\n'


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
