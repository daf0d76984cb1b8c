"""The stable interface for exercise packages: the only module a package's ``hidden/`` code imports.

Everything named in ``__all__`` keeps its name, signature and meaning across platform versions
(additions only; a change that breaks a package is a new major version of the platform, announced
in ``exercises/README.md``). The rest of :mod:`grader` is the platform's and may change at any time.

What a package uses it for:

- **Declaring probes**: :class:`Probe` (a fault script, the inputs to call the entry point with, a
  check), returned by ``hidden/probes.py`` as ``PROBES``.
- **Judging**: a check is a function ``Evidence -> Verdict``. :class:`Evidence` holds every call
  (:class:`CallResult`: the input, what was returned as plain JSON, how it broke the contract, how
  long it took) and every request the candidate's code made to the fake model, bodies included.
  The helpers below compose small checks that return ``None`` when satisfied or a reason.
- **Graded checks**, for failure modes that are a matter of degree (load, cost, latency): a
  :class:`Verdict` with ``score`` (0 to 1) counts that fraction of a point instead of 1 for a pass
  and 0 for a fail; :func:`graded` makes one from the measured fraction and a pass mark, and the
  reason should carry the figure ("26 of 32 answered in time (81%)"). ``score=None`` (the default)
  is a pass/fail probe. A score outside 0 to 1, or not a number, is the package's bug: the probe
  ends in error, like a check that raises.
- **Scripting the fake model**: :func:`parse_script` reads the fault-script grammar (the same text a
  probe's ``script`` holds), :func:`last_user_text`, :func:`system_text` and :func:`estimate_tokens`
  read a recorded request body, and a responder (:class:`Responder`) decides what a healthy model
  would say. :class:`FakeModel` runs the fake for a package's own tests.
- **Reusing another package's probes** (a fixture built from a real package): :func:`load_exercise`.

A check must be total: whatever the candidate's code returned or sent, it returns a verdict and
never raises (a check that raises is the platform's fault, and the grading is stopped).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.runner import Exercise

from grader.fakemodel import FakeModel, Responder, Step, estimate_tokens, last_user_text, parse_script, system_text
from grader.probe import CallResult, Evidence, Probe, Verdict, bounded

__all__ = [
    "CallResult",
    "Check",
    "Evidence",
    "FakeModel",
    "Probe",
    "Responder",
    "Step",
    "Verdict",
    "all_of",
    "bounded",
    "contract_kept",
    "each_call",
    "estimate_tokens",
    "graded",
    "last_user_text",
    "load_exercise",
    "model_was_asked",
    "parse_script",
    "short",
    "system_text",
    "verdict",
]

Check = Callable[[Evidence], "str | None"]
"""A small check: ``None`` when satisfied, else a one-line reason a reviewer can act on."""


def short(text: object, limit: int = 60) -> str:
    """Text on one line, cut to ``limit`` characters: for quoting candidate output in a reason."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def contract_kept(evidence: Evidence, timing_slack_s: float = 1.0) -> str | None:
    """Every call ran, returned (did not raise or time out), kept the output schema and the deadline."""
    for call in evidence.calls:
        label = f"call {call.index + 1} ({short(call.question)!r})"
        if call.outcome == "not_run":
            return f"{label} never ran: {evidence.process or 'the process ended early'}"
        if call.outcome == "timed_out":
            return f"{label} did not return within {evidence.call_limit_s:.0f} s and was killed"
        if call.outcome == "raised":
            return f"{label} raised {short(call.raised or '', 160)}"
        if call.problems:
            return f"{label} broke the contract: {'; '.join(call.problems[:3])}"
        took = max(call.duration_s or 0.0, (call.observed_s or 0.0) - timing_slack_s)
        if took > evidence.call_limit_s:
            return f"{label} took {took:.1f} s (limit {evidence.call_limit_s:.0f} s)"
    return None


def model_was_asked(evidence: Evidence) -> str | None:
    """At least one request reached the fake model."""
    return None if evidence.requests_seen else "the model was never asked"


def each_call(expect: Callable[[CallResult], str | None]) -> Check:
    """Apply ``expect`` to every call in order; the first reason wins."""

    def check(evidence: Evidence) -> str | None:
        for call in evidence.calls:
            reason = expect(call)
            if reason:
                return reason
        return None

    return check


def all_of(*checks: Check) -> Check:
    """Every check in order; the first reason wins."""

    def check(evidence: Evidence) -> str | None:
        for one in checks:
            reason = one(evidence)
            if reason:
                return reason
        return None

    return check


def verdict(*checks: Check, passed: str = "handled") -> Callable[[Evidence], Verdict]:
    """A probe's ``check`` from small checks: pass with ``passed`` when all are satisfied."""
    combined = all_of(*checks)

    def judge(evidence: Evidence) -> Verdict:
        reason = combined(evidence)
        return Verdict(False, reason) if reason else Verdict(True, passed)

    return judge


def graded(score: float, reason: str, pass_at: float = 1.0) -> Verdict:
    """A graded probe's verdict: ``score`` (the fraction achieved) clamped to 0-1 and rounded to 3
    decimals, passed when that stored score reaches ``pass_at``. Put the measured figure in ``reason``::

        return graded(on_time / total, f"{on_time} of {total} answered in time ({on_time / total:.0%})", pass_at=0.9)
    """
    value = float(score)
    if math.isnan(value):  # clamping would turn it into 0: a check that computed no figure is the package's bug
        raise ValueError("graded: the score is NaN")
    clamped = round(min(1.0, max(0.0, value)), 3)
    return Verdict(clamped >= pass_at, reason, score=clamped)


def load_exercise(path: Path | str) -> Exercise:
    """Another package, loaded and checked (its ``probes``, ``module`` and ``preload``), to reuse its probes."""
    from grader.runner import load_exercise as load  # the runner imports packages; a package imports the runner lazily

    return load(path)
