"""Invariants the database itself enforces, so no code path can break them."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from assessments.models import Assessment, GradingRun, ProbeResult
from candidates.models import Candidate, Decision, Invitation, Submission
from candidates.services import invitation_start
from rubrics.models import Criterion, CriterionScore, Review
from rubrics.services import review_assign
from tests.builders import make_zip
from workflows.uploads import submission_accept


def _violates(fn):
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


def test_it_refuses_two_candidates_with_the_same_email_in_any_case(candidate):
    _violates(lambda: Candidate.objects.create(name="Other", email="DANA@example.com"))


def test_it_refuses_a_second_invitation_for_the_same_candidate(invitation):
    _violates(
        lambda: Invitation.objects.create(
            assessment=invitation.assessment,
            candidate=invitation.candidate,
            token_hash="f" * 64,
            expires_at=timezone.now() + timedelta(days=1),
        )
    )


def test_it_refuses_an_assessment_with_no_reviewers_or_no_time(assessment):
    def clone(**changes):
        fields = {
            "title": "x",
            "exercise": assessment.exercise,
            "rubric": assessment.rubric,
            "time_limit_minutes": 60,
            "closes_at": assessment.closes_at,
            "reviewers_per_submission": 2,
            "owner": assessment.owner,
        }
        return lambda: Assessment.objects.create(**{**fields, **changes})

    _violates(clone(reviewers_per_submission=0))
    _violates(clone(reviewers_per_submission=9))
    _violates(clone(time_limit_minutes=0))


def test_it_refuses_a_started_invitation_without_a_due_time(invitation):
    _violates(lambda: Invitation.objects.filter(pk=invitation.pk).update(started_at=timezone.now()))


@pytest.fixture
def submission(invitation):
    invitation_start(invitation=invitation)
    return submission_accept(invitation=invitation, archive=make_zip({}), notes="hi")


def test_it_numbers_submissions_uniquely(submission):
    _violates(
        lambda: Submission.objects.create(
            invitation=submission.invitation, number=1, sha256="a" * 64, size_bytes=1, exercise_version="0"
        )
    )


def test_it_allows_only_one_live_grading_run_per_submission(submission):
    assert submission.grading_runs.filter(state=GradingRun.QUEUED).count() == 1
    _violates(lambda: GradingRun.objects.create(submission=submission, exercise=submission.grading_runs.get().exercise))


def test_it_keeps_one_result_per_probe_and_a_valid_outcome(submission):
    run = submission.grading_runs.get()
    ProbeResult.objects.create(run=run, probe_id="p1", failure_mode="grounding", outcome="pass", reason="ok")
    _violates(lambda: ProbeResult.objects.create(run=run, probe_id="p1", failure_mode="grounding", outcome="fail"))
    _violates(lambda: ProbeResult.objects.create(run=run, probe_id="p2", failure_mode="grounding", outcome="maybe"))


def test_it_bounds_levels_and_keeps_one_score_per_criterion(submission, reviewer):
    review = review_assign(submission=submission, reviewer=reviewer)
    criterion = Criterion.objects.filter(rubric=submission.invitation.assessment.rubric).first()
    CriterionScore.objects.create(review=review, criterion=criterion, level=2)
    _violates(lambda: CriterionScore.objects.create(review=review, criterion=criterion, level=1))
    other = Criterion.objects.filter(rubric=criterion.rubric).exclude(pk=criterion.pk).first()
    _violates(lambda: CriterionScore.objects.create(review=review, criterion=other, level=4))
    _violates(lambda: Review.objects.create(submission=submission, reviewer=reviewer))


def test_it_refuses_a_decision_without_a_reason(submission, manager):
    _violates(
        lambda: Decision.objects.create(
            invitation=submission.invitation, outcome="advance", reason="", decided_by=manager
        )
    )


def test_it_protects_an_exercise_that_an_assessment_uses(assessment):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        assessment.exercise.delete()
