"""One candidate's scorecard: probes beside the reference, every reviewer's levels, their agreement, the history."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Prefetch, Q

from assessments.models import GradingRun, OutcomeCounts, ProbeResult, Regrade
from assessments.selectors import FailureModes, exercise_failure_modes, run_failure_modes
from candidates.models import Invitation, Submission
from reports.models import WebhookDelivery
from reports.selectors.identical import IdenticalUpload, identical_uploads
from reports.selectors.rows import ModeCell, ReferenceRow, reference_row, rubric_figures, rubric_max
from rubrics.agreement import reviewers_agreement
from rubrics.models import Criterion, CriterionScore, Disagreement, Review
from rubrics.selectors import CriterionLevel, criterion_levels, criterion_mode_titles, open_disagreements


@dataclass
class ReviewerColumn:
    review: Review
    scores: dict[int, CriterionScore]  # by criterion id


@dataclass(frozen=True)
class TallyItem:
    value: str  # a Review.RECOMMENDATIONS value
    label: str
    count: int


@dataclass(frozen=True)
class ModeBar:
    """One failure mode's rate as the summary draws it: whole percents, for the bar's SVG width."""

    label: str
    rate: float | None
    percent: int | None
    reference_percent: int | None

    @property
    def fill(self) -> str:
        """The colour of its heat class (reports.templatetags.report_format.heat), 0 to 4."""
        if self.rate is None:
            return "#eaeef2"
        return BAR_FILLS[4 if self.rate >= 1 else min(int(self.rate * 4), 3)]


# The bar colours as SVG presentation attributes: WeasyPrint does not style inline SVG from the page's
# stylesheet, and the CSP forbids style="" (the screen's stylesheet still sets the same colours).
BAR_FILLS = ("#e5534b", "#d4a72c", "#c9b037", "#4ac26b", "#1a7f37")


def _percent(rate: float | None) -> int | None:
    return None if rate is None else round(rate * 100)


@dataclass
class HistoryRun:
    """A finished check of the latest upload that a trial regrade made live replaced: kept to look back at."""

    run: GradingRun
    counts: OutcomeCounts


@dataclass
class Scorecard:
    invitation: Invitation
    submissions: list[Submission]
    current_run: GradingRun | None
    probe_groups: list[dict[str, Any]]
    criteria: list[Criterion]
    criterion_modes: dict[int, list[str]]  # criterion id -> titles of the failure modes it covers
    reviewers: list[ReviewerColumn]
    pending_reviews: int
    levels: dict[int, CriterionLevel]  # by criterion id: what each counts at (a resolved level, else the mean)
    open_disagreements: list[Disagreement]  # of the latest upload, in the rubric's order
    rubric_total: float | None
    rubric_max: int
    agreement: dict[str, Any]
    deliveries: list[WebhookDelivery]
    reference: ReferenceRow | None
    identical: list[IdenticalUpload] = field(default_factory=list)  # other candidates' uploads with our bytes
    history: list[HistoryRun] = field(default_factory=list)
    viewing: HistoryRun | None = None  # the history run shown instead of the live one

    @property
    def probe_passed(self) -> int:
        return sum(g["cell"].passed for g in self.probe_groups)

    @property
    def probe_judged(self) -> int:
        return sum(g["cell"].judged for g in self.probe_groups)

    @property
    def probe_errors(self) -> int:
        return sum(g["cell"].errors for g in self.probe_groups)

    @property
    def probe_points(self) -> float:
        return float(sum(g["cell"].points for g in self.probe_groups))

    @property
    def probe_points_text(self) -> str:
        return f"{round(self.probe_points, 3):g}"

    @property
    def probe_scored(self) -> int:
        """Judged results that were graded: when any, the summary shows points beside the passes."""
        return sum(g["cell"].scored for g in self.probe_groups)

    @property
    def probe_rate(self) -> float | None:
        """The probe score: points over judged results (a graded probe counts its score)."""
        return self.probe_points / self.probe_judged if self.probe_judged else None

    @property
    def recommendation_tally(self) -> list[TallyItem]:
        """How many submitted reviews gave each recommendation, strong yes first; zeros left out."""
        given = [column.review.recommendation for column in self.reviewers]
        return [
            TallyItem(value, label, given.count(value)) for value, label in Review.RECOMMENDATIONS if given.count(value)
        ]

    @property
    def without_recommendation(self) -> int:
        """Reviews submitted before reviewers gave recommendations: counted apart, never guessed."""
        return sum(1 for column in self.reviewers if not column.review.recommendation)

    @property
    def mode_bars(self) -> list[ModeBar]:
        return [
            ModeBar(
                label=g["label"],
                rate=g["cell"].rate,
                percent=_percent(g["cell"].rate),
                reference_percent=_percent(g["reference"].rate) if g.get("reference") else None,
            )
            for g in self.probe_groups
        ]

    @property
    def reference_percent(self) -> int | None:
        return _percent(self.reference.pass_rate) if self.reference else None

    @property
    def several_uploads(self) -> bool:
        """Whether a notice must say which of this candidate's uploads it means."""
        return len(self.submissions) > 1

    @property
    def resolved_by(self) -> list[str]:
        """Who resolved a disagreement on this upload: the rubric total is theirs in part."""
        return sorted({lv.resolved_by for lv in self.levels.values() if lv.resolution is not None})

    @property
    def time_spent(self) -> timedelta | None:
        if self.invitation.started_at is None or not self.submissions:
            return None
        return self.submissions[0].created_at - self.invitation.started_at


def _history(submission: Submission | None) -> list[HistoryRun]:
    if submission is None:
        return []
    runs = list(
        GradingRun.objects.filter(submission=submission, state=GradingRun.DONE, live=False)
        .filter(Q(trial__isnull=True) | Q(trial__state=Regrade.LIVE))
        .select_related("exercise")
        .order_by("-finished_at", "-pk")
    )
    counts: dict[int, OutcomeCounts] = {run.pk: OutcomeCounts() for run in runs}
    for run_id, outcome, score in ProbeResult.objects.filter(run_id__in=counts).values_list(
        "run_id", "outcome", "score"
    ):
        counts[run_id].add(outcome, score)
    return [HistoryRun(run=run, counts=counts[run.pk]) for run in runs]


def invitation_scorecard(*, invitation: Invitation, history_run_id: int | None = None) -> Scorecard:
    """The scorecard of the live results; ``history_run_id`` (one of ``history``) shows that older
    check's probes instead, for looking back at what a trial regrade replaced."""
    assessment = invitation.assessment
    criteria = list(assessment.rubric.criteria.all())
    runs = GradingRun.objects.filter(live=True).select_related("exercise").order_by("-queued_at", "-pk")
    submissions = list(
        invitation.submissions.order_by("-number").prefetch_related(Prefetch("grading_runs", queryset=runs))
    )
    latest = submissions[0] if submissions else None
    current_run = None
    if latest is not None:
        done = [run for run in latest.grading_runs.all() if run.state == GradingRun.DONE]
        done.sort(key=lambda run: (run.finished_at or run.queued_at, run.pk), reverse=True)
        current_run = done[0] if done else None
    reference = reference_row(assessment=assessment)
    history = _history(latest)
    viewing = next((h for h in history if h.run.pk == history_run_id), None)
    shown = viewing.run if viewing is not None else current_run
    modes = exercise_failure_modes(assessment.exercise)
    if shown is not None:
        modes = run_failure_modes(shown)
    probe_groups = _probe_groups(shown, reference if viewing is None else None, modes)
    reviews = []
    pending = 0
    if latest is not None:
        all_reviews = list(
            latest.reviews.select_related("reviewer").prefetch_related("scores").order_by("submitted_at", "pk")
        )
        reviews = [
            ReviewerColumn(review=r, scores={s.criterion_id: s for s in r.scores.all()})
            for r in all_reviews
            if r.state == Review.SUBMITTED
        ]
        pending = sum(1 for r in all_reviews if r.state in (Review.ASSIGNED, Review.IN_PROGRESS))
    levels = criterion_levels(submission_ids=[latest.pk]).get(latest.pk, {}) if latest is not None else {}
    _modes, rubric_total = rubric_figures(criteria, levels)
    return Scorecard(
        invitation=invitation,
        submissions=submissions,
        current_run=current_run,
        probe_groups=probe_groups,
        criteria=criteria,
        criterion_modes=criterion_mode_titles(criteria=criteria, modes=modes),
        reviewers=reviews,
        pending_reviews=pending,
        levels=levels,
        open_disagreements=open_disagreements(invitation=invitation),
        rubric_total=rubric_total,
        rubric_max=rubric_max(criteria),
        agreement=_agreement(criteria, reviews, levels),
        deliveries=list(invitation.webhook_deliveries.select_related("endpoint").order_by("-created_at", "-pk")),
        reference=reference,
        identical=identical_uploads(assessment=assessment, invitation=invitation).get(invitation.pk, []),
        history=history,
        viewing=viewing,
    )


def _probe_groups(run: GradingRun | None, reference: ReferenceRow | None, modes: FailureModes) -> list[dict[str, Any]]:
    """The run's results per failure mode, in the order and with the words of the run's exercise version."""
    if run is None:
        return []
    groups: dict[str, dict[str, Any]] = {}
    for result in run.results.order_by("probe_id"):
        if result.failure_mode not in groups:
            mode = modes.get(result.failure_mode)
            groups[mode.slug] = {
                "mode": mode.slug,
                "label": mode.title,
                "description": mode.description,
                "cell": ModeCell(),
                "results": [],
            }
        group = groups[result.failure_mode]
        group["results"].append(result)
        group["cell"].add(result.outcome, result.score)
    ordered = [groups[mode.slug] for mode in modes.ordered(groups)]
    for group in ordered:
        group["reference"] = reference.modes.get(group["mode"]) if reference else None
    return ordered


def _agreement(
    criteria: Sequence[Criterion], reviews: list[ReviewerColumn], levels: dict[int, CriterionLevel]
) -> dict[str, Any]:
    """Agreement between this candidate's reviewers over the rubric's criteria (the units).

    The figures are the reviewers' own, resolved or not; a disagreement a manager has resolved is
    listed apart from the open ones, which are the only ones still to act on.
    """
    data = [[column.scores[c.pk].level if c.pk in column.scores else None for c in criteria] for column in reviews]
    agreement = reviewers_agreement(data)
    return {
        "reviewers": agreement.reviewers,
        "units": agreement.units,
        "exact": agreement.exact,
        "within_one": agreement.within_one,
        "alpha": agreement.alpha,
        "disagreements": [criteria[i] for i in agreement.disagreeing if _open(criteria[i], levels)],
        "resolved": [(c, levels[c.pk]) for c in criteria if c.pk in levels and levels[c.pk].resolution is not None],
    }


def _open(criterion: Criterion, levels: dict[int, CriterionLevel]) -> bool:
    level = levels.get(criterion.pk)
    return level is None or level.resolution is None
