"""How long a candidate waits for their grading while a trial regrade is running, versus with none.

A candidate's upload goes through ``workflows.uploads.submission_accept``; the figure is the time
from that call to its live GradingRun being done (``finished_at``), (a) with no trial open and (b)
while a trial regrade of ``--trial-size`` submissions is running with both worker slots busy on
trial gradings when the upload arrives (a trial run gives its slot back within about a second once
a live grading is waiting: ``workflows.regrades``). The conditions alternate (without, with,
without, ...), ``--repeat`` times each, after one untimed warm-up grading. Prints per round the
time to done, split into the wait for a worker slot and the grading itself, the trial runs that
yielded, then the median / min / max per condition, their difference, and the load averages.

Everything is real and like production (scripts/run-dev): the help-desk exercise synced through
``exercise_sync``, its reference solution (as submissions.toml names it) as the upload, graded in
the bubblewrap sandbox by one ``celery worker`` subprocess with concurrency 2 consuming
``default,grading,regrade``. Only the trial's cohort is built cheaply: its invitations' uploads
(the starter kit by default) get a done live run straight through the services, never graded, so
the trial starts with all of them queued. The trial is discarded after each round.

It runs against its own PostgreSQL database (``bench_regrade_<pid>``, created and dropped on the
server ``--postgres`` names), its own redis-server on a free port as the broker, and its own
VAR_DIR (var/bench-regrade-<pid>: uploads, the exercise cache), so it touches nothing else.

    .venv/bin/python bench/bench_regrade_priority.py [--repeat 3] [--trial-size 200]
        [--trial-archive starter|reference] [--postgres postgres://postgres@127.0.0.1:5432/postgres]

Needs root, bubblewrap, the sandbox runtime (scripts/build-sandbox-runtime) and redis-server.
About (2 x repeat + 1) gradings of ~45 s each on two cores, plus set-up: ~6 minutes at --repeat 3.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import sys
import time
import tomllib
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXERCISE = ROOT / "exercises" / "helpdesk-answerer"
QUEUES = ("default", "grading", "regrade")  # as scripts/run-dev's worker consumes them
DB_NAME = f"bench_regrade_{os.getpid()}"
VAR_DIR = ROOT / "var" / f"bench-regrade-{os.getpid()}"


# --- Private services: a database, a broker, a VAR_DIR ---------------------------------------------


def _server_url(postgres: str, name: str) -> str:
    return f"{postgres.rsplit('/', 1)[0]}/{name}"


def _create_database(postgres: str) -> None:
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def _drop_database(postgres: str) -> None:
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def _setup_django(postgres: str, broker: str) -> None:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "TEST_RUN_ID": f"bench-regrade-{os.getpid()}",
            "DATABASE_URL": _server_url(postgres, DB_NAME),
            "CELERY_BROKER_URL": broker,
            "VAR_DIR": str(VAR_DIR),
            "EXERCISE_DIRS": str(ROOT / "exercises"),
        }
    )
    import django

    django.setup()


# --- The data: the exercise, an assessment, the trial's cohort --------------------------------------


def _reference_folder() -> Path:
    """The folder submissions.toml names as the reference (the submission named "reference")."""
    spec = tomllib.loads((EXERCISE / "submissions.toml").read_text())
    for entry in spec.get("submission", []):
        if entry.get("name") == "reference":
            return EXERCISE / entry["path"]
    return EXERCISE / "reference"


def _build(trial_size: int, trial_archive: bytes):
    """The exercise, a manager and two reviewers, an assessment, and ``trial_size`` candidates each
    with one upload whose live run is done (fake results, never graded: no message is sent)."""
    from django.contrib.auth.models import Group, User
    from django.db import transaction
    from django.utils import timezone

    from assessments.services import assessment_create, grading_run_claim, grading_run_create, grading_run_finish
    from candidates.services import (
        candidate_get_or_create,
        invitation_create,
        invitation_mark_graded,
        invitation_start,
        submission_store,
    )
    from core.roles import MANAGERS, REVIEWERS, ensure_role_groups
    from grader.package import load_package
    from rubrics.models import Rubric
    from tests.builders import probe_results
    from workflows.exercises import exercise_sync

    ensure_role_groups()
    manager = User.objects.create_user("bench-manager")
    manager.groups.add(Group.objects.get(name=MANAGERS))
    for name in ("bench-r1", "bench-r2"):
        User.objects.create_user(name).groups.add(Group.objects.get(name=REVIEWERS))
    exercise, _ = exercise_sync(package=load_package(EXERCISE))
    assessment = assessment_create(
        owner=manager,
        title="Bench regrade priority",
        exercise=exercise,
        rubric=Rubric.objects.get(slug=exercise.rubric_slug),
        closes_at=timezone.now() + timedelta(days=7),
    )
    results = probe_results([("grounding", "pass"), ("injection", "pass"), ("load", "fail")])
    with transaction.atomic():
        for i in range(trial_size):
            candidate = candidate_get_or_create(name=f"Cohort {i}", email=f"cohort-{i}@example.com")
            invitation, _ = invitation_create(assessment=assessment, candidate=candidate, invited_by=manager)
            invitation_start(invitation=invitation)
            submission = submission_store(invitation=invitation, archive=trial_archive)
            run = grading_run_create(submission=submission, exercise=exercise)
            grading_run_finish(run=run, lease_token=grading_run_claim(run=run), results=results, isolation={})
            invitation_mark_graded(invitation=invitation)
    return manager, assessment


# --- Watching the broker and the runs ----------------------------------------------------------------


def _broker_idle(redis_client) -> bool:
    """Nothing waiting in the worker's queues and nothing delivered but unacknowledged (running
    tasks and the ETA retries a worker holds are both in kombu's ``unacked`` hash)."""
    waiting = sum(redis_client.llen(q) for q in QUEUES)
    return waiting == 0 and redis_client.hlen("unacked") == 0


def _wait(predicate, *, timeout: float, what: str, interval: float = 0.2, worker=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if worker is not None and worker.proc.poll() is not None:
            raise RuntimeError("the Celery worker exited:\n" + "\n".join(list(worker.output)[-40:]))
        time.sleep(interval)
    tail = "\n".join(list(worker.output)[-40:]) if worker is not None else ""
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


def _quiesce(redis_client, worker, timeout: float = 120) -> float:
    """Wait until no run is running and the broker is idle (a discarded trial's drivers have seen
    it closed and stopped). Returns the seconds waited."""
    from assessments.models import GradingRun

    started = time.monotonic()
    _wait(
        lambda: not GradingRun.objects.filter(state=GradingRun.RUNNING).exists() and _broker_idle(redis_client),
        timeout=timeout,
        what="the worker to go idle",
        interval=0.5,
        worker=worker,
    )
    return time.monotonic() - started


# --- One measured upload -----------------------------------------------------------------------------


class Round:
    def __init__(self, condition: str, number: int) -> None:
        self.condition, self.number = condition, number
        self.total_s = self.wait_s = self.grading_s = 0.0
        self.state = ""
        self.results = 0
        self.points = 0.0  # a pass 1, a graded probe its score: the figure the reports rate by
        self.yields: list[float] = []  # seconds after the upload, one per trial run that yielded
        self.trial_running_at_upload = 0
        self.trial_running_beside_live = 0  # most trial runs RUNNING while the live run ran (after 2 s)
        self.trial_done = 0
        self.load: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def line(self) -> str:
        text = (
            f"{self.condition:<14} #{self.number}: to done {self.total_s:6.1f} s "
            f"(wait for a slot {self.wait_s:5.1f} s, grading {self.grading_s:5.1f} s), "
            f"{self.state} {self.points:g}/{self.results} points; load {self.load[0]:.2f}"
        )
        if self.condition != "without trial":
            yields = ", ".join(f"{y:.1f}" for y in self.yields) or "none"
            text += (
                f"\n{'':<17}trial: {self.trial_running_at_upload} runs RUNNING at upload; yielded at +[{yields}] s; "
                f"at most {self.trial_running_beside_live} RUNNING beside the live grading; "
                f"{self.trial_done} trial runs done before the discard"
            )
        return text


def _measure_upload(
    round_: Round, *, assessment, manager, archive: bytes, index: int, timeout: float, worker, trial=None
) -> Round:
    from django.utils import timezone

    from assessments.models import GradingRun, OutcomeCounts
    from candidates.models import Invitation
    from candidates.services import candidate_get_or_create, invitation_create, invitation_start, invitation_withdraw
    from core.models import AuditEvent
    from workflows.uploads import submission_accept

    candidate = candidate_get_or_create(name=f"Measured {index}", email=f"measured-{index}@example.com")
    invitation, _ = invitation_create(assessment=assessment, candidate=candidate, invited_by=manager)
    invitation_start(invitation=invitation)
    round_.load = os.getloadavg()
    if trial is not None:
        round_.trial_running_at_upload = GradingRun.objects.filter(trial=trial, state=GradingRun.RUNNING).count()

    since = timezone.now()
    t0 = time.time()
    submission = submission_accept(invitation=invitation, archive=archive)
    run = submission.grading_runs.get(live=True)

    deadline = time.monotonic() + timeout
    while True:
        state = GradingRun.objects.filter(pk=run.pk).values_list("state", flat=True).get()
        if state in (GradingRun.DONE, GradingRun.FAILED_INFRA, GradingRun.SUPERSEDED):
            break
        if trial is not None and state == GradingRun.RUNNING:
            started = GradingRun.objects.filter(pk=run.pk).values_list("started_at", flat=True).get()
            if started and time.time() - started.timestamp() > 2:
                beside = GradingRun.objects.filter(trial=trial, state=GradingRun.RUNNING).count()
                round_.trial_running_beside_live = max(round_.trial_running_beside_live, beside)
        if worker.proc.poll() is not None:
            raise RuntimeError("the Celery worker exited:\n" + "\n".join(list(worker.output)[-40:]))
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run.pk} not done after {timeout:.0f} s (state {state})")
        time.sleep(0.1)

    run.refresh_from_db()
    round_.state = run.state
    finished = (run.finished_at or timezone.now()).timestamp()
    round_.total_s = finished - t0
    round_.wait_s = (run.started_at.timestamp() - t0) if run.started_at else float("nan")
    round_.grading_s = (finished - run.started_at.timestamp()) if run.started_at else float("nan")
    round_.results = run.results.count()
    counts = OutcomeCounts()
    for outcome, score in run.results.values_list("outcome", "score"):
        counts.add(outcome, score)
    round_.points = round(counts.points, 3)
    yielded = AuditEvent.objects.filter(action="grading.yielded", created_at__gte=since).order_by("created_at")
    round_.yields = [e.created_at.timestamp() - t0 for e in yielded]
    if trial is not None:
        round_.trial_done = GradingRun.objects.filter(trial=trial, state=GradingRun.DONE).count()
    # Out of the cohort again, so that every trial is of exactly --trial-size uploads.
    # The worker marks the invitation graded just after the run is done: withdraw after that.
    deadline = time.monotonic() + 30
    invitation.refresh_from_db()
    while invitation.state == Invitation.SUBMITTED and time.monotonic() < deadline:
        time.sleep(0.2)
        invitation.refresh_from_db()
    invitation_withdraw(invitation=invitation, actor=manager, reason="benchmark upload")
    if run.state != GradingRun.DONE:
        raise RuntimeError(f"the measured grading ended {run.state}: {run.infra_error}")
    return round_


def _with_trial(round_: Round, *, assessment, manager, settle: float, worker, **kwargs) -> Round:
    from assessments.models import GradingRun
    from workflows.regrades import regrade_discard, regrade_start

    regrade = regrade_start(assessment=assessment, exercise=assessment.exercise, actor=manager)
    try:
        queued = GradingRun.objects.filter(trial=regrade).count()
        running = lambda: GradingRun.objects.filter(trial=regrade, state=GradingRun.RUNNING).count() >= 2  # noqa: E731
        _wait(running, timeout=120, what="two trial runs RUNNING", worker=worker)
        time.sleep(settle)  # both trial gradings well under way: boxes up, probes running
        _wait(running, timeout=120, what="two trial runs RUNNING (after settling)", worker=worker)
        print(f"  trial {regrade.pk}: {queued} runs queued, 2 RUNNING; uploading", flush=True)
        return _measure_upload(round_, assessment=assessment, manager=manager, worker=worker, trial=regrade, **kwargs)
    finally:
        regrade_discard(regrade=regrade, actor=manager)


# --- Main --------------------------------------------------------------------------------------------


def _summary(label: str, values: list[float]) -> str:
    return (
        f"{label:<16}{len(values):>3}{statistics.median(values):>10.1f}{min(values):>9.1f}{max(values):>9.1f}"
        if values
        else f"{label:<16}  0"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="Rounds per condition (alternating; default 3)")
    parser.add_argument("--trial-size", type=int, default=200, help="Uploads in the trial's cohort (default 200)")
    parser.add_argument(
        "--trial-archive", choices=("starter", "reference"), default="starter", help="What the cohort uploaded"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="A PostgreSQL server (any database on it); bench_regrade_<pid> is created and dropped there",
    )
    parser.add_argument("--settle", type=float, default=3.0, help="Seconds both trial runs run before the upload")
    parser.add_argument("--timeout", type=float, default=600, help="Seconds one measured grading may take")
    parser.add_argument("--no-warmup", action="store_true", help="Skip the untimed first grading")
    parser.add_argument("--keep", action="store_true", help="Keep the database and VAR_DIR afterwards")
    args = parser.parse_args()
    if args.repeat < 1 or args.trial_size < 2:
        parser.error("--repeat must be >= 1 and --trial-size >= 2 (both worker slots need a trial run)")

    load_start = os.getloadavg()
    # The broker's URL goes into Django's settings, and tests.workers (its redis-server) needs Django.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        broker_port = probe.getsockname()[1]
    _setup_django(args.postgres, f"redis://127.0.0.1:{broker_port}/0")
    from tests.workers import RedisServer

    redis_server = RedisServer(port=broker_port).start()
    _create_database(args.postgres)
    worker = None
    try:
        import redis
        from django.conf import settings
        from django.core.management import call_command

        from assessments.models import GradingRun
        from core.models import AuditEvent
        from tests.builders import zip_folder
        from tests.workers import WorkerProcess

        call_command("migrate", verbosity=0)
        reference = zip_folder(_reference_folder())
        trial_archive = reference if args.trial_archive == "reference" else zip_folder(EXERCISE / "starter")
        started = time.monotonic()
        manager, assessment = _build(args.trial_size, trial_archive)
        print(
            f"database {DB_NAME} (PostgreSQL), broker {redis_server.url} (private redis-server), VAR_DIR {VAR_DIR}\n"
            f"built the cohort: {args.trial_size} uploads ({args.trial_archive} kit) with done live runs in "
            f"{time.monotonic() - started:.1f} s; upload measured: {_reference_folder().relative_to(ROOT)}\n"
            f"REGRADE_PARALLEL={settings.REGRADE_PARALLEL} REGRADE_YIELD_DELAY_S={settings.REGRADE_YIELD_DELAY_S} "
            f"GRADING_PARALLEL_PROBES={settings.GRADING_PARALLEL_PROBES}; {os.cpu_count()} cores; "
            f"load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}",
            flush=True,
        )
        broker = redis.Redis.from_url(redis_server.url)
        worker = WorkerProcess(queues=",".join(QUEUES), concurrency=2).start()
        print(f"worker started: celery worker -Q {','.join(QUEUES)} -c 2 (pid {worker.proc.pid})", flush=True)

        common = {"assessment": assessment, "manager": manager, "archive": reference, "timeout": args.timeout}
        index = 0
        if not args.no_warmup:
            warm = _measure_upload(Round("warm-up", 0), index=index, worker=worker, **common)
            index += 1
            print(f"warm-up (not counted): {warm.total_s:.1f} s, {warm.points:g}/{warm.results} points", flush=True)
            _quiesce(broker, worker)

        rounds: list[Round] = []
        for number in range(1, args.repeat + 1):
            for condition in ("without trial", "with trial"):
                round_ = Round(condition, number)
                if condition == "with trial":
                    _with_trial(round_, settle=args.settle, worker=worker, index=index, **common)
                else:
                    _measure_upload(round_, index=index, worker=worker, **common)
                index += 1
                waited = _quiesce(broker, worker)
                print(round_.line() + f"  [idle again after {waited:.1f} s]", flush=True)
                rounds.append(round_)

        without = [r.total_s for r in rounds if r.condition == "without trial"]
        with_ = [r.total_s for r in rounds if r.condition == "with trial"]
        load_end = os.getloadavg()
        total_yields = AuditEvent.objects.filter(action="grading.yielded").count()
        stopped = AuditEvent.objects.filter(action="grading.stopped").count()
        print()
        print(f"time from submission_accept to the live run DONE, {args.repeat} rounds per condition (s):")
        print(f"{'condition':<16}{'n':>3}{'median':>10}{'min':>9}{'max':>9}")
        print(_summary("without trial", without))
        print(_summary("with trial", with_))
        diff = statistics.median(with_) - statistics.median(without)
        print(
            f"difference (median with - median without): {diff:+.1f} s "
            f"({diff / statistics.median(without) * 100:+.1f} %)"
        )
        for label, cond in (("wait for a slot", "wait_s"), ("grading itself", "grading_s")):
            w = statistics.median(getattr(r, cond) for r in rounds if r.condition == "without trial")
            t = statistics.median(getattr(r, cond) for r in rounds if r.condition == "with trial")
            print(f"  of which {label:<16} median without {w:5.1f} s, with {t:5.1f} s ({t - w:+.1f} s)")
        first_yields = [min(r.yields) for r in rounds if r.condition == "with trial" and r.yields]
        last_yields = [max(r.yields) for r in rounds if r.condition == "with trial" and r.yields]
        print(
            f"trial runs yielded (audit grading.yielded): {total_yields} in all "
            f"({', '.join(str(len(r.yields)) for r in rounds if r.condition == 'with trial')} per trial round); "
            f"grading.stopped events: {stopped}"
        )
        if first_yields:
            print(
                f"  first yield after the upload: median {statistics.median(first_yields):.1f} s; "
                f"last: median {statistics.median(last_yields):.1f} s"
            )
        print(
            f"most trial runs RUNNING beside a live grading (2 s after it started): "
            f"{max((r.trial_running_beside_live for r in rounds if r.condition == 'with trial'), default=0)}"
        )
        print(
            f"load average: start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, "
            f"per round {' '.join(f'{r.load[0]:.2f}' for r in rounds)}, "
            f"end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f} ({os.cpu_count()} cores)"
        )
        live_failed = GradingRun.objects.filter(live=True, state=GradingRun.FAILED_INFRA).count()
        if live_failed:
            print(f"WARNING: {live_failed} live runs failed on our side")
        return 0
    finally:
        if worker is not None:
            worker.stop()
            if worker.proc is not None:
                # Anything left in the worker's own process group (its session is ours).
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.proc.pid, signal.SIGKILL)
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        redis_server.stop()
        if args.keep:
            print(f"kept database {DB_NAME} and {VAR_DIR}")
        else:
            _drop_database(args.postgres)
            shutil.rmtree(VAR_DIR, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
