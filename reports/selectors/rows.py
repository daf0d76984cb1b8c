"""One row per candidate, and the reference solution's row: the figures every report page is built from.

Per candidate the figures come from the latest submission's latest finished grading run; probe
pass rates leave out ``error`` outcomes (the infrastructure's fault, never the candidate's), which
are counted apart. A rate is points over judged results: a pass is 1 point, a fail 0, a graded
probe its score, so graded probes are averaged as the fractions they are. A criterion's level is
the one a manager resolved a disagreement at, else the mean of the submitted reviewers' levels
(rubrics.selectors.criterion_levels, for every report alike); a rubric level per failure mode is
the mean level of the criteria that list that mode, and the rubric total is the weighted sum of
the criteria's levels. Every report costs a fixed
number of queries, whatever the number of candidates: a few aggregates grouped by candidate, then
arithmetic in Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import Case, Count, F, FloatField, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce

from assessments.models import Assessment, GradingRun, OutcomeCounts, ProbeResult
from assessments.selectors import FailureModes, assessment_failure_modes
from candidates.models import Decision, Invitation, Submission
from reports.models import ReferenceRun
from rubrics.models import LEVELS, Criterion, Review
from rubrics.selectors import CriterionLevel, criterion_levels, recommendation_counts

STATE_LABELS = dict(Invitation.STATES)
DECISION_LABELS = dict(Decision.OUTCOMES)
MAX_LEVEL = max(LEVELS)


@dataclass
class ModeCell(OutcomeCounts):
    rubric: float | None = None


class _ModeTotals:
    """Totals over the per-failure-mode cells, shared by candidate and reference rows."""

    modes: dict[str, ModeCell]

    @property
    def passed(self) -> int:
        return sum(c.passed for c in self.modes.values())

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.modes.values())

    @property
    def errors(self) -> int:
        return sum(c.errors for c in self.modes.values())

    @property
    def points(self) -> float:
        return sum(c.points for c in self.modes.values())

    @property
    def scored(self) -> int:
        return sum(c.scored for c in self.modes.values())

    @property
    def points_text(self) -> str:
        return f"{round(self.points, 3):g}"

    @property
    def pass_rate(self) -> float | None:
        """The probe score: points over judged results (errors left out)."""
        judged = self.passed + self.failed
        return self.points / judged if judged else None

    def cell(self, mode: str) -> ModeCell:
        """The figures of one failure mode; an empty cell for a mode this row never met."""
        return self.modes.get(mode) or ModeCell()

    def cells(self, modes: list[str]) -> list[ModeCell]:
        return [self.cell(m) for m in modes]


@dataclass
class CandidateRow(_ModeTotals):
    """One candidate in the reports: plain values, so 2,000 of them cost little to build and sort."""

    pk: int
    name: str
    email: str
    erased: bool
    pseudonym: str
    state: str
    started_at: datetime | None
    decision: str
    modes: dict[str, ModeCell]
    rubric_total: float | None
    graded: bool
    last_upload_at: datetime | None = None
    n_submissions: int = 0
    exercise_version: str = ""
    levels: dict[int, CriterionLevel] = field(default_factory=dict)  # by criterion id, of the latest upload
    # Submitted reviews of the latest upload per recommendation ("" for a review submitted without one).
    recommendations: dict[str, int] = field(default_factory=dict)

    @property
    def recommendation_tally(self) -> list[tuple[str, str, int]]:
        """(value, label, count) per recommendation given, strong yes first; zeros left out."""
        return [(v, label, n) for v, label in Review.RECOMMENDATIONS if (n := self.recommendations.get(v, 0))]

    @property
    def recommendations_given(self) -> int:
        return sum(n for v, n in self.recommendations.items() if v)

    @property
    def without_recommendation(self) -> int:
        return self.recommendations.get("", 0)

    @property
    def recommendation_score(self) -> float | None:
        """The mean recommendation, strong yes +2, yes +1, no -1, strong no -2; None when none was given."""
        given = {v: n for v, n in self.recommendations.items() if v in Review.RECOMMENDATION_VALUES}
        total = sum(given.values())
        return sum(Review.RECOMMENDATION_VALUES[v] * n for v, n in given.items()) / total if total else None

    @property
    def resolved_by(self) -> list[str]:
        """Who resolved a disagreement behind these figures: the rubric total is theirs in part."""
        return sorted({lv.resolved_by for lv in self.levels.values() if lv.resolution is not None})

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    @property
    def decision_label(self) -> str:
        return DECISION_LABELS.get(self.decision, "")

    @property
    def has_results(self) -> bool:
        """Graded or scored: something to compare. The rest never submitted, or wait for their grading."""
        return self.graded or self.rubric_total is not None

    @property
    def time_spent(self) -> timedelta | None:
        if self.started_at is None or self.last_upload_at is None:
            return None
        return self.last_upload_at - self.started_at


def _invitations_with_current(assessment: Assessment) -> QuerySet[Invitation]:
    """Invitations annotated with the latest submission and that submission's latest finished run."""
    latest = Submission.objects.filter(invitation=OuterRef("pk")).order_by("-number")
    latest_done = GradingRun.objects.filter(
        submission=OuterRef("latest_submission"), state=GradingRun.DONE, live=True
    ).order_by("-finished_at", "-pk")
    n_subs = (
        Submission.objects.filter(invitation=OuterRef("pk"))
        .order_by()
        .values("invitation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Invitation.objects.filter(assessment=assessment)
        .annotate(latest_submission=Subquery(latest.values("pk")[:1]))
        .annotate(
            current_run=Subquery(latest_done.values("pk")[:1]),
            last_upload_at=Subquery(latest.values("created_at")[:1]),
            n_submissions=Subquery(n_subs),
        )
    )


_INVITATION_FIELDS = (
    "pk", "candidate__name", "candidate__email", "candidate__erased_at", "pseudonym", "state", "started_at",
    "decision__outcome", "latest_submission", "current_run", "last_upload_at", "n_submissions",
)  # fmt: skip


_JUDGED = Q(outcome__in=[ProbeResult.PASS, ProbeResult.FAIL])
# One judged result's points in SQL, as outcome_points counts them: its score, else 1 for a pass, 0 for a fail.
_POINTS = Coalesce(
    F("score"),
    Case(When(outcome=ProbeResult.PASS, then=Value(1.0)), default=Value(0.0), output_field=FloatField()),
    output_field=FloatField(),
)


def _probe_counts(assessment: Assessment) -> tuple[dict[int, dict[str, ModeCell]], dict[int, str]]:
    """(run id → failure mode → counts, run id → exercise version), for every finished run of the
    assessment, from one grouped scan (the run is joined for its state anyway)."""
    rows = (
        ProbeResult.objects.filter(
            run__submission__invitation__assessment=assessment, run__state=GradingRun.DONE, run__live=True
        )
        .values_list("run_id", "failure_mode", "run__exercise__version")
        .annotate(
            passed=Count("pk", filter=Q(outcome=ProbeResult.PASS)),
            failed=Count("pk", filter=Q(outcome=ProbeResult.FAIL)),
            errors=Count("pk", filter=Q(outcome=ProbeResult.ERROR)),
            points=Sum(_POINTS, filter=_JUDGED, output_field=FloatField()),
            scored=Count("pk", filter=_JUDGED & Q(score__isnull=False)),
        )
        .order_by()
    )
    counts: dict[int, dict[str, ModeCell]] = {}
    versions: dict[int, str] = {}
    for run_id, mode, version, passed, failed, errors, points, scored in _plain_rows(rows):
        counts.setdefault(run_id, {})[mode] = ModeCell(
            passed=passed, failed=failed, errors=errors, points=float(points or 0), scored=scored
        )
        versions[run_id] = version
    return counts, versions


@dataclass
class _RubricShape:
    """The rubric's criteria boiled down once: weights, and which criteria speak for each failure mode."""

    weights: dict[int, int]
    by_mode: dict[str, list[int]]

    @classmethod
    def of(cls, criteria: Iterable[Criterion]) -> _RubricShape:
        return cls(
            weights={c.pk: c.weight for c in criteria},
            by_mode={m: [c.pk for c in criteria if m in (c.failure_modes or [])] for m in _criteria_modes(criteria)},
        )


def _criteria_modes(criteria: Iterable[Criterion]) -> list[str]:
    return list(dict.fromkeys(m for c in criteria for m in (c.failure_modes or [])))


def rubric_figures(
    criteria: Iterable[Criterion], levels: dict[int, CriterionLevel], shape: _RubricShape | None = None
) -> tuple[dict[str, float | None], float | None]:
    """Per-failure-mode level and the weighted total, from one submission's level per criterion id.

    A criterion counts at its level (rubrics.selectors.criterion_levels: a resolved level, else the
    reviewers' mean); a mode's level is the mean over the criteria that list it and have a level.
    Returns ({mode: level or None}, total or None).
    """
    shape = shape or _RubricShape.of(criteria)
    counted = {pk: lv.level for pk, lv in levels.items() if lv.level is not None and pk in shape.weights}
    modes: dict[str, float | None] = {}
    for mode, pks in shape.by_mode.items():
        values = [counted[pk] for pk in pks if pk in counted]
        modes[mode] = sum(values) / len(values) if values else None
    rubric_total = sum(shape.weights[pk] * value for pk, value in counted.items()) if counted else None
    return modes, rubric_total


def _plain_rows(qs: QuerySet[Any, Any]) -> list[tuple[Any, ...]]:
    """Run a values_list() query and return the database's own tuples.

    Only for queries whose columns are numbers and short strings: it skips Django's per-value
    converters, which at 50,000 probe results cost more than the query itself.
    """
    sql, params = qs.query.sql_with_params()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


def candidate_rows(*, assessment: Assessment, criteria: list[Criterion] | None = None) -> list[CandidateRow]:
    """One row per invitation of the assessment, with its probe and rubric figures (4 queries + criteria).

    Probe and score aggregates are grouped per run and per submission across the whole assessment,
    then matched to each invitation's current run and latest submission here: one scan of each
    table, no per-candidate subquery inside the big aggregates.
    """
    criteria = list(assessment.rubric.criteria.all()) if criteria is None else criteria
    invitations = list(
        _invitations_with_current(assessment).order_by("candidate__name", "pk").values_list(*_INVITATION_FIELDS)
    )
    probes, versions = _probe_counts(assessment)
    levels = criterion_levels(assessment=assessment)
    recommendations = recommendation_counts(assessment=assessment)
    shape = _RubricShape.of(criteria)
    rows = []
    for (pk, name, email, erased_at, pseudonym, state, started_at, decision,
         latest_submission, current_run, last_upload_at, n_submissions) in invitations:  # fmt: skip
        probe_cells = probes.get(current_run, {}) if current_run else {}
        mine = levels.get(latest_submission, {})
        rubric_modes, rubric_total = rubric_figures(criteria, mine, shape)
        # A cell for every mode this candidate was probed on or a criterion scores; row.cell() has the rest.
        modes = {}
        for mode in dict.fromkeys([*probe_cells, *rubric_modes]):
            cell = probe_cells.get(mode) or ModeCell()
            cell.rubric = rubric_modes.get(mode)
            modes[mode] = cell
        rows.append(
            CandidateRow(
                pk=pk,
                name=name,
                email=email,
                erased=erased_at is not None,
                pseudonym=pseudonym,
                state=state,
                started_at=started_at,
                decision=decision or "",
                modes=modes,
                rubric_total=rubric_total,
                graded=current_run is not None,
                last_upload_at=last_upload_at,
                n_submissions=n_submissions or 0,
                exercise_version=versions.get(current_run, "") if current_run else "",
                levels=mine,
                recommendations=recommendations.get(latest_submission, {}),
            )
        )
    return rows


def graded_versions(rows: list[CandidateRow]) -> list[tuple[str, int]]:
    """(exercise version, candidates graded against it), oldest version first; more than one means
    pass rates compare candidates who met different probes."""
    counts: dict[str, int] = {}
    for row in rows:
        if row.exercise_version:
            counts[row.exercise_version] = counts.get(row.exercise_version, 0) + 1
    return sorted(counts.items(), key=lambda item: _version_key(item[0]))


def _version_key(version: str) -> list[tuple[int, int | str]]:
    """1.2.10 after 1.2.9; a part that is not a number ("0rc1") sorts after the numbers, never raises."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in version.split(".")]


def report_failure_modes(*, assessment: Assessment, rows: list[CandidateRow]) -> FailureModes:
    """The words and order of the failure modes across a cohort: the assessment's exercise version's,
    then those only the other versions its candidates were graded under declare."""
    return assessment_failure_modes(assessment=assessment, versions=[version for version, _n in graded_versions(rows)])


def report_modes(
    criteria: Iterable[Criterion],
    rows: list[CandidateRow],
    reference: ReferenceRow | None = None,
    *,
    failure_modes: FailureModes,
) -> list[str]:
    """The failure modes worth a column, in ``failure_modes``' order: probed for someone (or the
    reference), or named by a criterion."""
    used = {m for c in criteria for m in (c.failure_modes or [])}
    used |= {m for row in rows for m, cell in row.modes.items() if cell.judged or cell.errors}
    if reference:
        used |= {m for m, cell in reference.modes.items() if cell.judged or cell.errors}
    return [mode.slug for mode in failure_modes.ordered(used)]


def rubric_max(criteria: Iterable[Criterion]) -> int:
    return MAX_LEVEL * sum(c.weight for c in criteria)


# --- The reference solution ---------------------------------------------------------------------------


@dataclass
class ReferenceRow(_ModeTotals):
    run: ReferenceRun
    modes: dict[str, ModeCell]


def reference_row(*, assessment: Assessment) -> ReferenceRow | None:
    run = ReferenceRun.objects.filter(exercise_id=assessment.exercise_id).first()
    if run is None:
        return None
    modes: dict[str, ModeCell] = {}
    for result in run.results:
        modes.setdefault(result["failure_mode"], ModeCell()).add(result["outcome"], result.get("score"))
    return ReferenceRow(run=run, modes=modes)
