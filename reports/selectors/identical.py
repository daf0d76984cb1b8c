"""Uploads byte-identical (the same sha256) to an upload of another candidate: worth a look, not a verdict.

Identical bytes can have an innocent cause (one person invited under two emails, a shared
template, a starter uploaded twice), so the reports only point at the pair and link both ways.

Only ever within one owner's assessments: a manager must not learn, even by a name in a notice,
of another team's candidates. The scope is the owner of the assessment being read, whoever reads it.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count

from assessments.models import Assessment
from candidates.models import Invitation, Submission


@dataclass(frozen=True)
class IdenticalUpload:
    """One of our uploads (``number``) and another candidate's upload with the same bytes."""

    number: int
    other_name: str
    other_invitation_id: int
    other_assessment_id: int
    other_assessment_title: str
    other_number: int
    other_uploaded_at: datetime


def identical_uploads(
    *, assessment: Assessment, invitation: Invitation | None = None
) -> dict[int, list[IdenticalUpload]]:
    """By invitation id (``invitation``'s alone, else every one of ``assessment``): the uploads of
    other candidates, in any assessment of the same owner, whose sha256 equals one of theirs.

    One query, whatever the number of candidates: only digests that two candidates share come back.
    """
    scope = Submission.objects.filter(invitation__assessment__owner_id=assessment.owner_id)
    ours = scope.filter(invitation__assessment=assessment)
    if invitation is not None:
        ours = ours.filter(invitation=invitation)
    shared = (
        scope.values("sha256")
        .annotate(candidates=Count("invitation__candidate", distinct=True))
        .filter(candidates__gt=1)
        .values("sha256")
    )
    rows = (
        scope.filter(sha256__in=ours.values("sha256"))
        .filter(sha256__in=shared)
        .order_by("created_at", "pk")
        .values_list(
            "sha256",
            "number",
            "created_at",
            "invitation_id",
            "invitation__candidate_id",
            "invitation__candidate__name",
            "invitation__assessment_id",
            "invitation__assessment__title",
        )
    )
    by_digest: dict[str, list[_Upload]] = defaultdict(list)
    for row in rows:
        by_digest[row[0]].append(_Upload(*row[1:]))
    found: dict[int, list[IdenticalUpload]] = defaultdict(list)
    for uploads in by_digest.values():
        for mine in uploads:
            is_ours = mine.invitation_id == invitation.pk if invitation else mine.assessment_id == assessment.pk
            if is_ours:
                found[mine.invitation_id].extend(
                    _identical(mine, other) for other in uploads if other.candidate_id != mine.candidate_id
                )
    for matches in found.values():
        matches.sort(key=lambda m: (-m.number, m.other_uploaded_at))
    return dict(found)


@dataclass(frozen=True)
class _Upload:
    number: int
    created_at: datetime
    invitation_id: int
    candidate_id: int
    candidate_name: str
    assessment_id: int
    assessment_title: str


def _identical(mine: _Upload, other: _Upload) -> IdenticalUpload:
    return IdenticalUpload(
        number=mine.number,
        other_name=other.candidate_name,
        other_invitation_id=other.invitation_id,
        other_assessment_id=other.assessment_id,
        other_assessment_title=other.assessment_title,
        other_number=other.number,
        other_uploaded_at=other.created_at,
    )
