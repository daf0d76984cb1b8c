"""What a probe is and what it sees: the types shared by the runner and an exercise's hidden probes.

An exercise package's ``hidden/probes.py`` builds a list of :class:`Probe`; the runner runs each one
against a fresh fake model and hands its :class:`Evidence` to ``probe.check``, which returns a
:class:`Verdict`. Nothing here knows about any particular exercise.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# What is stored of one probe's evidence (the checks see all of it first). A probe result of the
# help-desk reference stores 2-90 KB (its load probes the most); these caps hold any under ~0.35 MB.
STORED_REQUESTS = 200
STORED_BODY_CHARS = 2_000
STORED_BODIES_CHARS = 100_000
STORED_ANSWER_CHARS = 4_000


@dataclass(frozen=True)
class Verdict:
    """What a check decided about one probe.

    ``score`` is None for a pass/fail probe: it counts 1 point when passed and 0 when failed. A
    float from 0 to 1 makes it a graded probe, for failure modes that are a matter of degree (load,
    cost, latency): it counts that fraction of a point whatever ``passed`` says, and ``reason``
    should carry the measured figure ("26 of 32 answered in time (81%)"). ``passed`` still decides
    the badge reviewers see and which of passed or failed the probe is counted in.
    """

    passed: bool
    reason: str
    score: float | None = None

    def __post_init__(self) -> None:
        if self.score is None:
            return
        problem = score_problem(self.score)
        if problem:
            raise ValueError(f"Verdict score: {problem}")
        object.__setattr__(self, "score", float(self.score))  # an int 0 or 1 is stored as the float it means


def score_problem(score: object) -> str | None:
    """Why ``score`` is not a graded probe's score (a number from 0 to 1), or None when it is."""
    if isinstance(score, bool) or not isinstance(score, int | float):
        return f"{score!r} is not a number from 0 to 1"
    if not 0 <= score <= 1:  # NaN fails this too
        return f"{score!r} is not from 0 to 1"
    return None


@dataclass(frozen=True)
class Probe:
    """One hidden probe: a fault script, the inputs to call the entry point with, and how to judge what happened.

    ``failure_mode`` is the slug of one of the package's ``[[failure_modes]]``; every input must be
    valid against the contract's ``input`` schema (both are checked when the package loads).
    """

    id: str
    failure_mode: str
    description: str  # one line for reviewers
    script: str  # the fake model's fault script
    inputs: tuple[Any, ...]  # one JSON value per call
    check: Callable[[Evidence], Verdict]
    threads: int = 1  # 1: calls made one after another; N: from N threads at once
    needs_model: bool = True  # a submission that never asks the model must fail it
    exclusive: bool = False  # timing-sensitive: runs with nothing else running
    long: bool = False  # expected to take most of the call limit: scheduled first
    seed: int = 0
    max_in_flight: int | None = None
    tokens_per_minute: int | None = None
    context_window: int = 200_000
    params: Mapping[str, Any] = field(default_factory=dict)  # exercise-specific (responder mode, …)

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ValueError(f"probe {self.id}: no inputs")
        try:
            json.dumps(list(self.inputs))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"probe {self.id}: every input must be a JSON value ({exc})") from exc

    @property
    def questions(self) -> tuple[Any, ...]:
        """The inputs, under the name text-input exercises use."""
        return self.inputs


def bounded(value: Any, max_text: int = STORED_ANSWER_CHARS, max_items: int = 50, depth: int = 0) -> Any:
    """A copy of a JSON value with every string, list and object cut to size (for storage and pages)."""
    if isinstance(value, str):
        return value if len(value) <= max_text else value[:max_text] + "…[truncated]"
    if depth >= 20:
        return "…[nested too deep]"
    if isinstance(value, list):
        items = [bounded(v, max_text, max_items, depth + 1) for v in value[:max_items]]
        return items + ([f"…[{len(value) - max_items} more]"] if len(value) > max_items else [])
    if isinstance(value, dict):
        out = {str(k)[:100]: bounded(v, max_text, max_items, depth + 1) for k, v in list(value.items())[:max_items]}
        if len(value) > max_items:
            out["…"] = f"[{len(value) - max_items} more keys]"
        return out
    return value


@dataclass
class CallResult:
    """One call of the entry point, as the harness reported it and the runner observed it.

    ``value`` is what the call returned, as plain JSON (bounded in size by the harness), whatever
    its shape; ``problems`` says how it breaks the contract's ``output`` schema (or why it was not
    JSON). A check should read ``value`` only when ``problems`` is empty, or use ``obj``.
    """

    index: int
    input: Any
    outcome: str  # "returned", "raised", "timed_out" (killed at the limit), "not_run"
    value: Any = None  # what was returned, as plain JSON
    problems: list[str] = field(default_factory=list)  # how it breaks the contract
    raised: str | None = None  # "TypeError: ..." when the call raised
    duration_s: float | None = None  # measured in the candidate's process around the call
    observed_s: float | None = None  # measured by the runner, start event to result event

    @property
    def question(self) -> str:
        """The input as text: itself when it is a string, else its compact JSON."""
        return self.input if isinstance(self.input, str) else json.dumps(self.input, ensure_ascii=False)

    @property
    def obj(self) -> dict[str, Any]:
        """The returned value when it is a JSON object, else an empty one: safe to ``.get`` from."""
        return self.value if isinstance(self.value, dict) else {}

    def to_json(self, max_input: int = 300, max_answer: int = STORED_ANSWER_CHARS) -> dict[str, Any]:
        return {
            "index": self.index,
            "input": bounded(self.input, max_input, 20),
            "outcome": self.outcome,
            "value": bounded(self.value, max_answer),
            "problems": self.problems[:10],
            "raised": self.raised,
            "duration_s": self.duration_s,
            "observed_s": self.observed_s,
        }


@dataclass
class Evidence:
    """Everything a check may look at. ``requests`` are the fake model's records, bodies included.

    ``requests`` holds at most the fake's record cap; ``flood`` says how much went past it
    (``requests_seen``, ``requests_unrecorded``, ``bodies_dropped``): when anything did, the records
    are incomplete and the runner fails the probe before any check reads them.
    """

    probe_id: str
    inputs: tuple[Any, ...]
    calls: list[CallResult]
    requests: list[dict[str, Any]]
    peak_in_flight: int
    wall_s: float
    call_limit_s: float
    import_s: float | None = None
    process: str = ""  # how the candidate process ended, in words
    stderr_tail: str = ""
    flood: dict[str, Any] = field(default_factory=dict)

    @property
    def questions(self) -> tuple[Any, ...]:
        """The inputs, under the name text-input exercises use."""
        return self.inputs

    @property
    def requests_seen(self) -> int:
        return max(int(self.flood.get("requests_seen") or 0), len(self.requests))

    @property
    def complete(self) -> bool:
        """Every request was recorded with its body (nothing went past the fake's caps)."""
        return not (self.flood.get("requests_unrecorded") or self.flood.get("bodies_dropped"))

    def to_json(self, max_body: int = STORED_BODY_CHARS) -> dict[str, Any]:
        """A bounded, JSON-serialisable copy for storage and reviewers, whatever the candidate sent.

        At most ``STORED_REQUESTS`` request summaries, their body excerpts sharing
        ``STORED_BODIES_CHARS``; the counts say how many requests there were in all.
        """
        stored, budget = [], STORED_BODIES_CHARS
        for record in self.requests[:STORED_REQUESTS]:
            summary = _summarise(record, max(0, min(max_body, budget)))
            budget -= len(summary.get("body_head", ""))
            stored.append(summary)
        return {
            "probe_id": self.probe_id,
            "calls": [c.to_json() for c in self.calls],
            "wall_s": round(self.wall_s, 3),
            "import_s": self.import_s,
            "process": self.process[:500],
            "peak_in_flight": self.peak_in_flight,
            "requests": stored,
            "requests_total": self.requests_seen,
            "requests_not_stored": self.requests_seen - len(stored),
            "bodies_dropped": int(self.flood.get("bodies_dropped") or 0),
            "stderr_tail": self.stderr_tail[-4_000:],
        }


_RECORD_FIELDS = (
    "seq",
    "arrived",
    "ended",
    "status",
    "fault",
    "outcome",
    "model",
    "max_tokens",
    "input_tokens",
    "output_tokens",
    "stop_reason",
    "in_flight_at_arrival",
    "retry_count",
    "read_timeout",
    "timeout",
    "stream",
    "invalid",
)


def _summarise(record: dict[str, Any], max_body: int) -> dict[str, Any]:
    out = {k: record.get(k) for k in _RECORD_FIELDS}
    body = record.get("body")
    if body is not None:
        text = json.dumps(body, ensure_ascii=False)
        out["body_chars"] = len(text)
        out["body_head"] = text[:max_body]
    elif isinstance(record.get("body_excerpt"), str):
        out["body_head"] = record["body_excerpt"][:max_body]
    return out
