"""What the bubblewrap sandbox costs per run: N runs of a trivial program, and of one that imports
``anthropic``, in a box (``SandboxExecutor.run``) versus a plain subprocess of the same runtime
python (no isolation at all), one after another. Prints the median and p90 wall time per run, the
overhead per run in ms and the ratio.

    .venv/bin/python bench/bench_sandbox.py [--runs 20] [--import-runs 5] [--no-cgroups]

Needs root, bubblewrap and the runtime (``scripts/build-sandbox-runtime``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grader.sandbox import SandboxExecutor, sandbox_status

PROGRAMS = {
    "trivial": "print('ok')",
    "import anthropic": "import anthropic; print('ok')",
}


def _plain(python: str, code: str) -> float:
    started = time.perf_counter()
    out = subprocess.run(
        [python, "-c", code], capture_output=True, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"}, check=True
    )
    elapsed = time.perf_counter() - started
    assert out.stdout == b"ok\n", out
    return elapsed


def _boxed(executor: SandboxExecutor, code: str) -> float:
    started = time.perf_counter()
    result = executor.run(["python", "-c", code], timeout=60)
    elapsed = time.perf_counter() - started
    assert result.stdout == b"ok\n", result
    return elapsed


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of the trivial program per mode")
    parser.add_argument("--import-runs", type=int, default=5, help="runs of the anthropic import per mode")
    parser.add_argument("--no-cgroups", action="store_true", help="rlimits only, as where cgroups are not writable")
    args = parser.parse_args()
    available, detail = sandbox_status()
    if not available:
        sys.exit(f"sandbox unavailable: {detail}")
    executor = SandboxExecutor(cgroups="none" if args.no_cgroups else "auto")
    python = str(executor.runtime_dir / "bin" / "python")
    print(f"{detail}; cgroup used: {executor.isolation['cgroup']}")
    _boxed(executor, "print('ok')")  # warm: the runtime's base prefix is looked up once per process
    print(
        f"{'program':<17} {'runs':>4} {'plain p50':>10} {'p90':>9} {'boxed p50':>10} {'p90':>9}"
        f" {'overhead':>9} {'ratio':>6}"
    )
    for (name, code), runs in zip(PROGRAMS.items(), (args.runs, args.import_runs), strict=True):
        plain, boxed = [], []
        for _ in range(runs):  # interleaved, so drift in the machine's load hits both alike
            plain.append(_plain(python, code))
            boxed.append(_boxed(executor, code))
        (p50, p90), (b50, b90) = _stats(plain), _stats(boxed)
        print(
            f"{name:<17} {runs:>4} {p50 * 1e3:>8.1f}ms {p90 * 1e3:>7.1f}ms {b50 * 1e3:>8.1f}ms {b90 * 1e3:>7.1f}ms"
            f" {(b50 - p50) * 1e3:>7.1f}ms {b50 / p50:>6.2f}"
        )


if __name__ == "__main__":
    main()
