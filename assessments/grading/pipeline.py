"""Grading one run on a worker: claim, unpack, probe in the sandbox, store under the lease.

The database is the source of truth; the broker is only a doorbell. A run is claimed with a
conditional update and a fresh lease token; a heartbeat thread keeps the lease alive and
publishes progress; results are written only while the lease is still ours. Anything that
goes wrong on our side (the sandbox did not start, the fake model crashed, the archive on
disk no longer matches its checksum) is an infrastructure fault: the attempt is retried and
never counted against the candidate.
"""

import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, Self

from django.db import connection

from assessments.models import Exercise, GradingRun
from assessments.packages import PackageUnavailable, exercise_dir
from assessments.services import (
    LeaseLost,
    grading_run_claim,
    grading_run_fail_attempt,
    grading_run_finish,
    grading_run_heartbeat,
    grading_run_lease_held,
    grading_run_yield,
)
from core.audit import audit_record
from core.transitions import IllegalTransition
from grader.runner import GradingCancelled
from grader.unpack import ArchiveLimits, ArchiveRejected, unpack_archive

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5
LEASE_CHECK_SECONDS = 1  # how soon a superseded grading notices and stops
# How soon a trial's grading gives its slot to a candidate's: a candidate's upload waits this long
# at most for a worker the trial holds (two small queries per check, per trial grading).
YIELD_CHECK_SECONDS = 0.25


class InfraError(Exception):
    """Our fault, not the candidate's: the attempt is retried."""


class GradeFn(Protocol):
    """``grade_fn(submission_dir, exercise_dir, on_progress, cancel=event) -> (results, isolation)``."""

    def __call__(
        self,
        submission_dir: Path,
        exercise_dir: Path,
        on_progress: Callable[[int, int], None],
        /,
        *,
        cancel: threading.Event,
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]: ...


class Heartbeat:
    """Beats the lease and publishes progress from a thread until stopped.

    It also watches the lease every ``check_every`` seconds between beats: when the run is taken
    away (a newer upload superseded it, the sweeper reclaimed it) ``lost`` is set, which is the
    runner's signal to kill its boxes and stop. A run given ``should_yield`` (a trial's) gives its
    slot back the moment that returns true: it is queued again and ``lost`` is set the same way.
    """

    def __init__(
        self,
        run: GradingRun,
        lease: uuid.UUID,
        interval: float = HEARTBEAT_SECONDS,
        check_every: float = LEASE_CHECK_SECONDS,
        should_yield: Callable[[], bool] | None = None,
    ) -> None:
        self.run, self.lease, self.interval, self.check_every = run, lease, interval, check_every
        self.should_yield = should_yield
        self.lost = threading.Event()
        self._done, self._total = 0, 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"heartbeat-run-{run.pk}")

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval * 2)

    def progress(self, done: int, total: int) -> None:
        with self._lock:
            self._done, self._total = done, total

    def _loop(self) -> None:
        try:
            beaten = time.monotonic()
            while not self._stop.wait(self.check_every):
                if self.should_yield is not None and self.should_yield():
                    grading_run_yield(run=self.run, lease_token=self.lease)
                    self.lost.set()
                    return
                if time.monotonic() - beaten < self.interval:
                    if not grading_run_lease_held(run=self.run, lease_token=self.lease):
                        self.lost.set()
                        return
                    continue
                with self._lock:
                    done, total = self._done, self._total
                try:
                    grading_run_heartbeat(run=self.run, lease_token=self.lease, done=done, total=total)
                except LeaseLost:
                    self.lost.set()
                    return
                beaten = time.monotonic()
        finally:
            # This thread opened its own database connection; do not leak it.
            connection.close()


def _load_archive(run: GradingRun) -> bytes:
    """The upload's bytes from the database every host shares, checked against its sha256."""
    try:
        data: bytes = run.submission.archive_bytes()
    except OSError as exc:  # candidates.models.ArchiveUnavailable: erased, or its bytes changed
        raise InfraError(f"The stored archive cannot be used: {exc}.") from exc
    return data


def _exercise_dir(run: GradingRun) -> tuple[Exercise, Path]:
    """The files of exactly the version the run names, from this host's cache or the stored copy.

    Never another version: a run is graded with the files it was queued for, and a cohort changes
    version only when a manager makes a trial regrade live.
    """
    try:
        return run.exercise, exercise_dir(run.exercise)
    except PackageUnavailable as exc:
        raise InfraError(str(exc)) from exc


def grading_run_execute(
    *, run_id: int, grade_fn: GradeFn, should_yield: Callable[[], bool] | None = None
) -> GradingRun | None:
    """Claim and grade one run. ``grade_fn(submission_dir, exercise_dir, on_progress, cancel=event)``
    returns ``(results, isolation)`` where results are ProbeResult field dicts; it stops early
    (``GradingCancelled``) once ``cancel`` is set, which happens when the lease is lost.

    ``should_yield`` (a trial's run) is asked every ``YIELD_CHECK_SECONDS``; when it says so the run
    is queued again and the grading stops, as when the lease is lost.

    Returns the finished run, or None when there was nothing to do (already taken or done). What
    follows a finished grading across the apps (the invitation is graded, reviewers are assigned)
    is workflows.grading's.
    Raises InfraError after recording a failed attempt, so the caller can retry later.
    """
    try:
        run = GradingRun.objects.select_related("exercise", "submission").get(pk=run_id)
    except GradingRun.DoesNotExist:
        log.warning("grading run %s no longer exists", run_id)
        return None
    try:
        lease = grading_run_claim(run=run)
    except IllegalTransition:
        log.info("grading run %s is %s; nothing to do", run_id, run.state)
        return None

    try:
        archive = _load_archive(run)
        exercise, package_dir = _exercise_dir(run)
        with tempfile.TemporaryDirectory(prefix=f"grade-{run.pk}-") as scratch:
            submission_dir = Path(scratch) / "submission"
            try:
                unpack_archive(archive, submission_dir, ArchiveLimits.from_exercise(exercise.limits))
            except ArchiveRejected as exc:
                # It passed the same checks on upload; failing now means our side changed.
                raise InfraError(f"The stored archive fails unpacking now: {exc}") from exc
            check_every = YIELD_CHECK_SECONDS if should_yield is not None else LEASE_CHECK_SECONDS
            with Heartbeat(run, lease, check_every=check_every, should_yield=should_yield) as heartbeat:
                try:
                    results, isolation = grade_fn(
                        submission_dir, package_dir, heartbeat.progress, cancel=heartbeat.lost
                    )
                except GradingCancelled as exc:
                    audit_record(
                        actor=None,
                        action="grading.stopped",
                        target=run,
                        data={"why": "lease lost", "probes_finished": exc.finished, "probes_total": exc.total},
                    )
                    raise LeaseLost(f"Run {run.pk} was taken away while grading; {exc}.") from None
                if heartbeat.lost.is_set():
                    raise LeaseLost(f"Run {run.pk} was taken back while grading.")
        run = grading_run_finish(run=run, lease_token=lease, results=results, isolation=isolation)
        log.info("grading run %s graded: %d probe results", run.pk, len(results))
    except LeaseLost as exc:
        log.warning("grading run %s: lease lost (%s); another worker or a newer upload owns it now", run_id, exc)
        return None
    except Exception as exc:
        log.exception("grading run %s: infrastructure fault", run_id)
        try:
            grading_run_fail_attempt(run=run, lease_token=lease, error=f"{type(exc).__name__}: {exc}")
        except LeaseLost:
            return None
        raise InfraError(str(exc)) from exc
    return run
