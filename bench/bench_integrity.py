"""Each attack of the grading-integrity report, graded on the full exercise in the sandbox.

The starter kit alone, and the starter kit with each attack module of
tests/grading/test_grading_integrity.py (a channel forger, a body poisoner, a pyc of other code, a
request flooder), graded with every probe of helpdesk-answerer in bubblewrap and stored through
``report_results`` as a worker would. Prints per archive: pass / fail / error, the stored evidence,
the most requests one probe saw, the wall time and the grader's peak memory.

    .venv/bin/python bench/bench_integrity.py [baseline forger poisoner pyc flooder]

Goal: no attack raises the pass rate above the starter kit's or produces an error; a flood stores
a few MB at most.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django

django.setup()

from assessments.grading.engine import report_results  # noqa: E402
from grader.runner import grade  # noqa: E402
from grader.sandbox import SandboxExecutor  # noqa: E402
from grader.unpack import unpack_archive  # noqa: E402
from tests.builders import zip_folder  # noqa: E402
from tests.grading import test_grading_integrity as attacks  # noqa: E402

EXERCISE = Path(__file__).resolve().parents[1] / "exercises" / "helpdesk-answerer"


def _archives() -> dict[str, bytes]:
    return {
        "baseline": zip_folder(attacks.STARTER),
        "forger": attacks._attacked(attacks.FORGER),
        "poisoner": attacks._attacked(attacks.POISONER),
        "pyc": attacks._with_pyc(),
        "flooder": attacks._attacked(attacks.FLOODER),
    }


def main() -> None:
    archives = _archives()
    wanted = sys.argv[1:] or list(archives)
    for name in wanted:
        with tempfile.TemporaryDirectory(prefix="bench-integrity-") as tmp:
            manifest = unpack_archive(archives[name], Path(tmp) / "submission")
            started = time.monotonic()
            executor = SandboxExecutor.from_settings()
            try:
                report = grade(Path(tmp) / "submission", EXERCISE, executor=executor, workers=8)
            finally:
                executor.close()
            wall = time.monotonic() - started
        results = report_results(report)
        sizes = [len(json.dumps(r["evidence"])) for r in results]
        most = max(max(r["evidence"].get("requests_total", 0), len(r["evidence"].get("requests", []))) for r in results)
        counts = {k: sum(r["outcome"] == k for r in results) for k in ("pass", "fail", "error")}
        judged = counts["pass"] + counts["fail"]
        rate = f"{counts['pass'] / judged:.0%}" if judged else "undefined"
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{name:9s} {report.exercise} {report.version}: pass {counts['pass']} fail {counts['fail']} "
            f"error {counts['error']} of {report.total} ({rate}); ignored files {len(manifest.ignored)}; "
            f"evidence {sum(sizes) / 1e6:.2f} MB (largest probe {max(sizes) / 1e3:.0f} KB); "
            f"most requests in one probe {most:,}; wall {wall:.0f} s; peak RSS {peak:.0f} MB",
            flush=True,
        )


if __name__ == "__main__":
    main()
