"""Formatting shared by the report pages, their CSV and PDF, and the tests that check their figures."""

from datetime import timedelta

from django import template

register = template.Library()

DASH = "—"


def pct(rate: float | None) -> str:
    return DASH if rate is None else f"{rate * 100:.0f}%"


def level(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f}"


def duration(value: timedelta | None) -> str:
    if value is None:
        return DASH
    minutes = int(value.total_seconds() // 60)
    hours, minutes = divmod(max(minutes, 0), 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def heat(rate: float | None) -> str:
    """A colour class for a pass rate: heat-none, heat-0 (< 25 %) … heat-4 (all passed)."""
    if rate is None:
        return "heat-none"
    if rate >= 1:
        return "heat-4"
    return f"heat-{min(int(rate * 4), 3)}"


def level_class(value: float | None) -> str:
    return "lvl-none" if value is None else f"lvl-{min(int(value + 0.5), 3)}"


for _f in (pct, level, duration, heat, level_class):
    register.filter(_f.__name__, _f)


@register.filter
def get(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def call_cells(row, modes):
    return row.cells(modes)


@register.filter
def mode_title(modes, slug):
    """The failure mode's title in ``modes`` (a FailureModes), or one made from its slug."""
    return modes.title(slug)
