"""Whether the machine was starved of CPU while a probe ran: a busy machine must not fail a candidate.

A timing probe (a slow model, a stall, an overall deadline) measures the candidate's code against
the wall clock. When runnable processes outnumber the cores, every process gets its turn late: the
candidate's code, the fake model and the runner alike, and a deadline that a solution meets with
seconds to spare on a quiet machine is missed. That is the platform's fault, not the candidate's.

:class:`CpuPressure` reads the kernel's pressure-stall information (``/proc/pressure/cpu``, the
``some`` line: time during which at least one runnable task waited for a CPU). Measured on two
cores: an idle machine shows 0.2 % of the time, two busy processes 1 %, three 50 %, four or more
98-100 %. Where the kernel has no PSI, a sampler thread reads the run queue from ``/proc/loadavg``
every 100 ms and counts the samples in which more tasks were runnable than there are cores, which
approximates the same share.

The runner reads the total before and after a probe; the share of the probe's duration is its
*pressure*. The candidate's code can raise it only by using CPU itself, and the consequence of a
starved failure is one more run alone, whose result stands: nothing a submission does here turns
its failure into ours.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

PSI_PATH = Path("/proc/pressure/cpu")
LOADAVG_PATH = Path("/proc/loadavg")
SAMPLE_S = 0.1
# A failed timing probe ran on a starved machine when, for at least this share of its duration
# (and at least STARVED_MIN_S in all), some runnable task waited for a CPU.
STARVED_SHARE = 0.25
STARVED_MIN_S = 1.0


def _read_psi(path: Path = PSI_PATH) -> float | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("some "):
                fields = dict(part.split("=", 1) for part in line.split()[1:])
                return int(fields["total"]) / 1e6
    except (OSError, ValueError, KeyError):
        return None
    return None


class CpuPressure:
    """Seconds during which some runnable task waited for a CPU, cumulative (see the module docstring)."""

    def __init__(self, psi_path: Path = PSI_PATH, loadavg_path: Path = LOADAVG_PATH) -> None:
        self.psi_path = psi_path
        self.loadavg_path = loadavg_path
        self.source = "psi" if _read_psi(psi_path) is not None else "loadavg"
        self._sampled = 0.0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if self.source == "loadavg":
            self._thread = threading.Thread(target=self._sample, name="cpu-pressure", daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        cores = os.cpu_count() or 1
        while True:
            before = time.monotonic()
            time.sleep(SAMPLE_S)
            try:
                running = int(self.loadavg_path.read_text().split()[3].split("/")[0])
            except (OSError, ValueError, IndexError):
                continue
            if running - 1 > cores:  # the reader itself is one of the running tasks
                with self._lock:
                    self._sampled += time.monotonic() - before

    def total(self) -> float:
        """Read before and after a piece of work; the difference is its seconds under pressure."""
        if self.source == "psi":
            value = _read_psi(self.psi_path)
            if value is not None:
                return value
        with self._lock:
            return self._sampled


_pressure: CpuPressure | None = None
_pressure_lock = threading.Lock()


def cpu_pressure() -> CpuPressure:
    """This process's reader, made on first use."""
    global _pressure
    with _pressure_lock:
        if _pressure is None:
            _pressure = CpuPressure()
        return _pressure


def starved(pressure_s: float | None, duration_s: float) -> bool:
    """Whether a probe that took ``duration_s``, ``pressure_s`` of it with tasks waiting for a CPU, was starved."""
    if pressure_s is None:
        return False
    return pressure_s >= max(STARVED_MIN_S, STARVED_SHARE * max(duration_s, 0.0))
