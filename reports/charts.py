"""Geometry for the server-rendered SVG charts. Templates draw the shapes; no JavaScript, no CDN.

Each function returns plain numbers (viewBox units) so the markup stays in templates and the
arithmetic stays testable here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Bar:
    label: str
    value: float
    x: float
    y: float
    width: float
    height: float
    note: str = ""
    css: str = ""


def funnel_bars(
    funnel: list[dict], *, width: float = 500, bar_height: float = 24, gap: float = 10, label_w: float = 90
):
    """Horizontal bars, one per stage, scaled to the invited count."""
    top = max((stage["count"] for stage in funnel), default=0) or 1
    span = width - label_w - 50
    bars = []
    for i, stage in enumerate(funnel):
        w = span * stage["count"] / top
        bars.append(
            Bar(label=stage["label"], value=stage["count"], x=label_w, y=i * (bar_height + gap), width=max(w, 0),
                height=bar_height, css=f"bar-{stage['state']}")
        )  # fmt: skip
    return {
        "bars": bars,
        "width": width,
        "height": len(funnel) * (bar_height + gap) - gap,
        "label_w": label_w,
        "span": span,
        "value_x": label_w + span + 8,
    }


def histogram(values: list[float], *, maximum: float, bins: int = 6, width: float = 500, height: float = 200):
    """Vertical bars: how many candidates' rubric totals fall in each of ``bins`` equal ranges of 0..maximum."""
    maximum = maximum or 1
    counts = [0] * bins
    for value in values:
        index = min(int(value / maximum * bins), bins - 1)
        counts[max(index, 0)] += 1
    top = max(counts) or 1
    plot_h = height - 40
    slot = width / bins
    bars = []
    for i, count in enumerate(counts):
        lo, hi = maximum * i / bins, maximum * (i + 1) / bins
        h = plot_h * count / top
        bars.append(
            Bar(label=f"{lo:g}–{hi:g}", value=count, x=i * slot + 6, y=plot_h - h + 18, width=slot - 12, height=h)
        )
    return {"bars": bars, "width": width, "height": height, "baseline": plot_h + 18}


def mode_bars(modes, *, width: float = 760, bar_height: float = 22, gap: float = 10, label_w: float = 170):
    """One 100 % stacked bar per failure mode: the points earned vs the rest (errors are counted apart)."""
    span = width - label_w - 60
    rows = []
    for i, summary in enumerate(modes):
        judged = summary.passed + summary.failed
        pass_w = span * summary.rate if judged else 0  # points, so graded probes fill their share
        rows.append(
            {
                "summary": summary,
                "y": i * (bar_height + gap),
                "pass_w": pass_w,
                "fail_x": label_w + pass_w,
                "fail_w": (span - pass_w) if judged else 0,
                "empty": not judged,
            }
        )
    return {
        "rows": rows,
        "width": width,
        "height": max(len(modes) * (bar_height + gap) - gap, bar_height),
        "label_w": label_w,
        "span": span,
        "bar_h": bar_height,
        "value_x": label_w + span + 8,
    }
