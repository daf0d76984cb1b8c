from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import overload

from django.contrib.auth.models import User
from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from assessments.models import Assessment, Exercise, GradingRun, WorkerHeartbeat

WORKER_FRESH_FOR = timedelta(minutes=3)


def assessments_owned_by(user: User, qs: QuerySet[Assessment] | None = None) -> QuerySet[Assessment]:
    """The assessments a manager may see: their own, or every one for a superuser."""
    qs = Assessment.objects.all() if qs is None else qs
    return qs if user.is_superuser else qs.filter(owner=user)


def owned_assessment_or_404(*, user: User, pk: int) -> Assessment:
    """The assessment if this manager owns it (any, for a superuser); else 404, so another's is not even named.

    The one owner check of every manager view on an assessment (its page, reviews, reports).
    """
    qs = assessments_owned_by(user, Assessment.objects.select_related("exercise", "rubric", "owner"))
    return get_object_or_404(qs, pk=pk)


def workers_online(*, now: datetime | None = None) -> list[WorkerHeartbeat]:
    now = now or timezone.now()
    return list(WorkerHeartbeat.objects.filter(seen_at__gte=now - WORKER_FRESH_FOR).order_by("hostname"))


@dataclass(frozen=True)
class GradingAvailability:
    """What the staff dashboard says about grading: who can grade, who cannot and why."""

    ready: list[WorkerHeartbeat]  # proved they can grade (or do not check: GRADING_SELF_CHECK off)
    unavailable: list[WorkerHeartbeat]  # consume the grading queues but failed their self-check


def grading_availability(*, now: datetime | None = None) -> GradingAvailability:
    workers = workers_online(now=now)
    return GradingAvailability(
        ready=[w for w in workers if w.grading_ready is not False],
        unavailable=[w for w in workers if w.grading_ready is False],
    )


def grading_failures(*, user: User) -> list[GradingRun]:
    """Candidates' gradings that failed on our side after every attempt, in this manager's open assessments."""
    qs = GradingRun.objects.filter(
        state=GradingRun.FAILED_INFRA, live=True, submission__invitation__assessment__archived_at__isnull=True
    )
    if not user.is_superuser:
        qs = qs.filter(submission__invitation__assessment__owner=user)
    return list(
        qs.select_related("submission__invitation__candidate", "submission__invitation__assessment").order_by(
            "-finished_at", "-pk"
        )[:50]
    )


def grading_counts(*, user: User) -> dict[str, int]:
    """Live gradings by state, in this manager's assessments (every one, for a superuser)."""
    qs = GradingRun.objects.filter(live=True)
    if not user.is_superuser:
        qs = qs.filter(submission__invitation__assessment__owner=user)
    rows = qs.values("state").annotate(n=Count("id"))
    counts = {state: 0 for state, _ in GradingRun.STATES}
    counts.update({row["state"]: row["n"] for row in rows})
    return counts


# --- Failure modes, as the exercise version words them ---------------------------------------------


@dataclass(frozen=True)
class FailureModeInfo:
    """One failure mode as a package declares it: ``hint`` is for candidates, ``description`` for staff."""

    slug: str
    title: str
    hint: str = ""
    description: str = ""
    declared: bool = True  # False: a slug found in stored results that the version does not declare


def title_from_slug(slug: str) -> str:
    """ "rate-limits" -> "Rate limits": the title of a mode no exercise version declares."""
    words = " ".join(slug.replace("_", "-").split("-")).strip()
    return words[:1].upper() + words[1:] if words else "Unnamed failure mode"


class FailureModes(Sequence[FailureModeInfo]):
    """An exercise version's failure modes in the package's order.

    Every page that shows modes asks this for their titles, hints and order; a slug the version
    does not declare (results stored under an older version, a hand-made row) gets a title made
    from the slug and sorts after the declared ones, so old data never breaks a page.
    """

    def __init__(self, modes: Iterable[FailureModeInfo] = ()) -> None:
        self._modes: list[FailureModeInfo] = []
        self._by_slug: dict[str, FailureModeInfo] = {}
        for mode in modes:
            if mode.slug not in self._by_slug:
                self._modes.append(mode)
                self._by_slug[mode.slug] = mode

    @classmethod
    def from_json(cls, data: object) -> "FailureModes":
        """From ``Exercise.failure_modes``; anything malformed in the stored JSON is skipped, not raised."""
        modes = []
        for item in data if isinstance(data, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("slug"), str) or not item["slug"]:
                continue
            slug = item["slug"]
            modes.append(
                FailureModeInfo(
                    slug=slug,
                    title=_str(item.get("title")) or title_from_slug(slug),
                    hint=_str(item.get("hint")),
                    description=_str(item.get("description")),
                )
            )
        return cls(modes)

    @overload
    def __getitem__(self, index: int) -> FailureModeInfo: ...
    @overload
    def __getitem__(self, index: slice) -> list[FailureModeInfo]: ...
    def __getitem__(self, index: int | slice) -> FailureModeInfo | list[FailureModeInfo]:
        return self._modes[index]

    def __len__(self) -> int:
        return len(self._modes)

    def __repr__(self) -> str:
        return f"FailureModes({[m.slug for m in self._modes]!r})"

    @property
    def slugs(self) -> list[str]:
        return [m.slug for m in self._modes]

    def get(self, slug: str) -> FailureModeInfo:
        return self._by_slug.get(slug) or FailureModeInfo(slug=slug, title=title_from_slug(slug), declared=False)

    def title(self, slug: str) -> str:
        return self.get(slug).title

    def sort_key(self, slug: str) -> tuple[int, str]:
        """Declared modes in the package's order, then undeclared ones by slug."""
        mode = self._by_slug.get(slug)
        return (self._modes.index(mode), "") if mode else (len(self._modes), slug)

    def ordered(self, slugs: Iterable[str]) -> list[FailureModeInfo]:
        """The modes of ``slugs`` (each once) in display order."""
        return [self.get(slug) for slug in sorted(set(slugs), key=self.sort_key)]

    def merged(self, other: "FailureModes") -> "FailureModes":
        """These modes, then those only ``other`` declares (this one's wording wins for a shared slug)."""
        return FailureModes([*self._modes, *other])


def _str(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def exercise_failure_modes(exercise: Exercise | None) -> FailureModes:
    return FailureModes.from_json(exercise.failure_modes if exercise is not None else [])


def run_failure_modes(run: GradingRun) -> FailureModes:
    """The modes to show a run's results under: its version's, then the assessment's for any other slug."""
    own = exercise_failure_modes(run.exercise)
    return own.merged(exercise_failure_modes(run.submission.invitation.assessment.exercise))


def assessment_failure_modes(*, assessment: Assessment, versions: Iterable[str] = ()) -> FailureModes:
    """The modes of the assessment's exercise, then those only the other ``versions`` (of the same
    exercise, that some candidates were graded under) declare: the catalogue of a report across a cohort."""
    modes = exercise_failure_modes(assessment.exercise)
    others = sorted(set(versions) - {assessment.exercise.version})
    if others:
        for exercise in Exercise.objects.filter(slug=assessment.exercise.slug, version__in=others).order_by(
            "-synced_at"
        ):
            modes = modes.merged(exercise_failure_modes(exercise))
    return modes


def exercise_version_checksum(*, slug: str, version: str) -> str | None:
    """The checksum recorded when this version of the package was synced, or None if it never was."""
    return Exercise.objects.filter(slug=slug, version=version).values_list("checksum", flat=True).first()
