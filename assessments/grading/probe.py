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

FAILURE_MODES = ("grounding", "injection", "transient", "output", "input", "load", "cost")


# What is stored of one probe's evidence (the checks see all of it first). A probe result of the
# help-desk reference stores 2-90 KB (its load probes the most); these caps hold any under ~0.35 MB.
STORED_REQUESTS = 200
STORED_BODY_CHARS = 2_000
STORED_BODIES_CHARS = 100_000
STORED_ANSWER_CHARS = 4_000


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str


@dataclass(frozen=True)
class Probe:
    """One hidden probe: a fault script, the questions to ask, and how to judge what happened."""

    id: str
    failure_mode: str
    description: str  # one line for reviewers
    script: str  # the fake model's fault script
    questions: tuple[str, ...]
    check: Callable[[Evidence], Verdict]
    threads: int = 1  # 1: questions asked one after another; N: from N threads at once
    needs_model: bool = True  # a submission that never asks the model must fail it
    exclusive: bool = False  # timing-sensitive: runs with nothing else running
    long: bool = False  # expected to take most of the call limit: scheduled first
    seed: int = 0
    max_in_flight: int | None = None
    tokens_per_minute: int | None = None
    context_window: int = 200_000
    params: Mapping[str, Any] = field(default_factory=dict)  # exercise-specific (responder mode, …)

    def __post_init__(self) -> None:
        if self.failure_mode not in FAILURE_MODES:
            raise ValueError(f"probe {self.id}: unknown failure mode {self.failure_mode!r}")
        if not self.questions:
            raise ValueError(f"probe {self.id}: no questions")


@dataclass
class CallResult:
    """One call of the entry point, as the harness reported it and the runner observed it."""

    index: int
    question: str
    outcome: str  # "returned", "raised", "timed_out" (killed at the limit), "not_run"
    value: dict[str, Any] | None = None  # the harness's coerced view of what was returned
    problems: list[str] = field(default_factory=list)  # contract problems the harness saw
    raised: str | None = None  # "TypeError: ..." when the call raised
    duration_s: float | None = None  # measured in the candidate's process around the call
    observed_s: float | None = None  # measured by the runner, start event to result event

    def to_json(self, max_question: int = 300, max_answer: int = STORED_ANSWER_CHARS) -> dict[str, Any]:
        question = self.question if len(self.question) <= max_question else self.question[:max_question] + "…"
        value = self.value
        if value is not None and isinstance(value.get("answer"), str) and len(value["answer"]) > max_answer:
            value = {**value, "answer": value["answer"][:max_answer] + "…[truncated]"}
        return {
            "index": self.index,
            "question": question,
            "outcome": self.outcome,
            "value": value,
            "problems": self.problems,
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
    questions: tuple[str, ...]
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
