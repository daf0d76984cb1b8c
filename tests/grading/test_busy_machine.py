"""A busy machine never fails a candidate's timing probe, and a candidate cannot use that to its gain.

A timing probe (``long``) that does not pass while the machine was short of CPU
(the kernel's pressure-stall information, ``grader.load``) is run once more, alone, after the
others; the second run's result stands and its reason says what happened. A probe that is not about
time is not run again, and neither is one that failed on a quiet machine.
"""

import shutil
import threading
import time
from pathlib import Path

import pytest

from grader import load
from grader.load import CpuPressure, starved
from grader.runner import grade

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "exercises" / "tiny-echo"

PROBES = """
from grader.sdk import Probe, Verdict


def _quick_echo(evidence):
    call = evidence.calls[0]
    if call.outcome != "returned" or call.obj.get("answer") != "hello":
        return Verdict(False, f"the call {call.outcome}")
    if call.duration_s is None or call.duration_s > 1.0:
        return Verdict(False, f"answered in {call.duration_s:.1f} s, over 1 s")
    return Verdict(True, "answered within 1 s")


PROBES = [
    Probe(id="timing-echo", failure_mode="input", description="Answers within 1 s.", script="ok",
          inputs=("hello",), check=_quick_echo, needs_model=False, long=True),
    Probe(id="plain-echo", failure_mode="grounding", description="Answers within 1 s, not a timing probe.",
          script="ok", inputs=("hello",), check=_quick_echo, needs_model=False),
]


def make_responder(probe):
    return None


def prepare(probe, work_dir):
    return {}
"""

# The submission does what the file `control` beside it says: "sleep S" or "burn S" (keep every core
# busy for S seconds from processes of its own), then echoes.
SUBMISSION = """
import os
import time
from pathlib import Path


def answer(question):
    action, seconds = (Path(__file__).parent / "control").read_text().split()
    seconds = float(seconds)
    if action == "sleep":
        time.sleep(seconds)
    elif action == "burn":
        children = []
        for _ in range(2 * (os.cpu_count() or 1) + 2):
            pid = os.fork()
            if pid == 0:
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    pass
                os._exit(0)
            children.append(pid)
        for pid in children:
            os.waitpid(pid, 0)
    return {"status": "answered", "answer": question, "citations": []}
"""


@pytest.fixture
def exercise(tmp_path):
    path = tmp_path / "busy-echo"
    shutil.copytree(FIXTURE, path, ignore=shutil.ignore_patterns("__pycache__"))
    toml = (path / "exercise.toml").read_text()
    toml = toml.replace('slug = "tiny-echo"', 'slug = "busy-echo"').replace("call_timeout_s = 4", "call_timeout_s = 8")
    (path / "exercise.toml").write_text(toml.replace('version = "0.1.0"', f'version = "0.1.{time.time_ns()}"'))
    (path / "hidden" / "probes.py").write_text(PROBES)
    return path


@pytest.fixture
def submission(tmp_path):
    folder = tmp_path / "submission"
    (folder / "echo").mkdir(parents=True)
    (folder / "echo" / "__init__.py").write_text(SUBMISSION)
    return folder


def control(submission: Path, text: str) -> None:
    (submission / "echo" / "control").write_text(text)


class BusyWhileFirstRun:
    """A pressure source standing in for a machine that is saturated until the first runs are over."""

    def __init__(self) -> None:
        self.busy = True
        self._total = 0.0
        self._since = time.monotonic()
        self._lock = threading.Lock()

    def total(self) -> float:
        with self._lock:
            now = time.monotonic()
            if self.busy:
                self._total += now - self._since
            self._since = now
            return self._total

    def calm(self) -> None:
        self.total()
        self.busy = False


def test_a_timing_probe_that_fails_on_a_busy_machine_is_run_again_alone_and_the_second_run_counts(
    exercise, submission, monkeypatch
):
    machine = BusyWhileFirstRun()
    monkeypatch.setattr(load, "_pressure", machine)
    control(submission, "sleep 1.5")  # the busy machine makes the answer late

    def first_runs_over(done: int, total: int) -> None:
        if done == total:
            machine.calm()
            control(submission, "sleep 0")

    report = grade(submission, exercise, workers=2, on_progress=first_runs_over)

    by_id = {o.id: o for o in report.outcomes}
    timing, plain = by_id["timing-echo"], by_id["plain-echo"]
    assert timing.outcome == "pass", timing.reason
    assert "run again alone: the first run (fail, 0 point) was on a machine short of CPU" in timing.reason
    assert "this is the second run's result" in timing.reason
    assert report.retried_alone == ["timing-echo"]
    # Not a timing probe: a busy machine is no excuse for it, its first result stands.
    assert plain.outcome == "fail" and "run again" not in plain.reason


def test_a_timing_probe_that_fails_on_a_quiet_machine_is_not_run_again(exercise, submission, monkeypatch):
    quiet = BusyWhileFirstRun()
    quiet.calm()
    monkeypatch.setattr(load, "_pressure", quiet)
    control(submission, "sleep 1.5")

    report = grade(submission, exercise, workers=2)

    timing = next(o for o in report.outcomes if o.id == "timing-echo")
    assert timing.outcome == "fail" and "run again" not in timing.reason
    assert report.retried_alone == []


@pytest.mark.slow
def test_a_submission_that_starves_the_machine_itself_gets_one_more_run_and_keeps_its_fail(
    exercise, submission, monkeypatch
):
    # The real kernel measure: the submission keeps every core busy from processes of its own, so
    # the runner sees a starved machine. It gains a second run, alone, whose failure stands: never an
    # infrastructure error, never a pass.
    monkeypatch.setattr(load, "_pressure", None)
    control(submission, "burn 2.5")

    report = grade(submission, exercise, probe_ids=["timing-echo"], workers=1)

    (timing,) = report.outcomes
    assert timing.outcome == "fail", timing.reason
    assert "run again alone" in timing.reason and "short of CPU" in timing.reason
    assert timing.pressure_s is not None and starved(timing.pressure_s, timing.duration_s)
    assert report.infra_errors == 0


def test_pressure_is_read_from_the_kernel_or_sampled_from_the_run_queue(tmp_path):
    psi = tmp_path / "cpu"
    psi.write_text("some avg10=0.00 avg60=0.00 avg300=0.00 total=1500000\nfull avg10=0.00 total=0\n")
    assert CpuPressure(psi_path=psi).total() == 1.5
    psi.write_text("some avg10=0.00 avg60=0.00 avg300=0.00 total=4000000\n")
    reader = CpuPressure(psi_path=psi)
    assert reader.source == "psi" and reader.total() == 4.0

    # No PSI (an older kernel, psi=0): a run queue longer than the cores counts as pressure.
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("9.00 9.00 9.00 40/900 12345\n")
    sampled = CpuPressure(psi_path=tmp_path / "missing", loadavg_path=loadavg)
    assert sampled.source == "loadavg"
    time.sleep(0.6)
    assert sampled.total() >= 0.3
    loadavg.write_text("0.00 0.00 0.00 1/900 12345\n")
    time.sleep(0.3)
    calm = sampled.total()
    time.sleep(0.5)
    assert sampled.total() == calm


def test_starved_means_a_real_share_of_the_probe_and_at_least_a_second():
    assert not starved(None, 10)
    assert not starved(0.9, 2)  # under a second in all
    assert not starved(2.0, 10)  # 20 % of the probe
    assert starved(2.5, 10) and starved(1.0, 3)
