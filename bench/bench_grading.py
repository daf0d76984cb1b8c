"""Grading benchmarks for the sandbox issue. Prints its figures; asserts nothing.

1. A full grading of the help-desk reference inside the bubblewrap sandbox versus
   SANDBOX_ALLOW_UNSAFE (plain subprocesses on the same runtime), same machine, same run,
   alternating, as a ratio (goal <= 1.15x).
2. 20 queued submissions graded by real Celery workers with 1 and with 2 worker processes,
   as a throughput ratio. Uses the tiny-echo fixture (two quick probes) so it takes minutes.

Everything lives in a throwaway VAR_DIR (SQLite + the filesystem broker); run as root:
    .venv/bin/python bench/bench_grading.py [--rounds 2] [--submissions 20] [--skip-reference]
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


def bench_reference(rounds: int) -> None:
    from assessments.grading.engine import grade_in_sandbox
    from assessments.models import Exercise
    from grader.sandbox import SandboxExecutor

    exercise = Exercise.objects.get(slug="helpdesk-answerer", is_current=True)
    package = Path(exercise.package_path)
    times = {"sandbox": [], "unsafe": []}
    for _ in range(rounds):
        for mode in ("sandbox", "unsafe"):
            executor = SandboxExecutor.from_settings(
                allow_unsafe=mode == "unsafe", bwrap="bwrap" if mode == "sandbox" else "/nonexistent/bwrap"
            )
            started = time.monotonic()
            results, isolation = grade_in_sandbox(package / "reference", package, executor=executor)
            elapsed = time.monotonic() - started
            passed = sum(r["outcome"] == "pass" for r in results)
            times[mode].append(elapsed)
            print(
                f"  {mode:8} {elapsed:6.1f} s  {passed}/{len(results)} passed  sandboxed={isolation.get('sandboxed')}",
                flush=True,
            )
    sandbox, unsafe = statistics.median(times["sandbox"]), statistics.median(times["unsafe"])
    print(
        f"reference grading, median of {rounds}: sandbox {sandbox:.1f} s, unsafe {unsafe:.1f} s, "
        f"ratio {sandbox / unsafe:.2f}x"
    )


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def _queue_submissions(n: int, label: str) -> list[int]:
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.utils import timezone

    from assessments.models import Exercise
    from assessments.services import assessment_create
    from candidates.services import candidate_get_or_create, invitation_create, invitation_start
    from rubrics.models import Rubric
    from workflows.uploads import submission_accept

    exercise = Exercise.objects.get(slug="tiny-echo", is_current=True)
    owner, _ = User.objects.get_or_create(username="bench")
    assessment = assessment_create(
        owner=owner,
        title=f"bench {label}",
        exercise=exercise,
        rubric=Rubric.objects.get(slug=exercise.rubric_slug),
        closes_at=timezone.now() + timedelta(days=1),
    )
    archive = _zip_folder(Path(exercise.package_path) / "starter")
    run_ids = []
    for i in range(n):
        candidate = candidate_get_or_create(name=f"Bench {i}", email=f"bench-{label}-{i}@example.com")
        invitation, _ = invitation_create(assessment=assessment, candidate=candidate, invited_by=owner)
        invitation_start(invitation=invitation)
        run_ids.append(submission_accept(invitation=invitation, archive=archive).grading_runs.get().pk)
    return run_ids


def bench_throughput(n: int, var_dir: Path) -> None:
    from assessments.models import GradingRun

    rates = {}
    for concurrency in (1, 2):
        # The runs are queued (and their messages sent) before any worker starts.
        run_ids = _queue_submissions(n, f"c{concurrency}")
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "grading,default",
             "-c", str(concurrency), "--without-mingle", "--without-gossip", "-l", "WARNING"],
            cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        started = time.monotonic()
        try:
            while GradingRun.objects.filter(pk__in=run_ids, state="done").count() < n:
                if time.monotonic() - started > 1800:
                    raise SystemExit("throughput bench timed out")
                time.sleep(0.5)
        finally:
            os.killpg(worker.pid, 9)
            worker.wait()
        elapsed = time.monotonic() - started
        rates[concurrency] = n / elapsed * 60
        print(f"  {concurrency} worker process(es): {n} submissions in {elapsed:.1f} s = {rates[concurrency]:.1f}/min")
    print(f"throughput ratio, 2 vs 1 worker processes: {rates[2] / rates[1]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-grading-", dir=ROOT / "var") as tmp:
        _setup(Path(tmp))
        print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        if not args.skip_reference:
            bench_reference(args.rounds)
        if not args.skip_throughput:
            bench_throughput(args.submissions, Path(tmp))


if __name__ == "__main__":
    main()
