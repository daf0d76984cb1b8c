"""Can this host grade? Proved before a worker takes grading work, and again until it can.

A worker that cannot grade (the sandbox runtime missing, bubblewrap gone, the fake model unable to
reach the box, an exercise version's files unavailable) must not take a grading: every one would
fail on our side while the dashboard showed a worker online. The check is what a grading does, in
small: the sandbox executor the worker uses starts, one box runs the built-in self-check
submission (``grader/worker-self-check``: it imports the runtime's ``anthropic`` and asks the fake model
through the box's socket), and the files of every version a live assessment or a queued run uses
are present on this host.
"""

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django.db.models import Q

from assessments.models import Exercise, GradingRun
from assessments.packages import PackageUnavailable, exercise_dir
from grader.executors import Executor, ExecutorError
from grader.runner import GradingError, grade
from grader.sandbox import SandboxExecutor
from grader.unpack import unpack_archive, zip_folder

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parents[2] / "grader" / "worker-self-check"


@dataclass(frozen=True)
class SelfCheck:
    ok: bool
    reason: str  # why not, for the log and the dashboard; what was proved when ok
    seconds: float


def live_exercises() -> list[Exercise]:
    """The versions this host may be asked to grade: current ones, those of open assessments and of waiting runs."""
    waiting = GradingRun.objects.filter(state__in=(GradingRun.QUEUED, GradingRun.RUNNING)).values("exercise_id")
    open_assessment = Q(assessments__isnull=False, assessments__archived_at__isnull=True)  # one join, both
    query = Q(is_current=True) | open_assessment | Q(pk__in=waiting)
    return list(Exercise.objects.filter(query).distinct().order_by("slug", "version"))


def grading_self_check(executor: Executor | None = None) -> SelfCheck:
    """Run the check; never raises (a failure is a reason)."""
    started = time.monotonic()

    def result(ok: bool, reason: str) -> SelfCheck:
        return SelfCheck(ok, reason, time.monotonic() - started)

    missing = []
    for exercise in live_exercises():
        try:
            exercise_dir(exercise)
        except PackageUnavailable as exc:
            missing.append(f"{exercise.slug} {exercise.version}: {exc}")
    if missing:
        return result(False, f"exercise files unavailable: {'; '.join(missing)}"[:1000])

    # The executor gradings use: without bubblewrap and with SANDBOX_ALLOW_UNSAFE on, that is the
    # unsandboxed one (a development set-up, said on every run); the check proves what it can do.
    executor = executor or SandboxExecutor.from_settings()
    try:
        with tempfile.TemporaryDirectory(prefix="self-check-") as tmp:
            # Through the same unpacking as an upload, so the box sees what it sees in a grading.
            submission = Path(tmp) / "submission"
            unpack_archive(zip_folder(PACKAGE / "submission"), submission)
            report = grade(submission, PACKAGE, executor=executor, workers=1)
    except (GradingError, ExecutorError) as exc:
        return result(False, str(exc)[:1000])
    except Exception as exc:  # a check that cannot run is a failed check, never a crashed worker
        log.exception("the grading self-check could not run")
        return result(False, f"the check could not run: {type(exc).__name__}: {exc}"[:1000])
    finally:
        close = getattr(executor, "close", None)
        if close is not None:
            close()
    (outcome,) = report.outcomes
    if outcome.outcome != "pass":
        return result(False, f"a box could not run the check: {outcome.reason}"[:1000])
    return result(True, outcome.reason)
