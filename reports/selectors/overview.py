"""The overview page: the funnel, completion and time spent, rubric totals, and each failure mode's pass rate.

A mode's pass rate is its probe score (points over judged results: graded probes count their score).
"""

import statistics
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from assessments.models import Assessment, GradingRun
from candidates.models import Invitation
from reports.selectors.rows import (
    CandidateRow,
    candidate_rows,
    graded_versions,
    report_failure_modes,
    report_modes,
    rubric_max,
)

FUNNEL_STAGES = [
    (Invitation.INVITED, "Invited", "every invitation"),
    (Invitation.STARTED, "Started", "pressed Start"),
    (Invitation.SUBMITTED, "Submitted", "uploaded at least once"),
    (Invitation.GRADED, "Graded", "latest upload checked"),
    (Invitation.REVIEWED, "Reviewed", "all reviews in"),
    (Invitation.DECIDED, "Decided", "decision recorded"),
]


def _reached(row: CandidateRow) -> dict[str, bool]:
    return {
        Invitation.INVITED: True,
        Invitation.STARTED: row.started_at is not None,
        Invitation.SUBMITTED: row.n_submissions > 0,
        Invitation.GRADED: row.graded,
        Invitation.REVIEWED: row.state in (Invitation.REVIEWED, Invitation.DECIDED),
        Invitation.DECIDED: row.state == Invitation.DECIDED,
    }


@dataclass
class ModeSummary:
    mode: str
    label: str
    description: str = ""
    passed: int = 0
    failed: int = 0
    errors: int = 0
    points: float = 0.0
    handled: int = 0
    partly: int = 0
    missed: int = 0
    rubric_levels: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        judged = self.passed + self.failed
        return self.points / judged if judged else None

    @property
    def candidates(self) -> int:
        return self.handled + self.partly + self.missed

    @property
    def discriminates(self) -> bool:
        """A mode everyone handles, or everyone misses, tells candidates apart not at all."""
        return self.candidates >= 2 and self.handled < self.candidates and self.missed < self.candidates

    @property
    def rubric_mean(self) -> float | None:
        return statistics.fmean(self.rubric_levels) if self.rubric_levels else None


@dataclass
class Overview:
    funnel: list[dict[str, Any]]
    completion_rate: float | None
    median_time_spent: timedelta | None
    n_timed: int
    totals: list[float]
    rubric_max: int
    modes: list[ModeSummary]
    infra_errors: int
    infra_candidates: int
    failed_infra_runs: int
    n_graded: int
    versions: list[tuple[str, int]] = field(default_factory=list)


def assessment_overview(*, assessment: Assessment) -> Overview:
    criteria = list(assessment.rubric.criteria.all())
    rows = candidate_rows(assessment=assessment, criteria=criteria)
    reached = [_reached(row) for row in rows]
    funnel: list[dict[str, Any]] = []
    previous: int | None = None
    invited = len(rows)
    for state, label, meaning in FUNNEL_STAGES:
        count = sum(r[state] for r in reached)
        funnel.append(
            {
                "state": state,
                "label": label,
                "meaning": meaning,
                "count": count,
                "of_invited": count / invited if invited else None,
                "conversion": (count / previous if previous else None) if previous is not None else None,
            }
        )
        previous = count
    started = funnel[1]["count"]
    submitted = funnel[2]["count"]
    spent = [row.time_spent for row in rows if row.time_spent is not None]
    failure_modes = report_failure_modes(assessment=assessment, rows=rows)
    modes = [
        ModeSummary(mode=m, label=failure_modes.title(m), description=failure_modes.get(m).description)
        for m in report_modes(criteria, rows, failure_modes=failure_modes)
    ]
    for summary in modes:
        for row in rows:
            cell = row.cell(summary.mode)
            summary.passed += cell.passed
            summary.failed += cell.failed
            summary.errors += cell.errors
            summary.points += cell.points
            if cell.judged:
                # By points: a graded probe short of full marks leaves the mode partly handled.
                if cell.points >= cell.judged:
                    summary.handled += 1
                elif cell.points <= 0:
                    summary.missed += 1
                else:
                    summary.partly += 1
            if cell.rubric is not None:
                summary.rubric_levels.append(cell.rubric)
    failed_infra = GradingRun.objects.filter(
        submission__invitation__assessment=assessment, state=GradingRun.FAILED_INFRA, live=True
    ).count()
    return Overview(
        funnel=funnel,
        completion_rate=submitted / started if started else None,
        median_time_spent=_median(spent) if spent else None,
        n_timed=len(spent),
        totals=[row.rubric_total for row in rows if row.rubric_total is not None],
        rubric_max=rubric_max(criteria),
        modes=modes,
        infra_errors=sum(row.errors for row in rows),
        infra_candidates=sum(1 for row in rows if row.errors),
        failed_infra_runs=failed_infra,
        n_graded=sum(1 for row in rows if row.graded),
        versions=graded_versions(rows),
    )


def _median(spans: list[timedelta]) -> timedelta:
    """What statistics.median computes (the middle one, or the mean of the middle two), whose
    annotations admit only numbers, not timedeltas."""
    ordered = sorted(spans)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
