"""Probe evidence as reviewers read it: grouped by failure mode, a suggested level, each call, a traffic timeline.

Pure functions over ProbeResult rows and their evidence JSON. The evidence was produced while
running candidate code, so every string in it is hostile: nothing here builds HTML, the
templates escape it. Calls are shown whatever the exercise's contract: the input and the
returned value are any JSON value, flattened here into lines a template nests (``json_tree``).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from assessments.models import OutcomeCounts, ProbeResult
from assessments.selectors import FailureModes
from rubrics.models import Criterion

# Probe score (points over judged results, errors excluded) -> suggested level, highest threshold first.
SUGGESTION_THRESHOLDS = ((1.0, 3), (0.7, 2), (0.3, 1), (0.0, 0))

# Drawn at its natural size (one viewBox unit = one CSS pixel, scrolled sideways when the column is
# narrower), so the 12 px labels stay 12 px on a phone instead of shrinking with the drawing.
TIMELINE_WIDTH = 540  # fits the evidence column beside the rubric at 1280 px
TIMELINE_PAD = 8  # room either side for the first and last tick labels
ROW_HEIGHT = 20
BAR_HEIGHT = 16
LABEL_ROOM = 150  # a bar starting closer than this to the right edge has its label on its left
GAP_HIGHLIGHT_S = 1.0  # a pause between requests this long is drawn as a gap


class Judged(Protocol):
    """What the suggestion reads of a probe result: a ProbeResult, or a lighter row with the same fields."""

    @property
    def failure_mode(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def score(self) -> float | None: ...


@dataclass
class Suggestion:
    level: int | None
    passed: int
    counted: int
    errors: int
    points: float = 0.0  # a pass 1, a graded probe its score
    scored: int = 0  # counted results that were graded: when any, the page shows the score too

    @property
    def percent(self) -> int | None:
        return round(100 * self.points / self.counted) if self.counted else None


@dataclass(kw_only=True)
class ModeGroup(OutcomeCounts):
    slug: str
    title: str
    description: str = ""  # the package's words for staff
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def score_text(self) -> str:
        """The mode's probe score ("75%") when a graded probe is among its results, else ""."""
        return _percent(self.rate) if self.scored and self.rate is not None else ""


def suggested_level(results: Iterable[Judged]) -> Suggestion:
    """The level the probe outcomes point at; infrastructure errors are not the candidate's doing."""
    counts = OutcomeCounts()
    for result in results:
        counts.add(result.outcome, result.score)
    figures = (counts.passed, counts.judged, counts.errors, counts.points, counts.scored)
    if counts.rate is None:
        return Suggestion(None, *figures)
    rate = round(counts.rate, 9)  # the points of graded probes are sums of fractions: 0.7 must reach 0.7
    level = next(level for threshold, level in SUGGESTION_THRESHOLDS if rate >= threshold)
    return Suggestion(level, *figures)


def suggestions_for(criteria: Iterable[Criterion], results: Iterable[Judged]) -> dict[int, Suggestion | None]:
    """Per criterion id: the suggestion from the results of its failure modes (None: no failure modes)."""
    by_mode: dict[str, list[Judged]] = {}
    for result in results:
        by_mode.setdefault(result.failure_mode, []).append(result)
    out: dict[int, Suggestion | None] = {}
    for criterion in criteria:
        if not criterion.failure_modes:
            out[criterion.pk] = None
            continue
        relevant = [r for mode in criterion.failure_modes for r in by_mode.get(mode, [])]
        out[criterion.pk] = suggested_level(relevant)
    return out


def group_by_failure_mode(
    results: Iterable[ProbeResult], modes: FailureModes, *, detailed: Callable[[ProbeResult], bool] | None = None
) -> list[ModeGroup]:
    """The results under their failure mode, in the order and with the words of ``modes`` (the run's version).

    ``detailed`` says which results carry their calls and traffic timeline (all when None): the
    review page draws only those, and fetches the others' when the reviewer opens them.
    """
    groups: dict[str, ModeGroup] = {}
    for result in results:
        group = groups.get(result.failure_mode)
        if group is None:
            mode = modes.get(result.failure_mode)
            group = ModeGroup(slug=mode.slug, title=mode.title, description=mode.description)
            groups[result.failure_mode] = group
        group.results.append(_present(result, detailed=detailed is None or detailed(result)))
        group.add(result.outcome, result.score)
    return sorted(groups.values(), key=lambda g: modes.sort_key(g.slug))


MAX_CALLS_SHOWN = 20
OUTCOME_LABELS = {"timed_out": "timed out", "not_run": "not run"}


def _present(result: ProbeResult, *, detailed: bool = True) -> dict[str, Any]:
    """A result as the review page shows it; its traffic (timeline, stderr) only when ``detailed``."""
    evidence = result.evidence if isinstance(result.evidence, dict) else {}
    calls = [c for c in evidence.get("calls") or [] if isinstance(c, dict)]
    shown: dict[str, Any] = {
        "probe_id": result.probe_id,
        "outcome": result.outcome,
        "score": result.score,
        "score_text": "" if result.score is None else _percent(result.score),  # a graded probe's, e.g. "81%"
        "reason": result.reason,
        "description": _text(evidence.get("description")),
        "duration_s": result.duration_s,
        "calls": [present_call(c) for c in calls[:MAX_CALLS_SHOWN]],
        "more_calls": max(0, len(calls) - MAX_CALLS_SHOWN),
        "detailed": detailed,
    }
    if detailed:
        shown |= {
            "timeline": timeline(evidence),
            "requests_total": _requests_total(evidence),
            "requests_total_text": f"{_requests_total(evidence):,}",
            "peak_in_flight": evidence.get("peak_in_flight"),
            "stderr_tail": _text(evidence.get("stderr_tail"))[-1500:],
        }
    return shown


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.0f}%"


def _requests_total(evidence: dict[str, Any]) -> int:
    """Every request the probe saw: past the stored (and the drawn) ones, a flood is only counted."""
    stored = len(evidence.get("requests") or [])
    total = _int(evidence.get("requests_total"))
    return max(total or 0, stored)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def present_call(call: dict[str, Any]) -> dict[str, Any]:
    """One stored call as the generic view shows it: input and returned value as trees, outcome, problems.

    ``stored`` is the call as it was stored, for an exercise's own ``templates/call.html``. Calls
    stored before inputs were any JSON value have ``question`` (a string) instead of ``input``, and
    a summary ``value`` whose ``keys`` lists what the candidate's dict held: not something it returned.
    """
    legacy = "input" not in call and "question" in call
    given = call.get("question") if legacy else call.get("input")
    returned = call.get("value")
    if legacy and isinstance(returned, dict):
        returned = {k: v for k, v in returned.items() if k != "keys"}
    outcome = _text(call.get("outcome")) or "unknown"
    return {
        "stored": call,
        "input_text": _cut(given) if isinstance(given, str) else None,
        "input_tree": None if isinstance(given, str) else json_tree(given),
        "outcome": outcome,
        "outcome_label": OUTCOME_LABELS.get(outcome, outcome.replace("_", " ")),
        "returned": outcome == "returned",
        "value_tree": json_tree(returned) if outcome == "returned" else [],
        "problems": [str(p)[:300] for p in _list(call.get("problems"))[:10]],
        "raised": _text(call.get("raised"))[:500],
        "observed_s": _num(call.get("observed_s")),
        "duration_s": _num(call.get("duration_s")),
    }


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


# --- Any JSON value as a compact tree ------------------------------------------------------------

TREE_MAX_DEPTH = 6  # deeper containers are summarised ("{…3 keys}")
TREE_MAX_LINES = 300  # per value; the rest of a container is summarised ("…12 more")
STRING_SHOWN = 400  # a longer string shows this much, the rest behind "show more"
KEY_SHOWN = 80


def json_tree(value: object) -> list[dict[str, Any]]:
    """A JSON value as a flat list of lines that ``rubrics/_json_tree.html`` nests into lists.

    A line opens a container (``open``: "{" or "[", with its ``close``), closes one (``end``), or is
    a leaf (``kind``: string, number, literal, empty, more) with its ``text``; ``key`` is the
    object key it sits under (None in an array). The outermost object's braces are left out: its
    keys are the tree's first level. Plain data only: the template escapes every string.
    """
    lines: list[dict[str, Any]] = []
    budget = [TREE_MAX_LINES]
    if isinstance(value, dict) and value:
        _tree_items(value, 0, lines, budget)
    else:
        _tree(None, value, 0, lines, budget)
    return lines


def _tree(key: str | None, value: object, depth: int, lines: list[dict[str, Any]], budget: list[int]) -> None:
    budget[0] -= 1
    if isinstance(value, dict | list):
        opener, closer = ("{", "}") if isinstance(value, dict) else ("[", "]")
        if not value:
            lines.append({"key": key, "kind": "empty", "text": opener + closer})
        elif depth >= TREE_MAX_DEPTH:
            lines.append({"key": key, "kind": "more", "text": f"{opener}…{_count(value)}{closer}"})
        else:
            lines.append({"key": key, "open": opener, "close": closer, "size": _count(value)})
            _tree_items(value, depth + 1, lines, budget)
            lines.append({"end": closer})
    elif isinstance(value, str):
        lines.append({"key": key, "kind": "string", **_cut(value)})
    elif value is None or isinstance(value, bool):
        lines.append({"key": key, "kind": "literal", "text": {None: "null", True: "true", False: "false"}[value]})
    elif isinstance(value, int | float):
        lines.append({"key": key, "kind": "number", "text": repr(value)})
    else:  # not JSON; stored evidence is, but a hand-made row need not be
        lines.append({"key": key, "kind": "literal", "text": str(value)[:200]})


def _tree_items(value: dict[Any, Any] | list[Any], depth: int, lines: list[dict[str, Any]], budget: list[int]) -> None:
    items: list[tuple[str | None, Any]] = (
        [(str(k)[:KEY_SHOWN], v) for k, v in value.items()] if isinstance(value, dict) else [(None, v) for v in value]
    )
    for n, (key, item) in enumerate(items):
        if budget[0] <= 0:
            lines.append({"key": None, "kind": "more", "text": f"…{len(items) - n} more"})
            return
        _tree(key, item, depth, lines, budget)


def _count(value: dict[Any, Any] | list[Any]) -> str:
    n = len(value)
    noun = ("key" if isinstance(value, dict) else "item") + ("" if n == 1 else "s")
    return f"{n} {noun}"


def _cut(text: str) -> dict[str, Any]:
    if len(text) <= STRING_SHOWN:
        return {"text": text, "rest": ""}
    return {"text": text[:STRING_SHOWN], "rest": text[STRING_SHOWN:], "rest_len": f"{len(text) - STRING_SHOWN:,}"}


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _bar_kind(request: dict[str, Any], ended: float | None) -> str:
    """The bar's colour, from what the client got: an HTTP 2xx is an answer, whatever the script
    did to its body (prose, a cut, a refusal: the label names that); the colour for "other fault"
    is for a refusal of another status (400, 413, ...) or a connection reset without one."""
    status = request.get("status")
    if ended is None or request.get("outcome") in ("dropped", "stalled", "cut"):
        return "stall"
    if isinstance(status, int) and 200 <= status < 300:
        return "ok"
    if isinstance(status, int) and status >= 500:
        return "error"
    if status == 429:
        return "throttled"
    return "fault"


def _bar_label(request: dict[str, Any], kind: str) -> str:
    status = _int(request.get("status"))
    parts = [str(status) if status is not None else "—"]
    fault = _text(request.get("fault"))
    if kind == "ok" and fault not in ("", "ok"):
        parts.append(fault[:20])  # a 200 the script twisted (prose, badjson, stall, ...)
    if retry := _int(request.get("retry_count")):
        parts.append(f"retry {retry}")
    if kind == "stall":
        parts.append("stalled")
    return " · ".join(parts)


MAX_BARS = 60


def drawn_requests(evidence: object) -> int:
    """How many bars the probe's timeline draws: what it costs the page."""
    requests = evidence.get("requests") if isinstance(evidence, dict) else None
    return min(MAX_BARS, len(requests)) if isinstance(requests, list) else 0


def timeline(evidence: dict[str, Any]) -> dict[str, Any] | None:
    """Geometry for an inline SVG: one bar per model request, x = seconds since the first arrival.

    A request that never ended is drawn to the end of the probe's window and marked as a stall;
    a pause of a second or more between one request's end and the next arrival is marked as a gap.
    """
    arrivals = [
        (arrived, r)
        for r in evidence.get("requests") or []
        if isinstance(r, dict) and (arrived := _num(r.get("arrived"))) is not None
    ]
    if not arrivals:
        return None
    arrivals = sorted(arrivals, key=lambda pair: pair[0])[:MAX_BARS]
    requests = [r for _, r in arrivals]
    t0 = arrivals[0][0]
    ends = [_num(r.get("ended")) for r in requests]
    last = max([e for e in ends if e is not None] + [arrived for arrived, _ in arrivals])
    span = max(last - t0, 0.001)
    wall = _num(evidence.get("wall_s"))
    if any(e is None for e in ends) and wall:
        span = max(span, min(wall, span * 4 + 1))
    scale = TIMELINE_WIDTH / span
    bars, gaps, previous_end = [], [], None
    for row, ((arrived, request), ended) in enumerate(zip(arrivals, ends, strict=True)):
        start = arrived - t0
        stop = (ended - t0) if ended is not None else span
        kind = _bar_kind(request, ended)
        y = row * ROW_HEIGHT + 4
        if previous_end is not None and start - previous_end >= GAP_HIGHLIGHT_S:
            gaps.append(
                {
                    "x": _f(previous_end * scale),
                    "w": _f((start - previous_end) * scale),
                    "seconds": _f(start - previous_end),
                }
            )
        previous_end = stop if previous_end is None else max(previous_end, stop)
        x = start * scale
        label_left = x > TIMELINE_WIDTH - LABEL_ROOM
        bars.append(
            {
                # Pre-formatted: SVG needs "." decimals whatever the locale, and strings render fastest.
                "x": _f(x),
                "y": str(y),
                "w": _f(max((stop - start) * scale, 2)),
                "kind": kind,
                "seq": _int(request.get("seq")),
                "start": _f(start, 2),
                "took": _f(stop - start, 2) if ended is not None else None,
                "status": _int(request.get("status")),
                "fault": _text(request.get("fault"))[:40],
                "invalid": _text(request.get("invalid"))[:200],
                "retry": _int(request.get("retry_count")),
                "in_flight": _int(request.get("in_flight_at_arrival")),
                "input_tokens": _int(request.get("input_tokens")),
                "label": _bar_label(request, kind),
                "label_x": _f(x - 4 if label_left else x + 4),
                "label_anchor": "end" if label_left else "start",
                "text_y": str(y + 12),
            }
        )
    height = len(bars) * ROW_HEIGHT + 30
    return {
        "bars": bars,
        "gaps": gaps,
        "ticks": _ticks(span, scale, height),
        "width": TIMELINE_WIDTH,
        "box_x": -TIMELINE_PAD,
        "box_width": TIMELINE_WIDTH + 2 * TIMELINE_PAD,
        "bar_h": BAR_HEIGHT,
        "height": height,
        "axis_y": str(height - 18),
        "span_s": _f(span, 2),
    }


def _ticks(span: float, scale: float, height: int) -> list[dict[str, str]]:
    step = next((s for s in (0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300) if span / s <= 8), 600)
    ticks, i = [], 0
    while i * step <= span + 1e-9:
        ticks.append({"x": _f(i * step * scale), "label": f"{i * step:g}s", "y": str(height - 3), "anchor": "middle"})
        i += 1
    # The end ticks are anchored inwards so their labels stay inside the drawing.
    ticks[0]["anchor"] = "start"
    if len(ticks) > 1 and float(ticks[-1]["x"]) > TIMELINE_WIDTH - 20:
        ticks[-1]["anchor"] = "end"
    return ticks


def _f(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}"


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
