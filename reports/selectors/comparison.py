"""The comparison page (and its CSV): every candidate's row, filtered and sorted."""

from collections.abc import Callable

from reports.selectors.rows import CandidateRow

SORT_DIRS = ("asc", "desc")

type SortKey = Callable[[CandidateRow], str | float | None]


def comparison_sort_keys(modes: list[str]) -> dict[str, SortKey]:
    keys: dict[str, SortKey] = {
        "name": lambda row: row.name.lower(),
        "state": lambda row: row.state,
        "pass": lambda row: row.pass_rate,
        "total": lambda row: row.rubric_total,
        "errors": lambda row: row.errors,
    }
    for mode in modes:
        keys[mode] = _mode_rate(mode)
        keys[f"{mode}-rubric"] = _mode_rubric(mode)
    return keys


def _mode_rate(mode: str) -> SortKey:
    return lambda row: row.cell(mode).rate


def _mode_rubric(mode: str) -> SortKey:
    return lambda row: row.cell(mode).rubric


def comparison_rows(
    rows: list[CandidateRow], modes: list[str], *, sort: str, direction: str, state: str, min_pass: int | None
) -> list[CandidateRow]:
    """Filter by state and minimum overall pass rate (percent); sort with empty values always last."""
    if state:
        rows = [row for row in rows if row.state == state]
    if min_pass is not None:
        # Rounded: a probe score is a sum of fractions, and 0.29 * 100 is 28.999999999999996.
        rows = [row for row in rows if row.pass_rate is not None and round(row.pass_rate * 100, 6) >= min_pass]
    key = comparison_sort_keys(modes).get(sort) or comparison_sort_keys(modes)["name"]
    present = [row for row in rows if key(row) is not None]
    missing = [row for row in rows if key(row) is None]
    present.sort(key=lambda row: (key(row), row.name.lower()), reverse=direction == "desc")
    return present + missing
