"""Turn the model's text into the house format, tolerating the usual near-misses.

Tolerated (the reply is still usable): prose around the JSON, a code fence, trailing commas,
single-quoted strings, Python literals (None/True/False), citations as one comma-separated string,
extra keys, a wrapper object ({"response": ...}).
Not tolerated (ReplyFormatError, the caller may retry): no JSON object at all, a truncated
object, an object without any of the house keys.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_MISSING = object()
_FENCE_RE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.S)
_HOUSE_KEYS = ("answer", "citations", "quote")
_CITATION_KEYS = ("citations", "citation", "sources", "source", "doc_ids", "references", "ids")
_WRAPPER_KEYS = ("response", "result", "output", "reply", "data", "json")
MAX_REPLY_CHARS = 100_000


class ReplyFormatError(ValueError):
    """The reply is not a usable house-format object."""


@dataclass
class HouseReply:
    answer: str | None  # None: the model says the articles do not hold the answer
    answer_missing: bool  # the key itself was absent (a schema slip, not a "don't know")
    citations: list[str]
    quote: str


def parse_reply(text: str) -> HouseReply:
    if not isinstance(text, str) or not text.strip():
        raise ReplyFormatError("empty reply")
    text = text.strip()[:MAX_REPLY_CHARS]
    obj = _find_object(text)
    if obj is None:
        raise ReplyFormatError("no JSON object in reply")
    return _coerce(obj)


# -- finding the object --------------------------------------------------------------------------


def _find_object(text: str, depth: int = 0) -> dict | None:
    candidates = [text]
    candidates += [m.group(1) for m in _FENCE_RE.finditer(text)]
    for cand in candidates:
        obj = _strict_or_lenient(cand.strip(), depth)
        if obj is not None:
            return obj
    # Prose around the object: try each '{' as a start, strict first, then lenient.
    decoder = json.JSONDecoder()
    starts = [m.start() for m in re.finditer(r"\{", text)][:20]
    for start in starts:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        obj = _unwrap(value, depth)
        if obj is not None:
            return obj
    ends = [m.start() for m in re.finditer(r"\}", text)][-8:]
    for start in starts[:8]:
        for end in reversed(ends):
            if end > start:
                obj = _unwrap(_lenient(text[start : end + 1]), depth)
                if obj is not None:
                    return obj
    return None


def _strict_or_lenient(text: str, depth: int) -> dict | None:
    if not text.startswith(("{", "[")):
        return None
    try:
        return _unwrap(json.loads(text), depth)
    except ValueError:
        return _unwrap(_lenient(text), depth)


def _unwrap(value: object, depth: int = 0) -> dict | None:
    """The house-format dict inside a value: itself, a wrapper's payload, or a JSON string."""
    if depth > 3:
        return None
    if isinstance(value, str):
        return _find_object(value.strip(), depth + 1) if "{" in value else None
    if isinstance(value, list):
        for item in value[:3]:
            found = _unwrap(item, depth + 1)
            if found is not None:
                return found
        return None
    if not isinstance(value, dict):
        return None
    if any(k in value for k in _HOUSE_KEYS) or any(k in value for k in _CITATION_KEYS[1:]):
        return value
    for key in _WRAPPER_KEYS:
        if key in value:
            found = _unwrap(value[key], depth + 1)
            if found is not None:
                return found
    return None


# -- a small tolerant JSON parser -------------------------------------------------------------------


_LITERALS = (("null", None), ("None", None), ("true", True), ("True", True), ("false", False), ("False", False))
_NUMBER_RE = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_KEY_RE = re.compile(r"[A-Za-z_][\w-]*")


class _Lenient:
    """JSON plus: single-quoted strings (an apostrophe inside is kept when it is followed by a
    letter), trailing commas, None/True/False, unquoted keys. Raises ValueError on anything
    unterminated: a truncated reply is not guessed at."""

    def __init__(self, text: str) -> None:
        self.s, self.i = text, 0

    def parse(self) -> object:
        value = self.value()
        self.ws()
        return value

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t\r\n":
            self.i += 1

    def value(self) -> object:
        self.ws()
        if self.i >= len(self.s):
            raise ValueError("unexpected end")
        ch = self.s[self.i]
        if ch == "{":
            return self.obj()
        if ch == "[":
            return self.arr()
        if ch in "\"'":
            return self.string()
        m = _NUMBER_RE.match(self.s, self.i)
        if m:
            self.i = m.end()
            return json.loads(m.group())
        for word, val in _LITERALS:
            if self.s.startswith(word, self.i):
                self.i += len(word)
                return val
        raise ValueError(f"unexpected {ch!r} at {self.i}")

    def obj(self) -> dict:
        self.i += 1
        out: dict = {}
        while True:
            self.ws()
            if self.i >= len(self.s):
                raise ValueError("unterminated object")
            if self.s[self.i] == "}":
                self.i += 1
                return out
            if self.s[self.i] in "\"'":
                key = self.string()
            else:
                m = _KEY_RE.match(self.s, self.i)
                if not m:
                    raise ValueError("bad key")
                key, self.i = m.group(), m.end()
            self.ws()
            if self.i >= len(self.s) or self.s[self.i] != ":":
                raise ValueError("expected ':'")
            self.i += 1
            out[str(key)] = self.value()
            self.ws()
            if self.i < len(self.s) and self.s[self.i] == ",":
                self.i += 1
            elif self.i < len(self.s) and self.s[self.i] == "}":
                continue
            else:
                raise ValueError("expected ',' or '}'")

    def arr(self) -> list:
        self.i += 1
        out: list = []
        while True:
            self.ws()
            if self.i >= len(self.s):
                raise ValueError("unterminated array")
            if self.s[self.i] == "]":
                self.i += 1
                return out
            out.append(self.value())
            self.ws()
            if self.i < len(self.s) and self.s[self.i] == ",":
                self.i += 1
            elif self.i < len(self.s) and self.s[self.i] == "]":
                continue
            else:
                raise ValueError("expected ',' or ']'")

    def string(self) -> str:
        quote = self.s[self.i]
        self.i += 1
        out = []
        while self.i < len(self.s):
            ch = self.s[self.i]
            if ch == "\\" and self.i + 1 < len(self.s):
                nxt = self.s[self.i + 1]
                if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", self.s[self.i + 2 : self.i + 6] or ""):
                    out.append(chr(int(self.s[self.i + 2 : self.i + 6], 16)))
                    self.i += 6
                    continue
                out.append({"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}.get(nxt, nxt))
                self.i += 2
                continue
            if ch == quote:
                # In a single-quoted string an apostrophe followed by a letter is part of the text
                # (don't, customer's); the closing quote is followed by , : } ] or the end.
                if quote == "'" and self.i + 1 < len(self.s) and self.s[self.i + 1].isalpha():
                    out.append(ch)
                    self.i += 1
                    continue
                self.i += 1
                return "".join(out)
            out.append(ch)
            self.i += 1
        raise ValueError("unterminated string")


def _lenient(text: str) -> object:
    try:
        parser = _Lenient(text)
        value = parser.parse()
        if parser.i != len(parser.s):
            return None
        return value
    except (ValueError, RecursionError):
        return None


# -- coercing to the house schema ------------------------------------------------------------------


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(v.strip() for v in value if v.strip())
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return value["text"]
    raise ReplyFormatError(f"answer of type {type(value).__name__}")


def _as_citations(value: object) -> list[str]:
    if value is None or value is _MISSING:
        return []
    if isinstance(value, str):
        items: list = re.split(r"[,;\s]+", value)
    elif isinstance(value, list):
        items = []
        for v in value:
            if isinstance(v, dict):  # [{"id": "x"}] / [{"doc_id": "x"}]
                v = v.get("id") or v.get("doc_id") or v.get("doc")
            if isinstance(v, str):
                items.extend(re.split(r"[,;\s]+", v) if "," in v else [v])
    else:
        return []
    out: list[str] = []
    for item in items:
        item = item.strip()
        if item and item not in out:
            out.append(item)
    return out[:20]


def _coerce(obj: dict) -> HouseReply:
    if not any(k in obj for k in _HOUSE_KEYS) and not any(k in obj for k in _CITATION_KEYS):
        raise ReplyFormatError("object without house keys")
    raw_answer = obj.get("answer", _MISSING)
    answer_missing = raw_answer is _MISSING
    answer = None if answer_missing else _as_text(raw_answer)
    if isinstance(answer, str) and answer.strip().casefold() in ("", "null", "none", "n/a", "unknown"):
        answer = None
    raw_citations = next((obj[k] for k in _CITATION_KEYS if k in obj), _MISSING)
    quote = obj.get("quote")
    if isinstance(quote, list):
        quote = next((q for q in quote if isinstance(q, str)), "")
    if not isinstance(quote, str):
        quote = ""
    return HouseReply(answer, answer_missing, _as_citations(raw_citations), quote.strip())
