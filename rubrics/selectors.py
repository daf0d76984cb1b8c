from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import models
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.http import Http404

from assessments.models import Assessment, Exercise, GradingRun, ProbeResult
from assessments.packages import exercise_dir_for_display
from assessments.selectors import (
    FailureModes,
    assessments_owned_by,
    exercise_failure_modes,
    run_failure_modes,
)
from candidates.models import Invitation, Submission
from core.roles import REVIEWERS, is_manager
from rubrics.agreement import krippendorff_alpha, pair_agreement, pair_count, pairwise_agreement
from rubrics.call_templates import package_call_template, render_calls
from rubrics.evidence import ModeGroup, Suggestion, drawn_requests, group_by_failure_mode, suggestions_for
from rubrics.models import LEVELS, Criterion, CriterionScore, Disagreement, GoldStandard, Review

QUEUE_STATES = [
    (Review.ASSIGNED, "To do"),
    (Review.IN_PROGRESS, "In progress"),
    (Review.SUBMITTED, "Done"),
    (Review.WITHDRAWN, "Withdrawn"),
]


# --- The reviewer's queue ------------------------------------------------------------------------


def reviews_for_reviewer(
    *, reviewer: User, state: str | None = None, assessment_id: int | None = None
) -> QuerySet[Review]:
    qs = (
        Review.objects.filter(reviewer=reviewer)
        .select_related("submission__invitation__assessment")
        .order_by("assigned_at", "pk")
    )
    qs = qs.filter(state=state) if state else qs.exclude(state=Review.WITHDRAWN)
    if assessment_id:
        qs = qs.filter(submission__invitation__assessment_id=assessment_id)
    return qs


def review_counts(*, reviewer: User, assessment_id: int | None = None) -> dict[str, int]:
    qs = Review.objects.filter(reviewer=reviewer)
    if assessment_id:
        qs = qs.filter(submission__invitation__assessment_id=assessment_id)
    return qs.aggregate(**{state: Count("id", filter=Q(state=state)) for state, _ in Review.STATES})


def next_review(*, reviewer: User, after: Review) -> Review | None:
    """The reviewer's next open review in their queue's order, or None when the queue is empty."""
    return (
        reviews_for_reviewer(reviewer=reviewer)
        .filter(state__in=(Review.ASSIGNED, Review.IN_PROGRESS))
        .exclude(pk=after.pk)
        .first()
    )


def assessments_reviewed_by(*, reviewer: User) -> QuerySet[Assessment]:
    return Assessment.objects.filter(invitations__submissions__reviews__reviewer=reviewer).distinct().order_by("title")


# --- Access ----------------------------------------------------------------------------------------


def review_for_user(*, user: User, review_id: int) -> Review:
    """The review if it is assigned to ``user``, or belongs to an assessment this manager owns; else 404."""
    qs = Review.objects.select_related(
        "reviewer", "submission__invitation__assessment__rubric", "submission__invitation__assessment__exercise"
    )
    review = qs.filter(pk=review_id).first()
    if review is None:
        raise Http404
    if review.reviewer_id == user.pk:
        return review
    if is_manager(user) and (user.is_superuser or review.submission.invitation.assessment.owner_id == user.pk):
        return review
    raise Http404


def own_review(*, user: User, review_id: int) -> Review:
    """The review if it is assigned to ``user`` (only its reviewer scores it, not a manager); else 404."""
    review = review_for_user(user=user, review_id=review_id)
    if review.reviewer_id != user.pk:
        raise Http404
    return review


def _owned_or_404[M: models.Model](qs: QuerySet[M], *, user: User, pk: int, owner_path: str) -> M:
    """One row of ``qs`` whose assessment this manager owns (any, for a superuser), else 404."""
    if not user.is_superuser:
        qs = qs.filter(**{owner_path: user})
    row = qs.filter(pk=pk).first()
    if row is None:
        raise Http404
    return row


def assessments_for_manager(*, user: User) -> QuerySet[Assessment]:
    return assessments_owned_by(user, Assessment.objects.select_related("rubric").order_by("-created_at"))


def submission_for_manager(*, user: User, submission_id: int) -> Submission:
    qs = Submission.objects.select_related("invitation__assessment__rubric", "invitation__candidate")
    return _owned_or_404(qs, user=user, pk=submission_id, owner_path="invitation__assessment__owner")


def disagreement_for_manager(*, user: User, disagreement_id: int) -> Disagreement:
    qs = Disagreement.objects.select_related("submission__invitation__assessment", "criterion")
    return _owned_or_404(qs, user=user, pk=disagreement_id, owner_path="submission__invitation__assessment__owner")


# --- The review page -------------------------------------------------------------------------------


@dataclass
class CriterionRow:
    criterion: Criterion
    score: CriterionScore | None
    suggestion: Suggestion | None
    mode_titles: list[str] = field(default_factory=list)  # the failure modes it covers, as the exercise words them
    levels: list[dict[str, Any]] = field(default_factory=list)
    others: list[CriterionScore] = field(default_factory=list)
    gold: GoldStandard | None = None
    disagreement: Disagreement | None = None
    error: str = ""
    saved: bool = False
    missing_level: bool = False  # set only when the page shows why a submit was refused
    missing_note: bool = False

    @property
    def modes(self) -> list[tuple[str, str]]:
        """(slug, title) of the failure modes it covers: the review page links each to that mode's evidence."""
        return list(zip(self.criterion.failure_modes or [], self.mode_titles, strict=False))

    @property
    def deviation(self) -> int | None:
        if self.gold is None or self.score is None or self.score.level is None:
            return None
        return self.score.level - self.gold.expected_level


@dataclass(frozen=True)
class SubmitProblem:
    """One thing a review lacks before it can be submitted: a criterion's level or note, or the
    review's own recommendation or takeaways (``criterion`` is then None)."""

    criterion: Criterion | None
    missing: str  # "level", "note", "recommendation" or "takeaways"
    detail: str = ""

    @property
    def message(self) -> str:
        if self.missing == "recommendation":
            return "Choose a recommendation."
        if self.missing == "takeaways":
            return self.detail
        return "Choose a level." if self.missing == "level" else "Write a note: say why this level."


def _gaps(score: CriterionScore | None) -> tuple[bool, bool]:
    """(no level, no note) of one criterion's score: what submitting needs and it lacks."""
    return (score is None or score.level is None, score is None or not score.note.strip())


def takeaways_problem(review: Review) -> str:
    """What the review's takeaways lack to be submitted, in words; empty when they are fine."""
    points = review.takeaway_list
    if len(points) < Review.TAKEAWAYS_MIN:
        have = f" (you have {len(points)})" if points else ""
        return f"Write at least {Review.TAKEAWAYS_MIN} takeaways, one per line{have}."
    if len(points) > Review.TAKEAWAYS_MAX:
        return f"Keep it to {Review.TAKEAWAYS_MAX} takeaways (you have {len(points)}): the key points only."
    long = [i for i, point in enumerate(points, start=1) if len(point) > Review.TAKEAWAY_MAX_CHARS]
    if long:
        which = ", ".join(str(i) for i in long)
        return f"Shorten takeaway {which} to {Review.TAKEAWAY_MAX_CHARS} characters or fewer."
    return ""


def verdict_problems(review: Review) -> list[SubmitProblem]:
    """The review's overall recommendation and takeaways, as submitting needs them."""
    problems = [SubmitProblem(None, "recommendation")] if not review.recommendation else []
    takeaways = takeaways_problem(review)
    return problems + ([SubmitProblem(None, "takeaways", takeaways)] if takeaways else [])


def review_submit_problems(*, review: Review) -> list[SubmitProblem]:
    """Every missing level and note of the review, in the rubric's order, then its recommendation and
    takeaways: all of them at once."""
    scores = {s.criterion_id: s for s in review.scores.all()}
    problems = []
    for criterion in review.submission.invitation.assessment.rubric.criteria.all():
        no_level, no_note = _gaps(scores.get(criterion.pk))
        problems += [SubmitProblem(criterion, "level")] if no_level else []
        problems += [SubmitProblem(criterion, "note")] if no_note else []
    return problems + verdict_problems(review)


def other_verdicts(*, review: Review) -> list[Review]:
    """The other reviewers' submitted recommendations, shown only once this review is submitted: a
    reviewer never sees another's verdict before giving their own."""
    if review.state != Review.SUBMITTED:
        return []
    return list(
        Review.objects.filter(submission_id=review.submission_id, state=Review.SUBMITTED)
        .exclude(pk=review.pk)
        .select_related("reviewer")
        .order_by("submitted_at", "pk")
    )


def latest_done_run(*, submission: Submission) -> GradingRun | None:
    run = (
        GradingRun.objects.filter(submission=submission, state=GradingRun.DONE, live=True)
        .select_related("exercise")
        .order_by("-finished_at", "-pk")
        .prefetch_related(Prefetch("results", queryset=ProbeResult.objects.order_by("failure_mode", "probe_id")))
        .first()
    )
    if run is not None:
        # The caller's submission (its assessment and exercise loaded with it) is this run's: reading
        # the run's exercise version then costs no query.
        run.submission = submission
    return run


def criterion_rows(
    *,
    review: Review,
    results: Iterable[ProbeResult],
    only_criterion_id: int | None = None,
    mark_gaps: bool = False,
) -> list[CriterionRow]:
    """Everything the rubric form shows, one row per criterion, in a fixed number of queries; with
    ``mark_gaps``, each row says what it lacks to be submitted."""
    criteria = list(review.submission.invitation.assessment.rubric.criteria.all())
    if only_criterion_id is not None:
        criteria = [c for c in criteria if c.pk == only_criterion_id]
    scores = {s.criterion_id: s for s in review.scores.all()}
    suggestions = suggestions_for(criteria, results)
    mode_titles = criterion_mode_titles(
        criteria=criteria, modes=exercise_failure_modes(review.submission.invitation.assessment.exercise)
    )
    others: dict[int, list[CriterionScore]] = defaultdict(list)
    gold: dict[int, GoldStandard] = {}
    disagreements: dict[int, Disagreement] = {}
    # Other reviewers' scores and the calibration answers stay hidden until this review is locked.
    if review.state == Review.SUBMITTED:
        other_scores = (
            CriterionScore.objects.filter(review__submission_id=review.submission_id, review__state=Review.SUBMITTED)
            .exclude(review=review)
            .select_related("review__reviewer")
            .order_by("review__submitted_at")
        )
        for score in other_scores:
            others[score.criterion_id].append(score)
        gold = {g.criterion_id: g for g in GoldStandard.objects.filter(submission_id=review.submission_id)}
        disagreements = {d.criterion_id: d for d in Disagreement.objects.filter(submission_id=review.submission_id)}
    rows = []
    for criterion in criteria:
        levels = [{"level": n, "anchor": criterion.anchor(n)} for n in range(len(criterion.anchors))]
        rows.append(
            CriterionRow(
                criterion=criterion,
                score=scores.get(criterion.pk),
                suggestion=suggestions.get(criterion.pk),
                mode_titles=mode_titles[criterion.pk],
                levels=levels,
                others=others.get(criterion.pk, []),
                gold=gold.get(criterion.pk),
                disagreement=disagreements.get(criterion.pk),
            )
        )
        if mark_gaps:
            rows[-1].missing_level, rows[-1].missing_note = _gaps(scores.get(criterion.pk))
    return rows


def starter_dir_for(submission: Submission) -> tuple[Path | None, Exercise]:
    assessment_exercise = submission.invitation.assessment.exercise
    exercise = (
        Exercise.objects.filter(slug=assessment_exercise.slug, version=submission.exercise_version).first()
        or assessment_exercise
    )
    folder = exercise_dir_for_display(exercise)
    return (folder / "starter" if folder else None), exercise


# The timeline bars a review page's first load draws inline (about 250 bytes of SVG each, 60 at most
# per probe): failures past it stay open but fetch their evidence as they scroll into view, so that a
# run of floods cannot make the page heavy (#20, point 15).
INLINE_BARS = 120


def evidence_groups(
    *, run: GradingRun | None, results: Iterable[ProbeResult], open_probe: str | None = None
) -> list[ModeGroup]:
    """The run's results under its exercise version's failure modes, failures first in each; each call
    shown by the package's own ``templates/call.html`` when it has one, else by the generic view.

    Passes come as a summary line only (their calls and timelines are most of a page's weight), and so
    do the failures past ``INLINE_BARS``; except ``open_probe``, the one a reviewer without JavaScript
    asked to read.
    """
    if run is None:
        return []
    exercise = run.exercise
    modes = run_failure_modes(run)
    ordered = sorted(results, key=lambda r: (modes.sort_key(r.failure_mode), r.outcome == "pass"))
    inline, budget = set(), INLINE_BARS
    for result in ordered:
        if result.probe_id == open_probe:
            inline.add(result.pk)
        elif result.outcome != "pass" and budget > 0:
            budget -= drawn_requests(result.evidence)
            if budget >= 0:
                inline.add(result.pk)
    groups = group_by_failure_mode(ordered, modes, detailed=lambda r: r.pk in inline)
    folder = exercise_dir_for_display(exercise)
    template = package_call_template(str(folder)) if folder else None
    if template is not None:
        calls = [call for group in groups for probe in group.results for call in probe["calls"]]
        render_calls(template, calls, where=f"run {run.pk}, {exercise.slug} {exercise.version}")
    return groups


def probe_evidence(*, run: GradingRun, probe_id: str) -> dict[str, Any] | None:
    """One probe's result with its calls and timeline, for the review page to show when it is opened."""
    result = run.results.filter(probe_id=probe_id).first()
    if result is None:
        return None
    groups = evidence_groups(run=run, results=[result], open_probe=probe_id)
    return groups[0].results[0]


def criterion_mode_titles(*, criteria: Iterable[Criterion], modes: FailureModes) -> dict[int, list[str]]:
    """Per criterion id: the titles of the failure modes it covers, as the exercise words them."""
    return {c.pk: [modes.title(slug) for slug in c.failure_modes or []] for c in criteria}


# --- The level a criterion counts at ------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """A manager's final level for one criterion of one submission, and who set it."""

    level: int
    by: str  # the manager's full name, else their username


@dataclass(frozen=True)
class CriterionLevel:
    """What one criterion of one submission counts at, wherever it is shown or summed: the manager's
    resolution of a disagreement when there is one, else the mean of the submitted reviewers' levels."""

    mean: float | None = None  # the submitted reviewers' mean, whatever a resolution says
    n: int = 0  # submitted levels behind the mean
    resolution: Resolution | None = None

    @property
    def level(self) -> float | None:
        return self.resolution.level if self.resolution is not None else self.mean

    @property
    def resolved_by(self) -> str:
        return self.resolution.by if self.resolution is not None else ""


def _person(first: str, last: str, username: str) -> str:
    return f"{first} {last}".strip() or username


def resolutions(
    *, assessment: Assessment | None = None, submission_ids: Iterable[int] | None = None
) -> dict[tuple[int, int], Resolution]:
    """(submission id, criterion id) → the resolved level, over an assessment or some submissions (one query)."""
    qs = Disagreement.objects.filter(resolved_at__isnull=False)
    if assessment is not None:
        qs = qs.filter(submission__invitation__assessment=assessment)
    if submission_ids is not None:
        qs = qs.filter(submission_id__in=list(submission_ids))
    rows = qs.values_list(
        "submission_id", "criterion_id", "resolved_level",
        "resolved_by__first_name", "resolved_by__last_name", "resolved_by__username",
    )  # fmt: skip
    return {
        (submission_id, criterion_id): Resolution(level, _person(first or "", last or "", username or ""))
        for submission_id, criterion_id, level, first, last, username in rows
        if level is not None  # a resolution has its level (a constraint); the column's type still allows NULL
    }


def criterion_levels(
    *, assessment: Assessment | None = None, submission_ids: Iterable[int] | None = None
) -> dict[int, dict[int, CriterionLevel]]:
    """submission id → criterion id → the level it counts at, over an assessment or some submissions.

    Two queries whatever the number of submissions: the submitted levels grouped per submission and
    criterion, and the resolutions. Every report reads levels from here, so a resolved level is the
    level on the comparison, the scorecard, the overview and the exports alike.
    """
    ids = None if submission_ids is None else list(submission_ids)
    qs = CriterionScore.objects.filter(review__state=Review.SUBMITTED, level__isnull=False)
    if assessment is not None:
        qs = qs.filter(review__submission__invitation__assessment=assessment)
    if ids is not None:
        qs = qs.filter(review__submission_id__in=ids)
    sums = qs.values_list("review__submission_id", "criterion_id").annotate(total=Sum("level"), n=Count("pk"))
    levels: dict[int, dict[int, CriterionLevel]] = defaultdict(dict)
    for submission_id, criterion_id, total, n in sums.order_by():
        levels[submission_id][criterion_id] = CriterionLevel(mean=total / n, n=n)
    for (submission_id, criterion_id), resolution in resolutions(assessment=assessment, submission_ids=ids).items():
        scored = levels[submission_id].get(criterion_id) or CriterionLevel()
        levels[submission_id][criterion_id] = CriterionLevel(scored.mean, scored.n, resolution)
    return dict(levels)


def recommendation_counts(*, assessment: Assessment) -> dict[int, dict[str, int]]:
    """submission id → recommendation → how many submitted reviews gave it, over an assessment (one
    query). The key "" counts reviews submitted before reviewers gave recommendations."""
    rows = (
        Review.objects.filter(state=Review.SUBMITTED, submission__invitation__assessment=assessment)
        .values_list("submission_id", "recommendation")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for submission_id, recommendation, n in rows:
        counts[submission_id][recommendation] = n
    return dict(counts)


def open_disagreements(*, invitation: Invitation) -> list[Disagreement]:
    """The disagreements on the invitation's latest upload that no manager has resolved yet, in the
    rubric's order (one query): what a decision would be taken over."""
    latest = Submission.objects.filter(invitation=invitation).order_by("-number").values("pk")[:1]
    return list(
        Disagreement.objects.filter(submission_id=Subquery(latest), resolved_at__isnull=True)
        .select_related("criterion")
        .order_by("criterion__position", "pk")
    )


# --- Managers: disagreements, agreement, calibration ---------------------------------------------


def disagreements_for_manager(
    *, user: User, assessment_id: int | None = None, show: str = "open", keep_id: int | None = None
) -> list[Disagreement]:
    """The manager's disagreements under a filter; ``keep_id`` stays listed though the filter would drop
    it (the one just resolved, shown resolved in its place rather than vanishing)."""
    qs = Disagreement.objects.select_related("submission__invitation__assessment", "criterion", "resolved_by").order_by(
        "flagged_at", "pk"
    )
    if not user.is_superuser:
        qs = qs.filter(submission__invitation__assessment__owner=user)
    if assessment_id:
        qs = qs.filter(submission__invitation__assessment_id=assessment_id)
    keep = Q(pk=keep_id) if keep_id else Q(pk__in=[])
    if show == "open":
        qs = qs.filter(Q(resolved_at__isnull=True) | keep)
    elif show == "resolved":
        qs = qs.filter(Q(resolved_at__isnull=False) | keep)
    return _with_reviews(list(qs[:500]))


def disagreement_row_for_manager(*, user: User, disagreement_id: int) -> Disagreement:
    """One disagreement with everything its row on the manager's page shows; 404 if not theirs."""
    disagreement = disagreement_for_manager(user=user, disagreement_id=disagreement_id)
    return _with_reviews([disagreement])[0]


def _with_reviews(disagreements: list[Disagreement]) -> list[Disagreement]:
    """Set the attributes the manager's page shows on each row (see Disagreement), in a fixed number of queries."""
    submission_ids = {d.submission_id for d in disagreements}
    scores: dict[tuple[int, int], list[CriterionScore]] = defaultdict(list)
    for score in (
        CriterionScore.objects.filter(review__submission_id__in=submission_ids, review__state=Review.SUBMITTED)
        .select_related("review__reviewer")
        .order_by("review__submitted_at")
    ):
        scores[(score.review.submission_id, score.criterion_id)].append(score)
    reviews_of: dict[int, list[Review]] = defaultdict(list)
    for review in Review.objects.filter(submission_id__in=submission_ids).select_related("reviewer"):
        reviews_of[review.submission_id].append(review)
    pools = _reviewer_pools({d.submission.invitation.assessment_id for d in disagreements})
    for d in disagreements:
        d.submitted_scores = scores[(d.submission_id, d.criterion_id)]
        d.open_reviews = [r for r in reviews_of[d.submission_id] if r.state in (Review.ASSIGNED, Review.IN_PROGRESS)]
        # Nobody reviews one submission twice, so the third reviewer comes from those not on it yet.
        d.reviewer_ids = {r.reviewer_id for r in reviews_of[d.submission_id]}
        d.addable = [u for u in pools[d.submission.invitation.assessment_id] if u.pk not in d.reviewer_ids]
        chosen: dict[int, list[str]] = defaultdict(list)
        for score in d.submitted_scores:
            if score.level is not None:
                chosen[score.level].append(score.review.reviewer.get_username())
        d.level_options = [
            {"level": n, "anchor": d.criterion.anchor(n), "chosen_by": chosen.get(n, [])} for n in LEVELS
        ]
    return disagreements


def _reviewer_pools(assessment_ids: set[int]) -> dict[int, list[User]]:
    """``reviewer_pool`` for several assessments in two queries."""
    everyone = list(reviewers())
    chosen: dict[int, set[int]] = defaultdict(set)
    through = Assessment.reviewers.through.objects.filter(assessment_id__in=assessment_ids)
    for assessment_id, user_id in through.values_list("assessment_id", "user_id"):
        chosen[assessment_id].add(user_id)
    return {a: [u for u in everyone if not chosen[a] or u.pk in chosen[a]] for a in assessment_ids}


def reviewers() -> QuerySet[User]:
    return get_user_model().objects.filter(groups__name=REVIEWERS, is_active=True).order_by("username")


def reviewer_pool(*, assessment: Assessment) -> QuerySet[User]:
    """Who reviews this assessment's uploads: its chosen reviewers, or every active reviewer when none is chosen.

    A chosen reviewer who is no longer active leaves the pool; the choice still stands, so a pool of
    only such reviewers is empty, not everyone.
    """
    pool = reviewers()
    chosen = assessment.reviewers.values("pk")
    if chosen.exists():
        pool = pool.filter(pk__in=chosen)
    return pool


def open_disagreement_count(*, user: User) -> int:
    qs = Disagreement.objects.filter(resolved_at__isnull=True)
    if not user.is_superuser:
        qs = qs.filter(submission__invitation__assessment__owner=user)
    return qs.count()


# Below this many submissions scored by two or more reviewers, alpha swings on one score (two
# submissions gave -0.50): the page says so instead of reading it.
AGREEMENT_MIN_SUBMISSIONS = 10
# Krippendorff's convention (Content Analysis, 2nd ed., 2004, p. 241): rely on alpha >= .800, draw
# only tentative conclusions from .667 <= alpha < .800, and none below .667.
ALPHA_RELIABLE = 0.8
ALPHA_TENTATIVE = 0.667


@dataclass
class AgreementRow:
    label: str
    units: int = 0  # scores compared: (submission, criterion) pairs with two or more reviewers
    pairs: int = 0
    exact: float | None = None
    within_one: float | None = None
    alpha: float | None = None
    gold_checked: int = 0
    gold_mean_abs: float | None = None
    submissions: int = 0  # distinct uploads with two or more reviewers

    @property
    def too_few(self) -> bool:
        return self.submissions < AGREEMENT_MIN_SUBMISSIONS

    @property
    def reading(self) -> str:
        """Alpha in words, or why it says nothing yet."""
        if self.too_few:
            return "too few submissions to judge"
        if self.alpha is None:
            return "no spread of levels to measure"
        if self.alpha >= ALPHA_RELIABLE:
            return "reliable"
        if self.alpha >= ALPHA_TENTATIVE:
            return "tentative: good enough for tentative conclusions only"
        return "reviewers disagree too much for firm conclusions"

    @property
    def reading_tone(self) -> str:
        if self.too_few or self.alpha is None:
            return "none"
        return "good" if self.alpha >= ALPHA_RELIABLE else "fair" if self.alpha >= ALPHA_TENTATIVE else "poor"


class Agreement(TypedDict):
    per_criterion: list[AgreementRow]
    overall: AgreementRow
    per_reviewer: list[AgreementRow]


def agreement_for_assessment(*, assessment: Assessment) -> Agreement:
    """Exact, within-one and ordinal Krippendorff's alpha per criterion, and per reviewer against the others."""
    rows = CriterionScore.objects.filter(
        review__submission__invitation__assessment=assessment, review__state=Review.SUBMITTED, level__isnull=False
    ).values_list("review__submission_id", "review__reviewer_id", "review__reviewer__username", "criterion_id", "level")
    criteria = list(assessment.rubric.criteria.all())
    by_unit: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
    names: dict[int, str] = {}
    for submission_id, reviewer_id, username, criterion_id, level in rows:
        if level is None:  # the query leaves drafts out; the column's type still allows NULL
            continue
        by_unit[(submission_id, criterion_id)][reviewer_id] = level
        names[reviewer_id] = username
    coders = sorted(names)
    per_criterion = []
    all_units: list[dict[int, int]] = []
    for criterion in criteria:
        units = {k: v for k, v in by_unit.items() if k[1] == criterion.pk}
        rated = [list(v.values()) for v in units.values() if len(v) >= 2]
        all_units.extend(units.values())
        row = _agreement_row(criterion.title, list(units.values()), coders, rated)
        row.submissions = len(rated)  # one unit per submission for one criterion
        per_criterion.append(row)
    overall = _agreement_row("All criteria", all_units, coders, [list(v.values()) for v in all_units if len(v) >= 2])
    overall.submissions = len({submission_id for (submission_id, _), v in by_unit.items() if len(v) >= 2})
    gold = _gold_deviations(assessment, by_unit)
    per_reviewer = []
    for coder in coders:
        pairs = [
            (ratings[coder], other)
            for ratings in by_unit.values()
            if coder in ratings
            for other_coder, other in ratings.items()
            if other_coder != coder
        ]
        row = AgreementRow(names[coder], units=sum(1 for r in by_unit.values() if coder in r), pairs=len(pairs))
        row.exact, row.within_one = pair_agreement(pairs)
        deviations = gold.get(coder, [])
        row.gold_checked = len(deviations)
        row.gold_mean_abs = sum(abs(d) for d in deviations) / len(deviations) if deviations else None
        per_reviewer.append(row)
    return {"per_criterion": per_criterion, "overall": overall, "per_reviewer": per_reviewer}


def _agreement_row(label: str, units: list[dict[int, int]], coders: list[int], rated: list[list[int]]) -> AgreementRow:
    exact, within = pairwise_agreement(rated)
    data = [[unit.get(coder) for unit in units] for coder in coders]
    alpha = krippendorff_alpha(data, level="ordinal") if rated else None
    return AgreementRow(
        label,
        units=len(rated),
        pairs=pair_count(rated),
        exact=exact,
        within_one=within,
        alpha=alpha,
    )


def _gold_deviations(assessment: Assessment, by_unit: dict[tuple[int, int], dict[int, int]]) -> dict[int, list[int]]:
    deviations: dict[int, list[int]] = defaultdict(list)
    for gold in GoldStandard.objects.filter(submission__invitation__assessment=assessment):
        for reviewer_id, level in by_unit.get((gold.submission_id, gold.criterion_id), {}).items():
            deviations[reviewer_id].append(level - gold.expected_level)
    return deviations


# Invitations whose latest upload is graded: only those wait for (or have had) their reviewers.
_GRADED_STATES = (Invitation.GRADED, Invitation.REVIEWED, Invitation.DECIDED)
# A decided candidate needs nobody else's judgement, whatever the count.
_STAFFED_STATES = (Invitation.GRADED, Invitation.REVIEWED)


@dataclass
class ReviewAdminRow:
    """One upload on the manager's reviews page, with who reviews it and whom it could still get."""

    submission: Submission
    reviews: list[Review]
    is_latest: bool
    active: int  # reviews not withdrawn
    wanted: int
    addable: list[User]  # the assessment's pool, less everyone who ever had a review of it
    needs_reviewers: bool = False

    @property
    def missing(self) -> int:
        return max(self.wanted - self.active, 0)


def review_admin_rows(*, assessment: Assessment) -> list[ReviewAdminRow]:
    """Every graded latest upload of the assessment, and any other upload with reviews or gold levels.

    Uploads short of reviewers come first, the emptiest first: they are what the manager must act on.
    """
    newer = Submission.objects.filter(invitation=OuterRef("invitation"), number__gt=OuterRef("number"))
    submissions = (
        Submission.objects.filter(invitation__assessment=assessment)
        .annotate(
            is_latest=~Exists(newer),
            has_reviews=Exists(Review.objects.filter(submission=OuterRef("pk"))),
            has_gold=Exists(GoldStandard.objects.filter(submission=OuterRef("pk"))),
        )
        .filter(Q(is_latest=True, invitation__state__in=_GRADED_STATES) | Q(has_reviews=True) | Q(has_gold=True))
        .select_related("invitation__candidate")
        .prefetch_related(
            Prefetch("reviews", queryset=Review.objects.select_related("reviewer").order_by("assigned_at", "pk")),
            Prefetch("gold_levels", queryset=GoldStandard.objects.select_related("criterion")),
        )
        .order_by("created_at", "pk")
    )
    pool = list(reviewer_pool(assessment=assessment))
    wanted = assessment.reviewers_per_submission
    rows = []
    for submission in submissions:
        reviews = list(submission.reviews.all())
        # The database keeps one review per reviewer and upload, withdrawn ones included.
        on_it = {r.reviewer_id for r in reviews}
        row = ReviewAdminRow(
            submission=submission,
            reviews=reviews,
            is_latest=submission.is_latest,
            active=sum(1 for r in reviews if r.state != Review.WITHDRAWN),
            wanted=wanted,
            addable=[u for u in pool if u.pk not in on_it],
        )
        row.needs_reviewers = (
            row.is_latest and submission.invitation.state in _STAFFED_STATES and row.active < row.wanted
        )
        rows.append(row)
    rows.sort(key=lambda r: (not r.needs_reviewers, r.active if r.needs_reviewers else 0))
    return rows


def reviewers_to_add(*, submission: Submission) -> QuerySet[User]:
    """The assessment's pool less everyone who already has (or had) a review of this upload."""
    taken = Review.objects.filter(submission=submission).values("reviewer_id")
    return reviewer_pool(assessment=submission.invitation.assessment).exclude(pk__in=taken)
