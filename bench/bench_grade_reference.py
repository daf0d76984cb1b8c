"""Wall time of a full grading of the reference solution, against its longest single probe.

Probes run concurrently (long ones first; timing-sensitive ``exclusive`` ones alone, before the
rest), so a grading should take little more than its longest probe (goal: total <= 1.5x). Prints
the total, the longest probe, their ratio, the exclusive phase and the slowest probes.

    .venv/bin/python bench/bench_grade_reference.py [--runs 1] [--workers 10] [--executor forkserver|subprocess]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.executors import ForkServerExecutor, SubprocessExecutor  # noqa: E402
from grader.runner import grade  # noqa: E402

EXERCISE = ROOT / "exercises" / "helpdesk-answerer"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--executor", choices=("forkserver", "subprocess"), default="forkserver")
    args = parser.parse_args()
    worst = 0.0
    for run in range(1, args.runs + 1):
        executor = ForkServerExecutor() if args.executor == "forkserver" else SubprocessExecutor()
        try:
            executor.start()  # the warm parent's one-off import is not part of a grading
            started = time.monotonic()
            report = grade(EXERCISE / "reference", EXERCISE, executor=executor, workers=args.workers)
            total = time.monotonic() - started
        finally:
            executor.close()
        longest = max(report.outcomes, key=lambda o: o.duration_s)
        exclusive = sum(o.duration_s for o in report.outcomes if o.id.startswith("load-"))
        ratio = total / longest.duration_s
        worst = max(worst, ratio)
        print(
            f"run {run}: {report.passed}/{report.total} passed, {report.infra_errors} errors; "
            f"total {total:.1f} s; longest probe {longest.id} {longest.duration_s:.1f} s; "
            f"ratio {ratio:.2f} (goal <= 1.5); exclusive (load) phase {exclusive:.1f} s"
        )
        slowest = sorted(report.outcomes, key=lambda o: -o.duration_s)[:5]
        print("  slowest:", ", ".join(f"{o.id} {o.duration_s:.1f} s" for o in slowest))
    return 0 if worst <= 1.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
