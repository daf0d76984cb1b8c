"""A trial regrade's preview: what making it live would change, per candidate and for the cohort.

Old is each latest upload's live result (for a trial made live: the result it replaced); new is
the trial's run of the same upload. Everything
is read in a fixed number of queries (no evidence is loaded), so a cohort of hundreds previews in
well under a second. Rates leave infrastructure errors out, as every report does, and are probe
scores: a graded probe counts its score, so a score that moves is a change even when its outcome stays.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from assessments.models import Assessment, GradingRun, OutcomeCounts, ProbeResult, Regrade
from assessments.selectors import FailureModes, exercise_failure_modes
from candidates.selectors import cohort_latest_submissions
from rubrics.evidence import suggestions_for
from rubrics.models import CriterionScore, Review
from rubrics.selectors import Resolution, resolutions

UP, DOWN = "up", "down"


class _Result(NamedTuple):
    """A probe result as the suggestion rules read it (failure mode, outcome, score), without its evidence."""

    probe_id: str
    failure_mode: str
    outcome: str
    reason: str
    score: float | None


@dataclass
class ProbeChange:
    probe_id: str
    failure_mode: str
    old_outcome: str  # "" when the probe is not in the old version
    old_reason: str
    new_outcome: str  # "" when the probe is not in the new version
    new_reason: str
    old_score: float | None = None  # a graded probe's
    new_score: float | None = None

    @property
    def old_label(self) -> str:
        return _outcome_label(self.old_outcome, self.old_score)

    @property
    def new_label(self) -> str:
        return _outcome_label(self.new_outcome, self.new_score)


def _outcome_label(outcome: str, score: float | None) -> str:
    """The outcome ("fail"), a graded probe's with its score ("fail 81%"); "" when the probe is absent."""
    return outcome if score is None or not outcome else f"{outcome} {score:.0%}"


@dataclass
class ModeDelta:
    slug: str
    title: str
    old: OutcomeCounts
    new: OutcomeCounts

    @property
    def changed(self) -> bool:
        old, new = self.old, self.new
        return (old.passed, old.judged, round(old.points, 6)) != (new.passed, new.judged, round(new.points, 6))


@dataclass
class CriterionChange:
    title: str
    old_level: int | None
    new_level: int | None
    submitted_levels: list[int]  # what submitted reviews gave it; they stay as they are
    resolution: Resolution | None = None  # a manager's final level, which stays too


@dataclass
class PreviewRow:
    invitation_id: int
    name: str
    email: str
    erased: bool
    trial_state: str  # the trial run's state ("" when the trial has none for this upload)
    old: OutcomeCounts | None
    new: OutcomeCounts | None
    modes: list[ModeDelta] = field(default_factory=list)
    changes: list[ProbeChange] = field(default_factory=list)
    criteria: list[CriterionChange] = field(default_factory=list)
    old_rank: int | None = None
    new_rank: int | None = None
    crosses: str = ""  # UP or DOWN: passes the hiring bar on one side only

    @property
    def old_rate(self) -> float | None:
        return self.old.rate if self.old else None

    @property
    def new_rate(self) -> float | None:
        return self.new.rate if self.new else None

    @property
    def rank_moved(self) -> int | None:
        """Places gained (positive) or lost (negative); None when either rank is unknown."""
        if self.old_rank is None or self.new_rank is None:
            return None
        return self.old_rank - self.new_rank

    @property
    def is_changed(self) -> bool:
        return bool(self.changes) or bool(self.rank_moved) or bool(self.crosses) or bool(self.criteria)


@dataclass
class Preview:
    regrade: Regrade
    rows: list[PreviewRow]
    modes: FailureModes
    bar: int | None
    complete: bool

    @property
    def changed_rows(self) -> list[PreviewRow]:
        return [r for r in self.rows if r.is_changed]

    @property
    def probes_changed(self) -> int:
        return sum(len(r.changes) for r in self.rows)

    @property
    def rank_changes(self) -> int:
        return sum(1 for r in self.rows if r.rank_moved)

    @property
    def crossing_up(self) -> list[PreviewRow]:
        return [r for r in self.rows if r.crosses == UP]

    @property
    def crossing_down(self) -> list[PreviewRow]:
        return [r for r in self.rows if r.crosses == DOWN]

    @property
    def suggestion_changes(self) -> int:
        return sum(len(r.criteria) for r in self.rows)


def _ranks(rates: dict[int, float]) -> dict[int, int]:
    """Competition ranks (1, 2, 2, 4) by rate, highest first."""
    ordered = sorted(rates.values(), reverse=True)
    return {key: 1 + ordered.index(rate) for key, rate in rates.items()}


def _counts(results: list[_Result]) -> OutcomeCounts:
    counts = OutcomeCounts()
    for result in results:
        counts.add(result.outcome, result.score)
    return counts


def _mode_counts(results: list[_Result], mode: str) -> OutcomeCounts:
    return _counts([r for r in results if r.failure_mode == mode])


def _probe_changes(old: list[_Result], new: list[_Result]) -> list[ProbeChange]:
    before = {r.probe_id: r for r in old}
    after = {r.probe_id: r for r in new}
    changes = []
    for probe_id in sorted(before.keys() | after.keys()):
        a, b = before.get(probe_id), after.get(probe_id)
        if a is not None and b is not None and (a.outcome, a.score) == (b.outcome, b.score):
            continue
        changes.append(
            ProbeChange(
                probe_id=probe_id,
                failure_mode=(b or a).failure_mode,  # type: ignore[union-attr]  # one of them is there
                old_outcome=a.outcome if a else "",
                old_reason=a.reason if a else "",
                new_outcome=b.outcome if b else "",
                new_reason=b.reason if b else "",
                old_score=a.score if a else None,
                new_score=b.score if b else None,
            )
        )
    return changes


def _passes(counts: OutcomeCounts | None, bar: int | None) -> bool | None:
    if bar is None or counts is None or counts.rate is None:
        return None
    return round(counts.rate * 100, 6) >= bar  # rounded: points of graded probes are sums of fractions


def regrade_preview(*, regrade: Regrade) -> Preview:
    assessment: Assessment = regrade.assessment
    latest = list(cohort_latest_submissions(assessment=assessment).select_related("invitation__candidate"))
    ids = [s.pk for s in latest]
    if regrade.state == Regrade.LIVE:
        # Made live: "old" is what it replaced, kept as history, not the live results it now is.
        old_runs = GradingRun.objects.filter(
            submission_id__in=ids, state=GradingRun.DONE, live=False, finished_at__lte=regrade.decided_at
        ).exclude(trial=regrade)
    else:
        old_runs = GradingRun.objects.filter(submission_id__in=ids, state=GradingRun.DONE, live=True)
    live_runs: dict[int, int] = {}
    for run_id, submission_id in old_runs.order_by("finished_at", "pk").values_list("pk", "submission_id"):
        live_runs[submission_id] = run_id  # the newest finished wins
    trial_runs = {
        submission_id: (run_id, state)
        for run_id, submission_id, state in GradingRun.objects.filter(trial=regrade, submission_id__in=ids).values_list(
            "pk", "submission_id", "state"
        )
    }
    wanted = set(live_runs.values()) | {run_id for run_id, state in trial_runs.values() if state == GradingRun.DONE}
    results: dict[int, list[_Result]] = defaultdict(list)
    for run_id, probe_id, mode, outcome, reason, score in (
        ProbeResult.objects.filter(run_id__in=wanted)
        .order_by("probe_id")
        .values_list("run_id", "probe_id", "failure_mode", "outcome", "reason", "score")
    ):
        results[run_id].append(_Result(probe_id, mode, outcome, reason, score))
    criteria = list(assessment.rubric.criteria.all())
    submitted: dict[tuple[int, int], list[int]] = defaultdict(list)
    for submission_id, criterion_id, level in CriterionScore.objects.filter(
        review__submission_id__in=ids, review__state=Review.SUBMITTED, level__isnull=False
    ).values_list("review__submission_id", "criterion_id", "level"):
        if level is not None:
            submitted[(submission_id, criterion_id)].append(level)
    resolved = resolutions(submission_ids=ids)
    modes = exercise_failure_modes(regrade.exercise).merged(exercise_failure_modes(regrade.from_exercise))

    rows = []
    for submission in latest:
        candidate = submission.invitation.candidate
        old_results = results.get(live_runs.get(submission.pk, -1), [])
        trial_run_id, trial_state = trial_runs.get(submission.pk, (-1, ""))
        new_results = results.get(trial_run_id, []) if trial_state == GradingRun.DONE else []
        has_old, has_new = submission.pk in live_runs, trial_state == GradingRun.DONE
        row = PreviewRow(
            invitation_id=submission.invitation_id,
            name=candidate.name,
            email=candidate.email,
            erased=candidate.erased_at is not None,
            trial_state=trial_state,
            old=_counts(old_results) if has_old else None,
            new=_counts(new_results) if has_new else None,
        )
        if has_new:
            slugs = modes.ordered({r.failure_mode for r in old_results + new_results})
            row.modes = [
                ModeDelta(m.slug, m.title, _mode_counts(old_results, m.slug), _mode_counts(new_results, m.slug))
                for m in slugs
            ]
            row.changes = _probe_changes(old_results, new_results) if has_old else []
            before = suggestions_for(criteria, old_results) if has_old else {}
            after = suggestions_for(criteria, new_results)
            for criterion in criteria:
                a, b = before.get(criterion.pk), after.get(criterion.pk)
                old_level, new_level = (a.level if a else None), (b.level if b else None)
                if has_old and old_level != new_level:
                    row.criteria.append(
                        CriterionChange(
                            criterion.title,
                            old_level,
                            new_level,
                            sorted(submitted.get((submission.pk, criterion.pk), [])),
                            resolved.get((submission.pk, criterion.pk)),
                        )
                    )
        rows.append(row)

    complete = all(r.new is not None for r in rows) and bool(rows)
    old_ranks = _ranks({i: r.old_rate for i, r in enumerate(rows) if r.old_rate is not None})
    new_ranks = _ranks({i: r.new_rate for i, r in enumerate(rows) if r.new_rate is not None}) if complete else {}
    bar = assessment.hiring_bar
    for i, row in enumerate(rows):
        row.old_rank, row.new_rank = old_ranks.get(i), new_ranks.get(i)
        was_over, is_over = _passes(row.old, bar), _passes(row.new, bar)
        if was_over is not None and is_over is not None and was_over != is_over:
            row.crosses = UP if is_over else DOWN
    rows.sort(key=lambda r: (r.new_rank or r.old_rank or len(rows) + 1, r.name.lower()))
    return Preview(regrade=regrade, rows=rows, modes=modes, bar=bar, complete=complete)
