import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from assessments.models import Assessment, Exercise, GradingRun, ProbeResult, Regrade, WorkerHeartbeat
from assessments.packages import package_archive_store
from core.audit import audit_record
from core.transitions import apply_transition
from grader.package import ExercisePackage


class LeaseLost(Exception):
    """The run was taken back (stale heartbeat) or finished by someone else: drop this work."""


def assessment_create(
    *,
    owner: User,
    title: str,
    exercise: Exercise,
    rubric: Any,  # a rubrics.Rubric: that app sits above this one, which may not import it
    closes_at: datetime,
    time_limit_minutes: int | None = None,
    reviewers_per_submission: int = 2,
    reviewers: Iterable[User] = (),
    retention_months: int | None = None,
    ai_policy: str = Assessment.AI_ALLOWED,
) -> Assessment:
    with transaction.atomic():
        assessment = Assessment.objects.create(
            owner=owner,
            title=title,
            exercise=exercise,
            rubric=rubric,
            closes_at=closes_at,
            time_limit_minutes=time_limit_minutes or exercise.time_limit_minutes,
            reviewers_per_submission=reviewers_per_submission,
            retention_months=retention_months,
            ai_policy=ai_policy,
        )
        assessment.reviewers.set(list(reviewers))
        audit_record(
            actor=owner,
            action="assessment.created",
            target=assessment,
            data={"title": title, "exercise": f"{exercise.slug} {exercise.version}"},
        )
    return assessment


# What a manager may change after creating an assessment. Its exercise version changes only through
# a trial regrade made live (Reports → Versions & regrades), so one cohort never mixes versions.
ASSESSMENT_EDITABLE = (
    "title",
    "time_limit_minutes",
    "closes_at",
    "reviewers_per_submission",
    "retention_months",
    "ai_policy",
)


def assessment_update(
    *, assessment: Assessment, actor: User, reviewers: Iterable[User] | None = None, **changes: Any
) -> Assessment:
    unknown = set(changes) - set(ASSESSMENT_EDITABLE)
    if unknown:
        raise ValueError(f"Not editable here: {', '.join(sorted(unknown))}.")
    changed = {field: value for field, value in changes.items() if getattr(assessment, field) != value}
    with transaction.atomic():
        for field, value in changed.items():
            setattr(assessment, field, value)
        if changed:
            assessment.save(update_fields=list(changed))
        audit_data: dict[str, Any] = {field: str(value) for field, value in changed.items()}
        if reviewers is not None:
            wanted = {user.pk for user in reviewers}
            before = set(assessment.reviewers.values_list("pk", flat=True))
            if wanted != before:
                assessment.reviewers.set(list(wanted))
                audit_data["reviewers"] = sorted(wanted)
        if audit_data:
            audit_record(actor=actor, action="assessment.changed", target=assessment, data=audit_data)
    return assessment


def assessment_archive(*, assessment: Assessment, actor: User) -> Assessment:
    """Close the opening for good: no upload is accepted, and it leaves the lists (its data stays)."""
    with transaction.atomic():
        updated = Assessment.objects.filter(pk=assessment.pk, archived_at__isnull=True).update(
            archived_at=timezone.now()
        )
        if updated:
            audit_record(actor=actor, action="assessment.archived", target=assessment, data={})
    assessment.refresh_from_db(fields=["archived_at"])
    return assessment


def assessment_unarchive(*, assessment: Assessment, actor: User) -> Assessment:
    with transaction.atomic():
        updated = Assessment.objects.filter(pk=assessment.pk, archived_at__isnull=False).update(archived_at=None)
        if updated:
            audit_record(actor=actor, action="assessment.unarchived", target=assessment, data={})
    assessment.refresh_from_db(fields=["archived_at"])
    return assessment


# --- Grading runs: the database is the source of truth, the broker only a doorbell ---------------


def grading_run_create(*, submission: Any, exercise: Exercise, trial: Regrade | None = None) -> GradingRun:
    """Create a queued run on exactly ``exercise`` (a trial's run is not live). Sending its task is the
    caller's (workflows.uploads, workflows.regrades), on commit.

    ``submission`` is a candidates.Submission: that app sits above this one, which may not import it.
    """
    return GradingRun.objects.create(submission=submission, exercise=exercise, trial=trial, live=trial is None)


def grading_run_claim(*, run: GradingRun, now: datetime | None = None) -> uuid.UUID:
    """Take a queued run for this worker: a fresh lease token, attempt + 1. Safe to race."""
    now = now or timezone.now()
    token = uuid.uuid4()
    apply_transition(
        run,
        GradingRun.RUNNING,
        lease_token=token,
        heartbeat_at=now,
        started_at=now,
        attempt=run.attempt + 1,
        infra_error="",
    )
    return token


def _under_lease(run: GradingRun, lease_token: uuid.UUID) -> QuerySet[GradingRun]:
    return GradingRun.objects.filter(pk=run.pk, state=GradingRun.RUNNING, lease_token=lease_token)


def grading_run_heartbeat(*, run: GradingRun, lease_token: uuid.UUID, done: int, total: int) -> None:
    updated = _under_lease(run, lease_token).update(
        heartbeat_at=timezone.now(), progress_done=done, progress_total=total
    )
    if not updated:
        raise LeaseLost(f"Run {run.pk} is no longer held by lease {lease_token}.")
    run.progress_done, run.progress_total = done, total


def grading_run_finish(
    *, run: GradingRun, lease_token: uuid.UUID, results: list[dict[str, Any]], isolation: dict[str, Any]
) -> GradingRun:
    """Replace the run's results and mark it done, but only while this worker still holds the lease.

    Re-running the same run is idempotent: the old result set is deleted in the same
    transaction, so there is always exactly one.
    """
    with transaction.atomic():
        locked = _under_lease(run, lease_token).select_for_update().first()
        if locked is None:
            raise LeaseLost(f"Run {run.pk} is no longer held by lease {lease_token}.")
        ProbeResult.objects.filter(run=locked).delete()
        ProbeResult.objects.bulk_create(ProbeResult(run=locked, **result) for result in results)
        apply_transition(
            locked,
            GradingRun.DONE,
            finished_at=timezone.now(),
            isolation=isolation,
            progress_done=len(results),
            progress_total=len(results),
            lease_token=None,
        )
        audit_record(actor=None, action="grading.done", target=locked, data={"results": len(results)})
    return locked


def grading_run_lease_held(*, run: GradingRun, lease_token: uuid.UUID) -> bool:
    """Whether this worker may still work on the run (a resubmission or the sweeper may take it)."""
    return _under_lease(run, lease_token).exists()


def grading_runs_supersede(*, submission: Any) -> list[int]:
    """Stop grading every older upload of the same invitation: a newer one is the one assessed.

    Queued, running and failed runs of older uploads end as ``superseded``; a worker that holds
    one loses its lease, notices within a second or so, kills its boxes and writes nothing. Call
    inside the transaction that stores ``submission`` (a candidates.Submission: that app sits above
    this one, which may not import it).
    """
    older = GradingRun.objects.filter(
        submission__invitation_id=submission.invitation_id,
        submission__number__lt=submission.number,
        state__in=GradingRun.UNFINISHED,
    )
    superseded = []
    for run in older.select_for_update():
        apply_transition(run, GradingRun.SUPERSEDED, lease_token=None, finished_at=timezone.now())
        audit_record(actor=None, action="grading.superseded", target=run, data={"by_submission": submission.number})
        superseded.append(run.pk)
    return superseded


def grading_run_yield(*, run: GradingRun, lease_token: uuid.UUID) -> bool:
    """A trial's run gives its worker slot back to candidates' gradings: queued again, the attempt
    not counted (nothing failed). False when the lease was already gone."""
    updated = _under_lease(run, lease_token).update(
        state=GradingRun.QUEUED,
        lease_token=None,
        attempt=max(0, run.attempt - 1),
        queued_at=timezone.now(),
        progress_done=0,
        progress_total=0,
    )
    if updated:
        audit_record(actor=None, action="grading.yielded", target=run, data={"trial": run.trial_id})
    return bool(updated)


def grading_run_fail_attempt(*, run: GradingRun, lease_token: uuid.UUID, error: str) -> GradingRun:
    """An infrastructure fault: queue the run again, or give up after MAX_ATTEMPTS."""
    target = GradingRun.QUEUED if run.attempt < GradingRun.MAX_ATTEMPTS else GradingRun.FAILED_INFRA
    if not _under_lease(run, lease_token).exists():
        raise LeaseLost(f"Run {run.pk} is no longer held by lease {lease_token}.")
    apply_transition(
        run,
        target,
        lease_token=None,
        infra_error=error[:4000],
        queued_at=timezone.now(),
        finished_at=timezone.now() if target == GradingRun.FAILED_INFRA else None,
    )
    audit_record(
        actor=None, action=f"grading.{target}", target=run, data={"attempt": run.attempt, "error": error[:500]}
    )
    return run


def grading_run_requeue(*, run: GradingRun, actor: User | None) -> GradingRun:
    """Staff send a run that failed on our side back to the queue, with a fresh attempt budget.

    Sending its task is the caller's (workflows.grading.grading_run_regrade), on commit.
    """
    apply_transition(run, GradingRun.QUEUED, attempt=0, queued_at=timezone.now(), finished_at=None)
    audit_record(actor=actor, action="grading.requeued", target=run, data={"previous_error": run.infra_error[:500]})
    return run


def grading_runs_reclaim_stale(*, stale_after: timedelta, now: datetime | None = None) -> list[GradingRun]:
    """Take back running runs whose worker stopped beating (crashed, killed, partitioned)."""
    now = now or timezone.now()
    reclaimed = []
    stale = GradingRun.objects.filter(state=GradingRun.RUNNING, heartbeat_at__lt=now - stale_after)
    for run in stale:
        target = GradingRun.QUEUED if run.attempt < GradingRun.MAX_ATTEMPTS else GradingRun.FAILED_INFRA
        updated = GradingRun.objects.filter(pk=run.pk, state=GradingRun.RUNNING, lease_token=run.lease_token).update(
            state=target,
            lease_token=None,
            queued_at=now,
            infra_error="The grading worker stopped responding; the run was taken back.",
        )
        if updated:
            run.state = target
            reclaimed.append(run)
            audit_record(actor=None, action=f"grading.reclaimed.{target}", target=run, data={"attempt": run.attempt})
    return reclaimed


def worker_heartbeat_record(*, hostname: str, pid: int) -> WorkerHeartbeat:
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"seen_at": timezone.now(), "pid": pid}
    )
    return heartbeat


def worker_grading_state_record(*, hostname: str, pid: int, ready: bool, problem: str = "") -> WorkerHeartbeat:
    """A grading worker's self-check result, with its heartbeat (workflows.worker)."""
    now = timezone.now()
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={
            "seen_at": now,
            "pid": pid,
            "grading_ready": ready,
            "grading_problem": "" if ready else problem[:2000],
            "checked_at": now,
        },
    )
    return heartbeat


class ExerciseSyncError(Exception):
    pass


def version_key(version: str) -> tuple[int, ...]:
    """A version string as numbers to compare ("1.10.0" > "1.9.2"); text around the numbers is ignored."""
    return tuple(int(n) for n in re.findall(r"\d+", version))


def exercise_version_sync(*, package: ExercisePackage, force: bool = False) -> tuple[Exercise, str]:
    """Load one package version's row. Returns (exercise, 'created'|'updated'|'unchanged').

    A version is immutable once synced: submissions record the version they were graded
    against, so changed files under the same version are refused unless forced. Its rubric is
    synced beside it by workflows.exercises.exercise_sync.
    """
    with transaction.atomic():
        existing = Exercise.objects.filter(slug=package.slug, version=package.version).first()
        if existing and existing.checksum != package.checksum and not force:
            raise ExerciseSyncError(
                f"{package.slug} {package.version}: files changed but the version did not. "
                "Bump `version` in exercise.toml (or pass --force in development)."
            )
        fields = {
            "title": package.title,
            "summary": package.summary,
            "checksum": package.checksum,
            "package_path": str(package.path),
            "entry_point": package.entry_point,
            "time_limit_minutes": package.time_limit_minutes,
            "rubric_slug": package.rubric_slug,
            "limits": package.limits.to_json(),
            "contract": package.contract.to_json(),
            "failure_modes": [m.to_json() for m in package.failure_modes],
        }
        # Kept by checksum, so that any worker grades a run of this version with exactly these files.
        package_archive_store(root=package.path, checksum=package.checksum)
        # The highest version is the current one (what new assessments get), whatever order the
        # folders are synced in: an earlier version kept beside it (exercises/previous/) never
        # takes its place.
        newest = max(
            [package.version, *Exercise.objects.filter(slug=package.slug).values_list("version", flat=True)],
            key=version_key,
        )
        current = version_key(package.version) >= version_key(newest)
        if existing and all(getattr(existing, k) == v for k, v in fields.items()) and existing.is_current == current:
            return existing, "unchanged"
        if current:
            Exercise.objects.filter(slug=package.slug, is_current=True).exclude(version=package.version).update(
                is_current=False
            )
        exercise, created = Exercise.objects.update_or_create(
            slug=package.slug,
            version=package.version,
            defaults={**fields, "is_current": current, "synced_at": timezone.now()},
        )
        audit_record(actor=None, action="exercise.synced", target=exercise, data={"checksum": package.checksum})
    return exercise, "created" if created else "updated"


def assessment_set_hiring_bar(*, assessment: Assessment, bar: int | None, actor: User) -> Assessment:
    """Set (or clear, with None) the probe pass rate at or above which a candidate is worth a closer look."""
    if bar is not None and not 0 <= bar <= 100:
        raise ValueError("The hiring bar is a percentage, 0 to 100.")
    previous = assessment.hiring_bar
    assessment.hiring_bar = bar
    assessment.save(update_fields=["hiring_bar"])
    audit_record(actor=actor, action="assessment.hiring_bar", target=assessment, data={"from": previous, "to": bar})
    return assessment
