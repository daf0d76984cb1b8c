"""The warm box (grader/sandbox/warm.py) against probes that try to leave state for the next one.

One box serves the probes of a grading one after another, each a child forked from a server that
has already imported the runtime. These tests run real bubblewrap, real cgroups and the real server:
what one probe plants (files, a daemon, shared memory, a signal to the server) must be gone or
refused when the next probe in the same box looks, and each probe's limits are its own.
"""

import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from grader.executors import HarnessJob
from grader.fakemodel import FakeModel
from grader.sandbox import SandboxExecutor, sandbox_status
from grader.sandbox.cgroups import _cgroup_support, _RunCgroup, _sweep_stale
from tests.grading.test_sandbox import HOSTILE, RUNTIME, assert_host_is_fine, processes_tagged, readable_dir

AVAILABLE, WHY = sandbox_status()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not AVAILABLE, reason=f"sandbox unavailable here: {WHY}")]


@pytest.fixture
def submission(tmp_path):
    folder = readable_dir(tmp_path / "submission" / "helpdesk").parent
    shutil.copyfile(HOSTILE / "warm_probe.py", folder / "helpdesk" / "__init__.py")
    return readable_dir(folder)


@pytest.fixture(params=["auto", "none"], ids=["cgroups", "rlimits-only"])
def executor(request):
    executor = SandboxExecutor(
        runtime_dir=RUNTIME,
        memory_mb=256,
        max_processes=64,
        cpu_seconds=4,
        tmp_size_mb=32,
        wall_seconds=20,
        cgroups=request.param,
    )
    yield executor
    executor.close()


def probe(executor, submission, question, tmp_path):
    """One probe's child: its harness events, the handle, and the value the call returned."""
    fake = FakeModel().start()
    job = HarnessJob(
        submission_dir=submission,
        work_dir=tmp_path,
        model_base_url=fake.base_url,
        stdin=json.dumps(
            {"entry_point": "helpdesk:answer", "inputs": [question], "nonce": "n", "preload": ["pydantic"]}
        ).encode(),
    )
    try:
        handle = executor.launch(job)
        out = handle.stdout.read()
        handle.kill()
    finally:
        fake.stop()
    events = [json.loads(line) for line in out.splitlines() if line.startswith(b"{")]
    result = next((e for e in events if e["ev"] == "result"), None)
    value = json.loads(result["value"]["answer"]) if result and result["outcome"] == "returned" else None
    return handle, value


def test_a_probe_finds_nothing_an_earlier_probe_left_in_the_same_box(executor, submission, tmp_path):
    planter, planted = probe(executor, submission, "plant", tmp_path)
    looker, found = probe(executor, submission, "look", tmp_path)

    assert looker.box is planter.box, "the second probe ran in a new box, not the warm one"
    assert planted["shmget"] == "refused"
    assert set(planted["kills"].values()) == {"Operation not permitted"}, planted["kills"]
    assert found["uid"] != planted["uid"]
    assert found["tmp"] == [] and found["cwd"] == "/tmp"
    # Only the box's own processes are left: bwrap's init, the server (root) and the bridge.
    assert all(p["uid"] in (0, 65534) for p in found["processes"]), found["processes"]
    assert not any(p["uid"] == planted["uid"] for p in found["processes"])
    assert any("boxserver.py" in p["cmdline"] for p in found["processes"])


def test_each_probe_has_its_own_limits_and_the_box_outlives_them(executor, submission, tmp_path):
    if executor.cgroups == "none":
        pytest.skip("rlimits alone: each process has its own, as in a fresh box (tests/grading/test_sandbox.py)")
    hog, _ = probe(executor, submission, "hog-memory", tmp_path)
    assert hog.oom_killed and hog.usage["memory_peak_mb"] <= 256 + 1

    bomb, _ = probe(executor, submission, "fork-bomb", tmp_path)
    spin, _ = probe(executor, submission, "spin", tmp_path)
    after, found = probe(executor, submission, "look", tmp_path)

    assert bomb.killed in ("cpu", "wall") and bomb.usage
    # One spinning process meets RLIMIT_CPU (SIGXCPU) or the cgroup's count first, at its own 4 s.
    assert spin.poll() in (-signal.SIGXCPU, -signal.SIGKILL) and 3 <= spin.usage["cpu_s"] < 10
    assert after.box is hog.box is bomb.box is spin.box
    assert found["tmp"] == [] and all(p["uid"] in (0, 65534) for p in found["processes"])


def test_closing_the_executor_leaves_nothing_on_the_host(submission, tmp_path):
    executor = SandboxExecutor(runtime_dir=RUNTIME, memory_mb=256, max_processes=64, cpu_seconds=10)
    probe(executor, submission, "plant", tmp_path)
    assert processes_tagged("boxserver.py")

    executor.close()

    assert_host_is_fine("boxserver.py")
    assert not list(Path(tempfile.gettempdir()).glob(f"sandbox-warm-*-{os.getpid()}-*"))  # its model and data


def test_a_dead_workers_warm_box_cgroups_are_swept():
    support = _cgroup_support()
    if not support.version:
        pytest.skip("no cgroups here")
    dead = 4_194_400  # above the largest pid_max Linux allows: no live process has it
    box = _RunCgroup(support, memory_mb=64, max_processes=8, with_leaf=True, name=f"run-{dead}-warmtest")
    box.child("probe-1", memory_mb=32, max_processes=4)

    _sweep_stale(support)

    assert not any(d.exists() for d in box.dirs.values())
