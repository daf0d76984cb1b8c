"""The manager's dashboard: what needs them, per open assessment, and how far candidates got.

"Needs you" is what only the manager can move on: candidates whose reviews are all in and who wait
for a decision, disagreements between reviewers, graded uploads short of reviewers. The reach
counts are a funnel (how many got at least this far), not the current states: a candidate who
uploaded and was then withdrawn still counts as having submitted.
"""

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from assessments.models import Assessment, GradingRun
from assessments.selectors import assessments_owned_by
from candidates.models import Invitation, Submission
from rubrics.models import Disagreement, Review

REACH_STAGES = [
    ("invited", "Invited"),
    ("started", "Started"),
    ("submitted", "Submitted"),
    ("graded", "Graded"),
    ("reviewed", "Reviewed"),
    ("decided", "Decided"),
]


@dataclass(frozen=True)
class AssessmentTasks:
    assessment: Assessment
    to_decide: int
    disagreements: int
    needs_reviewers: int

    @property
    def any(self) -> bool:
        return bool(self.to_decide or self.disagreements or self.needs_reviewers)


def _open_assessments(user: User) -> QuerySet[Assessment]:
    return assessments_owned_by(user).filter(archived_at__isnull=True)


def manager_tasks(*, user: User) -> list[AssessmentTasks]:
    """Per open assessment of this manager, the work waiting for them (only assessments with some)."""
    assessments = list(_open_assessments(user).order_by("-created_at"))
    ids = [a.pk for a in assessments]
    to_decide = dict(
        Invitation.objects.filter(assessment_id__in=ids, state=Invitation.REVIEWED)
        .values_list("assessment_id")
        .annotate(n=Count("pk"))
    )
    disagreements = dict(
        Disagreement.objects.filter(resolved_at__isnull=True, submission__invitation__assessment_id__in=ids)
        .values_list("submission__invitation__assessment_id")
        .annotate(n=Count("pk"))
    )
    newer = Submission.objects.filter(invitation=OuterRef("invitation"), number__gt=OuterRef("number"))
    active_reviews = (
        Review.objects.filter(submission=OuterRef("pk"))
        .exclude(state=Review.WITHDRAWN)
        .values("submission")
        .annotate(n=Count("pk"))
        .values("n")
    )
    short = dict(
        Submission.objects.filter(
            invitation__assessment_id__in=ids, invitation__state__in=[Invitation.GRADED, Invitation.REVIEWED]
        )
        # A subquery, not an aggregate: the grouping below is per assessment, and an aggregate here
        # would then count every review of the assessment instead of this upload's.
        .annotate(is_latest=~Exists(newer), active=Coalesce(Subquery(active_reviews), 0))
        .filter(is_latest=True, active__lt=F("invitation__assessment__reviewers_per_submission"))
        .values_list("invitation__assessment_id")
        .annotate(n=Count("pk", distinct=True))
    )
    tasks = [
        AssessmentTasks(
            assessment=a,
            to_decide=to_decide.get(a.pk, 0),
            disagreements=disagreements.get(a.pk, 0),
            needs_reviewers=short.get(a.pk, 0),
        )
        for a in assessments
    ]
    return [t for t in tasks if t.any]


def assessments_with_reach(*, user: User) -> QuerySet[Assessment]:
    """The manager's open assessments, each with how many candidates got at least as far as each stage."""
    done = GradingRun.objects.filter(submission__invitation=OuterRef("pk"), live=True, state=GradingRun.DONE)
    graded_ids = Invitation.objects.annotate(graded=Exists(done)).filter(graded=True).values("pk")
    return (
        _open_assessments(user)
        .select_related("exercise")
        .annotate(
            reach_invited=Count("invitations", distinct=True),
            reach_started=Count("invitations", filter=Q(invitations__started_at__isnull=False), distinct=True),
            reach_submitted=Count("invitations", filter=Q(invitations__submissions__isnull=False), distinct=True),
            reach_graded=Count("invitations", filter=Q(invitations__pk__in=graded_ids), distinct=True),
            reach_reviewed=Count(
                "invitations",
                filter=Q(invitations__state__in=[Invitation.REVIEWED, Invitation.DECIDED]),
                distinct=True,
            ),
            reach_decided=Count("invitations", filter=Q(invitations__state=Invitation.DECIDED), distinct=True),
        )
        .order_by("-created_at")
    )
