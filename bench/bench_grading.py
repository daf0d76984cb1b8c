"""Grading benchmarks: the sandbox's cost, and throughput against worker processes. Prints; asserts nothing.

1. A full grading of the help-desk reference in the bubblewrap sandbox (warm boxes, and a fresh box
   per probe as before them), with the fork-server executor (unsandboxed, the floor) and with plain
   subprocesses (SANDBOX_ALLOW_UNSAFE), same machine, same run, alternating: medians, the
   boxed/unboxed ratio (the goal is <= 1.15x the fork server) and the ratio to the longest probe
   (the goal is <= 1.5x).
2. Gradings per hour by real Celery workers (the production task, the sandbox, the self-check)
   with 1, 2 and 4 worker processes, on the tiny-echo fixture (two quick probes) and on the
   help-desk reference (68 probes), with the scaling ratio and the peak memory the machine used
   above its idle level: what the README's "sizing workers" figures come from.

Everything lives in a throwaway VAR_DIR (SQLite + the filesystem broker); run as root:
    .venv/bin/python bench/bench_grading.py [--rounds 2] [--submissions 20] [--reference-submissions 4]
        [--processes 1,2,4] [--skip-reference] [--skip-throughput] [--modes sandbox,forkserver]
"""

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _setup(var_dir: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "1",
            "VAR_DIR": str(var_dir),
            "EXERCISE_DIRS": os.pathsep.join([str(ROOT / "exercises"), str(ROOT / "tests/fixtures/exercises")]),
        }
    )
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("sync_exercises", verbosity=0, stdout=io.StringIO())


def bench_reference(rounds: int, modes: tuple[str, ...] = ("sandbox", "cold-box", "forkserver", "unsafe")) -> None:
    from assessments.grading.engine import report_results
    from assessments.models import Exercise
    from grader.executors import ForkServerExecutor
    from grader.runner import grade
    from grader.sandbox import SandboxExecutor

    exercise = Exercise.objects.get(slug="helpdesk-answerer", is_current=True)
    package = Path(exercise.package_path)
    # "sandbox": the warm box (one box per probe thread, a forked child per probe), what workers use;
    # "cold-box": a fresh box per probe, as before it; "forkserver": unsandboxed, the floor.
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    longest: list[float] = []
    print(f"load average at the start: {os.getloadavg()[0]:.1f}", flush=True)
    for _ in range(rounds):
        for mode in modes:
            if mode == "forkserver":
                executor = ForkServerExecutor()
            else:
                executor = SandboxExecutor.from_settings(
                    allow_unsafe=mode == "unsafe",
                    bwrap="/nonexistent/bwrap" if mode == "unsafe" else "bwrap",
                    warm=mode == "sandbox",
                )
            started = time.monotonic()
            try:
                report = grade(package / "reference", package, executor=executor, workers=8)
            finally:
                executor.close()
            elapsed = time.monotonic() - started
            results = report_results(report)
            passed = sum(r["outcome"] == "pass" for r in results)
            times[mode].append(elapsed)
            slowest = max(o.duration_s for o in report.outcomes)
            if mode == "forkserver":
                longest.append(slowest)
            print(
                f"  {mode:10} {elapsed:6.1f} s  {passed}/{len(results)} passed  sandboxed={report.sandboxed}"
                f"  longest probe {slowest:.1f} s  load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    med = {mode: statistics.median(values) for mode, values in times.items()}
    print(f"reference grading, median of {rounds}: " + ", ".join(f"{m} {t:.1f} s" for m, t in med.items()))
    if "forkserver" in med:
        for mode in ("sandbox", "cold-box", "unsafe"):
            if mode in med:
                print(f"  {mode}/fork-server {med[mode] / med['forkserver']:.2f}x (goal for the sandbox: <= 1.15x)")
        floor = statistics.median(longest)
        print(f"  longest probe {floor:.1f} s; fork server/longest probe {med['forkserver'] / floor:.2f}x")
        if "sandbox" in med:
            print(f"  sandbox/longest probe {med['sandbox'] / floor:.2f}x (goal <= 1.5x)")


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def _queue_submissions(n: int, label: str, slug: str, folder: str) -> list[int]:
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.utils import timezone

    from assessments.models import Exercise
    from assessments.services import assessment_create
    from candidates.services import candidate_get_or_create, invitation_create, invitation_start
    from rubrics.models import Rubric
    from workflows.uploads import submission_accept

    exercise = Exercise.objects.get(slug=slug, is_current=True)
    owner, _ = User.objects.get_or_create(username="bench", defaults={"email": "bench@example.com"})
    assessment = assessment_create(
        owner=owner,
        title=f"bench {label}",
        exercise=exercise,
        rubric=Rubric.objects.get(slug=exercise.rubric_slug),
        closes_at=timezone.now() + timedelta(days=1),
    )
    archive = _zip_folder(Path(exercise.package_path) / folder)
    run_ids = []
    for i in range(n):
        candidate = candidate_get_or_create(name=f"Bench {i}", email=f"bench-{label}-{i}@example.com")
        invitation, _ = invitation_create(assessment=assessment, candidate=candidate, invited_by=owner)
        invitation_start(invitation=invitation)
        run_ids.append(submission_accept(invitation=invitation, archive=archive).grading_runs.get().pk)
    return run_ids


def _used_mb() -> float:
    """Memory in use on the machine (MemTotal - MemAvailable), in MB."""
    fields = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0])
    return (fields["MemTotal"] - fields["MemAvailable"]) / 1024


def bench_throughput(n: int, slug: str, folder: str, processes: list[int]) -> None:
    from assessments.models import GradingRun

    rates = {}
    print(f"{slug} ({folder}), {n} uploads per setting:")
    for concurrency in processes:
        # The runs are queued (and their messages sent) before any worker starts.
        run_ids = _queue_submissions(n, f"{slug}-c{concurrency}-{time.monotonic_ns()}", slug, folder)
        idle = _used_mb()
        peak = idle
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "grading,default",
             "-c", str(concurrency), "--without-mingle", "--without-gossip", "-l", "WARNING"],
            cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        started = time.monotonic()
        load = []
        try:
            while GradingRun.objects.filter(pk__in=run_ids, state__in=["done", "failed_infra"]).count() < n:
                if time.monotonic() - started > 3600:
                    raise SystemExit("throughput bench timed out")
                time.sleep(0.5)
                peak = max(peak, _used_mb())
                load.append(os.getloadavg()[0])
        finally:
            os.killpg(worker.pid, 9)
            worker.wait()
        elapsed = time.monotonic() - started
        failed = GradingRun.objects.filter(pk__in=run_ids, state="failed_infra").count()
        rates[concurrency] = n / elapsed * 3600
        print(
            f"  {concurrency} worker process(es): {n} gradings in {elapsed:6.1f} s = {rates[concurrency]:7.0f}/hour"
            f"  peak memory above idle {peak - idle:6.0f} MB  load average {max(load, default=0):.1f} max"
            + (f"  ({failed} FAILED on our side)" if failed else ""),
            flush=True,
        )
    base = processes[0]
    ratios = ", ".join(f"{c} vs {base}: {rates[c] / rates[base]:.2f}x" for c in processes[1:])
    print(f"  scaling: {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--submissions", type=int, default=20, help="tiny-echo uploads per setting")
    parser.add_argument("--reference-submissions", type=int, default=4, help="help-desk uploads per setting")
    parser.add_argument("--processes", default="1,2,4", help="worker processes to compare")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--modes", default="sandbox,cold-box,forkserver,unsafe", help="executors to compare")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    processes = [int(p) for p in args.processes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-grading-", dir=ROOT / "var") as tmp:
        _setup(Path(tmp))
        print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        if not args.skip_reference:
            bench_reference(args.rounds, tuple(args.modes.split(",")))
        if not args.skip_throughput:
            bench_throughput(args.submissions, "tiny-echo", "starter", processes)
            if args.reference_submissions:
                bench_throughput(args.reference_submissions, "helpdesk-answerer", "reference", processes)


if __name__ == "__main__":
    main()
