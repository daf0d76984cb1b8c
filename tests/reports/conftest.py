"""Builders for report tests: candidates brought to a state through the services, with chosen results."""

from datetime import timedelta

import pytest
from django.utils import timezone

from candidates.models import Invitation
from candidates.services import candidate_get_or_create, invitation_create, invitation_start
from rubrics.services import review_assign, review_score_save, review_submit
from tests.builders import graded_submission, make_zip, review_verdict
from workflows.uploads import submission_accept


def result(probe_id: str, mode: str, outcome: str) -> dict:
    return {"probe_id": probe_id, "failure_mode": mode, "outcome": outcome, "reason": f"{probe_id} {outcome}"}


class Builder:
    """``build(name, state, results=…, levels={reviewer: {criterion_slug: level}}, minutes=…,
    recommendations={reviewer: "strong_yes"})`` (every reviewer says "yes" unless told)."""

    def __init__(self, assessment, manager, reviewers):
        self.assessment = assessment
        self.manager = manager
        self.reviewers = reviewers
        self.n = 0

    def __call__(
        self, name, state=Invitation.INVITED, *, results=(), levels=None, minutes=30, uploads=1, recommendations=None
    ):
        self.n += 1
        candidate = candidate_get_or_create(name=name, email=f"c{self.n}-{name.split()[0].lower()}@example.com")
        invitation, _ = invitation_create(assessment=self.assessment, candidate=candidate, invited_by=self.manager)
        if state == Invitation.INVITED:
            return invitation
        start = timezone.now() - timedelta(minutes=5)
        invitation_start(invitation=invitation, now=start)
        if state == Invitation.STARTED:
            return invitation
        # Each candidate's own bytes: the same archive from two candidates is flagged as identical.
        *older, last = [make_zip({"echo/__init__.py": f"# {name}, {number}\n"}) for number in range(uploads)]
        for archive in older:
            submission_accept(invitation=invitation, archive=archive, notes="")
        if state == Invitation.SUBMITTED:
            submission = submission_accept(invitation=invitation, archive=last, notes="")
        else:
            submission = graded_submission(invitation=invitation, archive=last, results=results)
        # Uploads are "now"; pin the last one to start + minutes so time spent is exact.
        type(submission).objects.filter(pk=submission.pk).update(created_at=start + timedelta(minutes=minutes))
        if state in (Invitation.SUBMITTED, Invitation.GRADED):
            return invitation
        criteria = {c.slug: c for c in self.assessment.rubric.criteria.all()}
        for reviewer in self.reviewers:
            review = review_assign(submission=submission, reviewer=reviewer, actor=self.manager)
            for slug, criterion in criteria.items():
                level = (levels or {}).get(reviewer.username, {}).get(slug, 2)
                review_score_save(
                    review=review, criterion=criterion, level=level, note=f"{reviewer.username} on {slug}"
                )
            review_verdict(review, (recommendations or {}).get(reviewer.username, "yes"))
            review_submit(review=review)
        invitation.refresh_from_db()
        return invitation


@pytest.fixture
def build(assessment, manager, reviewer, reviewer2):
    return Builder(assessment, manager, [reviewer, reviewer2])


def login(client, user):
    client.force_login(user)
    return client
