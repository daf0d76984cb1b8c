"""The fault-script grammar: ``parse_script("429(retry_after=1)*2,ok")`` gives the ``Step`` list a
fake plays, one step per request, the last repeating (``_Cursor`` hands them out). The grammar and
what every step does are documented in the package's docstring (``fakemodel/__init__.py``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .replies import _JSON_CORRUPTIONS


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
