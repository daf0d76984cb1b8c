"""Reads for the debrief guide: who may see one, and what its card shows."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.http import Http404

from assessments.models import GradingRun
from candidates.models import Submission
from core.roles import is_manager
from reports.models import DebriefGuide
from rubrics.models import Review


def debrief_submission_for_user(*, user: User | AnonymousUser, submission_id: int) -> Submission:
    """The submission if ``user`` manages its assessment, or reviewed it and has submitted that review.

    Anyone else gets a 404, a reviewer still scoring too: the guide must not anchor a blind review.
    """
    qs = Submission.objects.select_related("invitation__assessment__exercise")
    submission = qs.filter(pk=submission_id).first()
    if submission is None or not user.is_authenticated:
        raise Http404
    if is_manager(user) and (user.is_superuser or submission.invitation.assessment.owner_id == user.pk):
        return submission
    if Review.objects.filter(submission=submission, reviewer_id=user.pk, state=Review.SUBMITTED).exists():
        return submission
    raise Http404


@dataclass
class DebriefCard:
    """What the debrief card shows for one upload."""

    submission: Submission | None
    guide: DebriefGuide | None
    enabled: bool  # an API key is configured
    graded: bool  # the upload has a finished grading run to ask about

    @property
    def can_draft(self) -> bool:
        if not (self.enabled and self.graded):
            return False
        return self.guide is None or self.guide.can_retry

    @property
    def polling(self) -> bool:
        return self.guide is not None and self.guide.is_active and not self.guide.is_stuck


def debrief_card(*, submission: Submission | None) -> DebriefCard:
    guide = DebriefGuide.objects.filter(submission=submission).first() if submission else None
    graded = (
        submission is not None
        and GradingRun.objects.filter(submission=submission, state=GradingRun.DONE, live=True).exists()
    )
    return DebriefCard(submission=submission, guide=guide, enabled=bool(settings.ANTHROPIC_API_KEY), graded=graded)
