"""The comparison page and its CSV: every candidate's row, filtered and ordered by one function for both.

The page and the file read the same query string (``ComparisonQuery``) and get their rows from the
same ``assessment_comparison``, so a download holds exactly the rows on screen, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from assessments.models import Assessment
from assessments.selectors import FailureModes
from reports.selectors.identical import IdenticalUpload, identical_uploads
from reports.selectors.rows import (
    STATE_LABELS,
    CandidateRow,
    ReferenceRow,
    candidate_rows,
    graded_versions,
    reference_row,
    report_failure_modes,
    report_modes,
    rubric_max,
)
from rubrics.models import Criterion

SORT_DIRS = ("asc", "desc")
# What matters first: the reviewers' total, then the probes; every other order breaks its ties the same way.
DEFAULT_SORT = "total"
_ASCENDING_FIRST = ("name", "state")

type SortKey = Callable[[CandidateRow], str | float | None]


def comparison_sort_keys(modes: list[str]) -> dict[str, SortKey]:
    keys: dict[str, SortKey] = {
        "name": lambda row: row.name.lower(),
        "state": lambda row: row.state,
        "pass": lambda row: row.pass_rate,
        "total": lambda row: row.rubric_total,
        "recommendation": lambda row: row.recommendation_score,
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


def first_direction(sort: str) -> str:
    """The order a column starts in when clicked: names A to Z, figures best first."""
    return "asc" if sort in _ASCENDING_FIRST else "desc"


@dataclass(frozen=True)
class ComparisonQuery:
    """The page's filters and order, as its links (and its CSV link) carry them in the query string."""

    sort: str = DEFAULT_SORT
    direction: str = "desc"
    state: str = ""
    min_pass: int | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str], *, modes: list[str]) -> ComparisonQuery:
        """Lenient on purpose: a value the page never writes falls back to the default instead of failing."""
        sort = params.get("sort", "")
        sort = sort if sort in comparison_sort_keys(modes) else DEFAULT_SORT
        direction = params.get("dir", "")
        state = params.get("state", "")
        try:
            min_pass: int | None = max(0, min(100, int(params.get("min_pass", ""))))
        except ValueError:
            min_pass = None
        return cls(
            sort=sort,
            direction=direction if direction in SORT_DIRS else first_direction(sort),
            state=state if state in STATE_LABELS else "",
            min_pass=min_pass,
        )

    @property
    def filters(self) -> dict[str, str | int]:
        return {k: v for k, v in (("state", self.state), ("min_pass", self.min_pass)) if v not in ("", None)}

    @property
    def params(self) -> dict[str, str | int]:
        """Filters and order: what a link to the same view of the comparison (or its CSV) must carry."""
        return self.filters | {"sort": self.sort, "dir": self.direction}


def comparison_rows(
    rows: list[CandidateRow],
    modes: list[str],
    *,
    sort: str = DEFAULT_SORT,
    direction: str | None = None,
    state: str = "",
    min_pass: int | None = None,
) -> list[CandidateRow]:
    """Filter by state and minimum overall pass rate (percent), then order.

    Ties on the chosen column go to the higher rubric total, then the higher probe rate, then the
    name; empty values come last whichever the direction; and candidates with nothing to compare
    (never submitted, or not graded yet) come after everyone else, whatever the order.
    """
    if state:
        rows = [row for row in rows if row.state == state]
    if min_pass is not None:
        # Rounded: a probe score is a sum of fractions, and 0.29 * 100 is 28.999999999999996.
        rows = [row for row in rows if row.pass_rate is not None and round(row.pass_rate * 100, 6) >= min_pass]
    keys = comparison_sort_keys(modes)
    if sort not in keys:
        sort, direction = DEFAULT_SORT, None
    # Least significant first: each pass is stable, so it keeps the previous order among its ties.
    ordered = sorted(rows, key=lambda row: row.name.lower())
    ordered = _ordered(ordered, keys["pass"], descending=True)
    ordered = _ordered(ordered, keys["total"], descending=True)
    ordered = _ordered(ordered, keys[sort], descending=(direction or first_direction(sort)) == "desc")
    return [row for row in ordered if row.has_results] + [row for row in ordered if not row.has_results]


def _ordered(rows: list[CandidateRow], key: SortKey, *, descending: bool) -> list[CandidateRow]:
    """Sorted by ``key`` (stable either way: ``reverse`` keeps ties in place), empty values last."""
    present = [(value, row) for row in rows if (value := key(row)) is not None]
    present.sort(key=lambda pair: pair[0], reverse=descending)
    return [row for _value, row in present] + [row for row in rows if key(row) is None]


@dataclass
class Comparison:
    """Everything the comparison page and its CSV show: the same rows, for the same query."""

    query: ComparisonQuery
    rows: list[CandidateRow]
    n_all: int
    modes: list[str]
    failure_modes: FailureModes
    reference: ReferenceRow | None
    criteria: list[Criterion]
    rubric_max: int
    versions: list[tuple[str, int]]
    identical: dict[int, list[IdenticalUpload]]  # by invitation id: other candidates' uploads with the same bytes

    @property
    def n_without_results(self) -> int:
        return sum(not row.has_results for row in self.rows)


def assessment_comparison(*, assessment: Assessment, params: Mapping[str, str]) -> Comparison:
    """The comparison as ``params`` (a query string: state, min_pass, sort, dir) asks for it."""
    criteria = list(assessment.rubric.criteria.all())
    rows = candidate_rows(assessment=assessment, criteria=criteria)
    reference = reference_row(assessment=assessment)
    failure_modes = report_failure_modes(assessment=assessment, rows=rows)
    modes = report_modes(criteria, rows, reference, failure_modes=failure_modes)
    query = ComparisonQuery.from_params(params, modes=modes)
    shown = comparison_rows(
        rows, modes, sort=query.sort, direction=query.direction, state=query.state, min_pass=query.min_pass
    )
    return Comparison(
        query=query,
        rows=shown,
        n_all=len(rows),
        modes=modes,
        failure_modes=failure_modes,
        reference=reference,
        criteria=criteria,
        rubric_max=rubric_max(criteria),
        versions=graded_versions(rows),
        identical=identical_uploads(assessment=assessment),
    )
