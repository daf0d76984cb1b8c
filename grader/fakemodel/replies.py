"""What the fake answers: the request's text and token count, the default responder, and the
reply composed from a responder's output with a step's faults on top (prose, fences, corrupted
JSON, wrong schema, refusals, empty replies), cut at stop sequences and at ``max_tokens``.
"""

from __future__ import annotations

import json
import math
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a step is only read here; script.py imports this module for its JSON corruptions
    from .script import Step

Responder = Callable[[dict[str, Any], random.Random], "str | dict[str, Any]"]


_ALNUM = string.ascii_letters + string.digits


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
