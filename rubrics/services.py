from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from candidates.models import Invitation, Submission
from candidates.services import invitation_mark_reviewed
from core.audit import audit_record
from core.transitions import IllegalTransition, apply_transition
from rubrics.agreement import is_disagreement
from rubrics.models import LEVELS, Criterion, CriterionScore, Disagreement, GoldStandard, Review, Rubric
from rubrics.selectors import SubmitProblem, review_submit_problems, reviewer_pool


class RubricError(Exception):
    """A rubric definition or a score that cannot be accepted; the message says why."""


class ReviewIncomplete(RubricError):
    """A submit refused for what the review lacks: every missing level and note at once, not one kind
    per attempt, so that the reviewer fixes them in one go."""

    def __init__(self, problems: list[SubmitProblem]) -> None:
        self.problems = problems
        levels = [p.criterion.title for p in problems if p.missing == "level" and p.criterion]
        notes = [p.criterion.title for p in problems if p.missing == "note" and p.criterion]
        parts = [f"Choose a level for: {', '.join(levels)}." if levels else ""]
        parts.append(f"Write a note for: {', '.join(notes)}." if notes else "")
        parts += [p.message for p in problems if p.criterion is None]
        super().__init__(" ".join(part for part in parts if part))


def rubric_sync(*, definition: dict[str, Any]) -> tuple[Rubric, bool]:
    """Create or update a rubric from its parsed rubric.toml. Returns (rubric, changed).

    A criterion that reviewers have already scored cannot disappear: their scores would
    lose their meaning. Anchors and titles may be reworded.
    """
    slug, title, criteria = definition.get("slug"), definition.get("title"), definition.get("criteria")
    if not slug or not title or not isinstance(criteria, list) or not criteria:
        raise RubricError("rubric.toml needs 'slug', 'title' and at least one [[criteria]] table.")
    seen = set()
    for i, item in enumerate(criteria, start=1):
        for key in ("slug", "title", "anchors"):
            if key not in item:
                raise RubricError(f"Criterion {i} of rubric '{slug}' has no '{key}'.")
        if item["slug"] in seen:
            raise RubricError(f"Criterion '{item['slug']}' appears twice in rubric '{slug}'.")
        seen.add(item["slug"])
        anchors = item["anchors"]
        if not isinstance(anchors, list) or len(anchors) != len(LEVELS) or not all(isinstance(a, str) for a in anchors):
            raise RubricError(f"Criterion '{item['slug']}' needs exactly {len(LEVELS)} anchors (levels 0-3).")
        if not isinstance(item.get("weight", 1), int) or item.get("weight", 1) < 1:
            raise RubricError(f"Criterion '{item['slug']}' has a weight that is not a positive integer.")

    with transaction.atomic():
        rubric, created = Rubric.objects.get_or_create(slug=slug, defaults={"title": title})
        changed = created or rubric.title != title
        rubric.title = title
        existing = {c.slug: c for c in rubric.criteria.all()}
        removed = set(existing) - seen
        scored = [s for s in removed if existing[s].scores.exists()]
        if scored:
            raise RubricError(
                f"Rubric '{slug}' would drop criteria that have scores: {', '.join(sorted(scored))}. "
                "Give the changed rubric a new slug instead."
            )
        Criterion.objects.filter(rubric=rubric, slug__in=removed).delete()
        changed = changed or bool(removed)
        for position, item in enumerate(criteria):
            values = {
                "title": item["title"],
                "description": item.get("description", ""),
                "weight": item.get("weight", 1),
                "failure_modes": list(item.get("failure_modes", [])),
                "anchors": list(item["anchors"]),
                "position": position,
            }
            current = existing.get(item["slug"])
            if current is None or any(getattr(current, k) != v for k, v in values.items()):
                Criterion.objects.update_or_create(rubric=rubric, slug=item["slug"], defaults=values)
                changed = True
        if changed:
            rubric.updated_at = timezone.now()
        rubric.save()
    return rubric, changed


def review_assign(*, submission: Submission, reviewer: User, actor: User | None = None) -> Review:
    if not reviewer.groups.filter(name="reviewers").exists():
        raise RubricError(f"{reviewer.get_username()} is not a reviewer.")
    review, created = Review.objects.get_or_create(submission=submission, reviewer=reviewer)
    if not created:
        raise RubricError(f"{reviewer.get_username()} already reviews this submission.")
    audit_record(actor=actor, action="review.assigned", target=review, data={"reviewer": reviewer.get_username()})
    return review


def review_score_save(*, review: Review, criterion: Criterion, level: int | None, note: str) -> CriterionScore:
    """Autosave one criterion of a draft review."""
    if review.is_locked:
        raise RubricError("This review is submitted; its scores are locked.")
    if criterion.rubric_id != review.submission.invitation.assessment.rubric_id:
        raise RubricError("That criterion belongs to another rubric.")
    if level is not None and level not in LEVELS:
        raise RubricError("A level is 0, 1, 2 or 3.")
    with transaction.atomic():
        if review.state == Review.ASSIGNED:
            apply_transition(review, Review.IN_PROGRESS, started_at=timezone.now())
        score, _ = CriterionScore.objects.update_or_create(
            review=review, criterion=criterion, defaults={"level": level, "note": note, "updated_at": timezone.now()}
        )
    return score


def review_verdict_save(*, review: Review, recommendation: str, takeaways: str) -> Review:
    """Autosave a draft's overall recommendation and takeaways. Submitting checks that there are two or
    three takeaways of a sensible length; a draft may hold anything the reviewer is still shaping."""
    if review.is_locked:
        raise RubricError("This review is submitted; its recommendation is locked.")
    if recommendation and recommendation not in dict(Review.RECOMMENDATIONS):
        raise RubricError("Choose strong yes, yes, no or strong no.")
    with transaction.atomic():
        if review.state == Review.ASSIGNED:
            apply_transition(review, Review.IN_PROGRESS, started_at=timezone.now())
        # Conditional, like a transition: a submit in another tab a moment ago has locked the review.
        updated = Review.objects.filter(pk=review.pk, state__in=OPEN_STATES).update(
            recommendation=recommendation, takeaways=takeaways.strip()
        )
        if updated != 1:
            raise RubricError("This review is submitted; its recommendation is locked.")
        review.recommendation, review.takeaways = recommendation, takeaways.strip()
    return review


def review_submit(*, review: Review) -> Review:
    """Lock the review. Every criterion needs a level and a note first, and the review its
    recommendation and two or three takeaways.

    The invitation counts as reviewed once its latest upload has no open review left; a review of
    an older upload (submitted just before a resubmission withdrew it) never moves the invitation.
    """
    if review.state == Review.WITHDRAWN:
        raise RubricError(f"This review was withdrawn ({review.get_withdrawn_reason_display().lower()}).")
    problems = review_submit_problems(review=review)
    if problems:
        raise ReviewIncomplete(problems)
    with transaction.atomic():
        apply_transition(review, Review.SUBMITTED, submitted_at=timezone.now())
        audit_record(actor=review.reviewer, action="review.submitted", target=review)
        disagreements_flag(submission=review.submission)
        invitation = Invitation.objects.select_for_update().get(pk=review.submission.invitation_id)
        open_reviews = Review.objects.filter(submission=review.submission).exclude(
            state__in=[Review.SUBMITTED, Review.WITHDRAWN]
        )
        latest = invitation.submissions.order_by("-number").values_list("pk", flat=True).first()
        if invitation.state == Invitation.GRADED and latest == review.submission_id and not open_reviews.exists():
            invitation_mark_reviewed(invitation=invitation)
    return review


OPEN_STATES = (Review.ASSIGNED, Review.IN_PROGRESS)


def reviews_assign_for_submission(*, submission: Submission) -> list[Review]:
    """Give a graded submission its reviewers: the ones with the fewest open reviews first.

    The pool is the assessment's chosen reviewers, or every active reviewer when none is chosen.

    Idempotent: reviewers already on the submission count (a withdrawn review does not), and
    nobody is assigned twice to one submission (the database refuses it too).
    """
    assessment = submission.invitation.assessment
    wanted = assessment.reviewers_per_submission
    with transaction.atomic():
        current = Review.objects.filter(submission=submission)
        active = current.exclude(state=Review.WITHDRAWN).count()
        if active >= wanted:
            return []
        taken = current.values("reviewer_id")
        candidates = (
            reviewer_pool(assessment=assessment)
            .exclude(pk__in=taken)
            .annotate(open_reviews=Count("reviews", filter=Q(reviews__state__in=OPEN_STATES)))
            .order_by("open_reviews", "pk")[: wanted - active]
        )
        assigned = []
        for reviewer in candidates:
            review = Review.objects.create(submission=submission, reviewer=reviewer)
            audit_record(
                actor=None, action="review.assigned", target=review, data={"reviewer": reviewer.get_username()}
            )
            assigned.append(review)
    return assigned


def reviews_withdraw_superseded(*, submission: Submission) -> list[Review]:
    """A new upload replaces the invitation's earlier ones: withdraw their open reviews.

    Their draft scores stay, read-only; submitted reviews stay as history. The new upload gets its
    reviewers when its grading finishes. Call inside the transaction that stores the upload.
    """
    withdrawn = []
    superseded = Review.objects.filter(
        submission__invitation_id=submission.invitation_id,
        submission__number__lt=submission.number,
        state__in=OPEN_STATES,
    ).select_related("reviewer")
    for review in superseded:
        try:
            apply_transition(review, Review.WITHDRAWN, withdrawn_reason=Review.SUPERSEDED)
        except IllegalTransition:
            continue  # submitted a moment ago: it stays, as history; the upload must not fail for it
        audit_record(
            actor=None,
            action="review.withdrawn",
            target=review,
            data={"reason": Review.SUPERSEDED, "by_submission": submission.number},
        )
        withdrawn.append(review)
    return withdrawn


def review_reassign(*, review: Review, reviewer: User, actor: User) -> Review:
    """Withdraw an open review and give the submission to another reviewer."""
    if review.state not in OPEN_STATES:
        raise RubricError("Only a review that is not submitted can be reassigned.")
    if reviewer.pk == review.reviewer_id:
        raise RubricError("Choose a different reviewer.")
    with transaction.atomic():
        apply_transition(review, Review.WITHDRAWN, withdrawn_reason=Review.REASSIGNED)
        audit_record(actor=actor, action="review.withdrawn", target=review, data={"reason": Review.REASSIGNED})
        try:
            with transaction.atomic():
                new = review_assign(submission=review.submission, reviewer=reviewer, actor=actor)
        except IntegrityError as exc:
            raise RubricError(f"{reviewer.get_username()} already reviews this submission.") from exc
    return new


def review_scores_save(*, review: Review, entries: dict[int, tuple[int | None, str]]) -> None:
    """The no-JavaScript form: save every criterion at once. ``entries`` maps criterion id to (level, note)."""
    criteria = {c.pk: c for c in review.submission.invitation.assessment.rubric.criteria.all()}
    with transaction.atomic():
        for criterion_id, (level, note) in entries.items():
            if criterion_id in criteria:
                review_score_save(review=review, criterion=criteria[criterion_id], level=level, note=note)


def disagreements_flag(*, submission: Submission) -> list[Disagreement]:
    """Flag every criterion whose submitted levels disagree (rubrics.agreement), or widen an open flag."""
    levels: dict[int, list[int]] = {}
    scores = CriterionScore.objects.filter(
        review__submission=submission, review__state=Review.SUBMITTED, level__isnull=False
    ).values_list("criterion_id", "level")
    for criterion_id, level in scores:
        if level is not None:  # the query leaves drafts out; the column's type still allows NULL
            levels.setdefault(criterion_id, []).append(level)
    flagged = []
    for criterion_id, values in levels.items():
        if not is_disagreement(values):
            continue
        low, high = min(values), max(values)
        disagreement, created = Disagreement.objects.get_or_create(
            submission=submission, criterion_id=criterion_id, defaults={"low": low, "high": high}
        )
        if not created and not disagreement.is_resolved and (disagreement.low, disagreement.high) != (low, high):
            disagreement.low, disagreement.high = low, high
            disagreement.save(update_fields=["low", "high"])
        if created:
            audit_record(
                actor=None, action="disagreement.flagged", target=disagreement, data={"low": low, "high": high}
            )
        flagged.append(disagreement)
    return flagged


def disagreement_resolve(*, disagreement: Disagreement, level: int, note: str, actor: User) -> Disagreement:
    note = note.strip()
    if disagreement.is_resolved:
        raise RubricError("This disagreement is already resolved.")
    if level not in LEVELS:
        raise RubricError("A level is 0, 1, 2 or 3.")
    if not note:
        raise RubricError("Write a calibration note: it is what the reviewers learn from.")
    disagreement.resolved_level, disagreement.calibration_note = level, note
    disagreement.resolved_by, disagreement.resolved_at = actor, timezone.now()
    with transaction.atomic():
        disagreement.save(update_fields=["resolved_level", "calibration_note", "resolved_by", "resolved_at"])
        audit_record(
            actor=actor, action="disagreement.resolved", target=disagreement, data={"level": level, "note": note}
        )
    return disagreement


def gold_standard_set(
    *, submission: Submission, levels: dict[int, int | None], label: str, actor: User
) -> list[GoldStandard]:
    """Mark a submission as a calibration one with the expected level per criterion (None clears it)."""
    criteria = {c.pk: c for c in submission.invitation.assessment.rubric.criteria.all()}
    saved = []
    with transaction.atomic():
        for criterion_id, level in levels.items():
            criterion = criteria.get(criterion_id)
            if criterion is None:
                raise RubricError("That criterion belongs to another rubric.")
            if level is None:
                GoldStandard.objects.filter(submission=submission, criterion=criterion).delete()
                continue
            if level not in LEVELS:
                raise RubricError("A level is 0, 1, 2 or 3.")
            gold, _ = GoldStandard.objects.update_or_create(
                submission=submission,
                criterion=criterion,
                defaults={"expected_level": level, "label": label.strip(), "set_by": actor, "set_at": timezone.now()},
            )
            saved.append(gold)
        audit_record(
            actor=actor, action="gold.set", target=submission, data={"levels": {str(k): v for k, v in levels.items()}}
        )
    return saved
