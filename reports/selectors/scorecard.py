"""One candidate's scorecard: probes beside the reference, every reviewer's levels, their agreement, the history."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from assessments.models import GradingRun
from assessments.selectors import FailureModes, exercise_failure_modes, run_failure_modes
from candidates.models import Invitation, Submission
from reports.models import WebhookDelivery
from reports.selectors.rows import ModeCell, ReferenceRow, reference_row, rubric_figures, rubric_max
from rubrics.agreement import reviewers_agreement
from rubrics.models import Criterion, CriterionScore, Review
from rubrics.selectors import criterion_mode_titles


@dataclass
class ReviewerColumn:
    review: Review
    scores: dict[int, CriterionScore]  # by criterion id


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
    criterion_means: dict[int, float | None]
    rubric_total: float | None
    rubric_max: int
    agreement: dict[str, Any]
    deliveries: list[WebhookDelivery]
    reference: ReferenceRow | None

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
    def probe_rate(self) -> float | None:
        return self.probe_passed / self.probe_judged if self.probe_judged else None

    @property
    def time_spent(self) -> timedelta | None:
        if self.invitation.started_at is None or not self.submissions:
            return None
        return self.submissions[0].created_at - self.invitation.started_at


def invitation_scorecard(*, invitation: Invitation) -> Scorecard:
    assessment = invitation.assessment
    criteria = list(assessment.rubric.criteria.all())
    submissions = list(invitation.submissions.order_by("-number").prefetch_related("grading_runs"))
    latest = submissions[0] if submissions else None
    current_run = None
    if latest is not None:
        done = [run for run in latest.grading_runs.all() if run.state == GradingRun.DONE]
        done.sort(key=lambda run: (run.finished_at or run.queued_at, run.pk), reverse=True)
        current_run = done[0] if done else None
    reference = reference_row(assessment=assessment)
    modes = exercise_failure_modes(assessment.exercise)
    if current_run is not None:
        modes = run_failure_modes(current_run)
    probe_groups = _probe_groups(current_run, reference, modes)
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
    sums: dict[int, tuple[int, int]] = {}
    for column in reviews:
        for criterion_id, score in column.scores.items():
            if score.level is not None:
                total, n = sums.get(criterion_id, (0, 0))
                sums[criterion_id] = (total + score.level, n + 1)
    _modes, rubric_total = rubric_figures(criteria, sums)
    return Scorecard(
        invitation=invitation,
        submissions=submissions,
        current_run=current_run,
        probe_groups=probe_groups,
        criteria=criteria,
        criterion_modes=criterion_mode_titles(criteria=criteria, modes=modes),
        reviewers=reviews,
        pending_reviews=pending,
        criterion_means={c.pk: (sums[c.pk][0] / sums[c.pk][1] if c.pk in sums else None) for c in criteria},
        rubric_total=rubric_total,
        rubric_max=rubric_max(criteria),
        agreement=_agreement(criteria, reviews),
        deliveries=list(invitation.webhook_deliveries.select_related("endpoint").order_by("-created_at", "-pk")),
        reference=reference,
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
        group["cell"].add(result.outcome)
    ordered = [groups[mode.slug] for mode in modes.ordered(groups)]
    for group in ordered:
        group["reference"] = reference.modes.get(group["mode"]) if reference else None
    return ordered


def _agreement(criteria: Sequence[Criterion], reviews: list[ReviewerColumn]) -> dict[str, Any]:
    """Agreement between this candidate's reviewers over the rubric's criteria (the units)."""
    data = [[column.scores[c.pk].level if c.pk in column.scores else None for c in criteria] for column in reviews]
    agreement = reviewers_agreement(data)
    return {
        "reviewers": agreement.reviewers,
        "units": agreement.units,
        "exact": agreement.exact,
        "within_one": agreement.within_one,
        "alpha": agreement.alpha,
        "disagreements": [criteria[i] for i in agreement.disagreeing],
    }
