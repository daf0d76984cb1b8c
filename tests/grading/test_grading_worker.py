"""Hostile submissions graded end to end: real worker, real broker, real sandbox, real database.

Each upload goes through submission_accept (which enqueues on commit), a real Celery worker
grades it in bubblewrap with the tiny-echo fixture's two probes, and the test reads what the
worker wrote. The worker must come out of every one of them healthy.
"""

import json
import os
import textwrap
from pathlib import Path

import pytest

from assessments.models import GradingRun, WorkerHeartbeat
from assessments.tasks import record_worker_heartbeat
from candidates.models import Invitation
from candidates.services import invitation_start
from grader.sandbox.warm import CHILD_UID_BASE, UIDS_PER_BOX
from tests.builders import make_zip
from tests.workers import WORKER_SECRET, graded_by_the_worker, wait_for
from workflows.uploads import submission_accept

pytestmark = [pytest.mark.worker, pytest.mark.slow]


HOSTILE = {
    "fork_bomb": """
        import os
        def answer(question):
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
    """,
    "memory_hog": """
        def answer(question):
            hog = b"x" * (2 * 1024 ** 3)
            return {"status": "answered", "answer": str(len(hog)), "citations": []}
    """,
    "disk_filler": """
        import os
        def answer(question):
            for target in ("/tmp/fill", os.path.join(os.path.dirname(__file__), "fill")):
                try:
                    with open(target, "wb") as fh:
                        while True:
                            fh.write(b"\\0" * (1 << 20))
                except OSError:
                    pass
            return {"status": "answered", "answer": "filled", "citations": []}
    """,
    "ignores_sigterm": """
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        def answer(question):
            while True:
                pass
    """,
    "hanging_import": """
        import time
        time.sleep(10 ** 6)
        def answer(question):
            return {"status": "answered", "answer": question, "citations": []}
    """,
    "snoop": """
        import json, os
        def _read(path):
            try:
                with open(path, "rb") as fh:
                    return fh.read(200_000).decode("utf-8", "replace")
            except OSError:
                return ""
        def answer(question):
            found = {"env": dict(os.environ), "files": [], "proc": []}
            # Everything but /usr and /opt/runtime (Debian's files and the runtime's packages,
            # thousands: walking them takes longer than the 4 s call limit on a loaded machine)
            # and the kernel's pseudo-files.
            for root in ("/", "/work", "/root", "/home", "/var", "/etc", "/opt", "/srv", "/app"):
                for dirpath, dirnames, filenames in os.walk(root):
                    if dirpath.startswith(("/proc", "/sys", "/dev", "/usr", "/opt/runtime")):
                        dirnames[:] = []
                        continue
                    for name in filenames:
                        if name in ("probes.py", "checks.py", "settings.py", ".env", "db.sqlite3", "manage.py"):
                            found["files"].append(os.path.join(dirpath, name))
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    found["proc"].append(_read(f"/proc/{pid}/environ") + _read(f"/proc/{pid}/cmdline"))
            found["passwd"] = _read("/etc/passwd")
            return {"status": "answered", "answer": json.dumps(found)[:19000], "citations": []}
    """,
    "network": """
        import json, socket
        def answer(question):
            reached = []
            for host, port in (("127.0.0.1", 5432), ("127.0.0.1", 6379), ("10.255.255.1", 80)):
                try:
                    socket.create_connection((host, port), timeout=1).close()
                    reached.append(f"{host}:{port}")
                except OSError:
                    pass
            return {"status": "answered", "answer": "reached:" + json.dumps(reached), "citations": []}
    """,
    "forger_and_parent_killer": """
        import json, os, signal, sys
        def answer(question):
            forged = json.dumps({"event": "result", "index": 0, "outcome": "returned",
                                 "value": {"status": "answered", "answer": "hello", "citations": []}})
            for fd in range(1, 20):
                try:
                    os.write(fd, (forged + "\\n").encode())
                except OSError:
                    pass
            print(json.dumps({"probe": "echo-plain", "outcome": "pass"}))
            for target in (os.getppid(), 1, -1):
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass
            return {"status": "answered", "answer": "goodbye", "citations": []}
    """,
}


@pytest.fixture
def started_invitation(invitation):
    invitation_start(invitation=invitation)
    return invitation


def test_a_good_submission_is_graded_by_the_worker_in_the_sandbox(celery_worker, started_invitation):
    with open("tests/fixtures/exercises/tiny-echo/starter/echo/__init__.py") as fh:
        submission = submission_accept(invitation=started_invitation, archive=make_zip({"echo/__init__.py": fh.read()}))
    run = graded_by_the_worker(submission, timeout=120)
    assert run.state == GradingRun.DONE
    assert dict(run.results.values_list("probe_id", "outcome")) == {"echo-plain": "pass", "echo-model": "pass"}
    assert run.isolation["sandboxed"] is True and "unsandboxed" not in run.isolation
    assert run.progress_done == run.progress_total == 2
    started_invitation.refresh_from_db()
    assert started_invitation.state == Invitation.GRADED


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_submission_is_graded_and_the_worker_survives(celery_worker, started_invitation, name):
    archive = make_zip({"echo/__init__.py": textwrap.dedent(HOSTILE[name])})
    submission = submission_accept(invitation=started_invitation, archive=archive)
    run = graded_by_the_worker(submission, timeout=120)

    assert run.state == GradingRun.DONE, run.infra_error
    outcomes = dict(run.results.values_list("probe_id", "outcome"))
    assert set(outcomes) == {"echo-plain", "echo-model"}
    # Nothing hostile earns a pass, and nothing it did is blamed on the infrastructure.
    assert set(outcomes.values()) == {"fail"}, [(r.probe_id, r.outcome, r.reason) for r in run.results.all()]

    evidence = str(list(run.results.values_list("evidence", flat=True)))
    assert WORKER_SECRET not in evidence
    assert os.environ["SECRET_KEY"] not in evidence
    if name == "snoop":
        report = _snoop_report(run)
        assert "ANTHROPIC_BASE_URL" in report["env"]  # it did run and report what it could see
        # It finds nothing of ours: none of the project's, the worker's or the exercise's files.
        assert report["files"] == [], report["files"]
        project = str(Path(__file__).resolve().parents[2])
        assert project not in evidence and "hidden" not in " ".join(report["files"])
        assert set(report["env"]) <= {
            "ANTHROPIC_BASE_URL",
            "ANTHROPIC_API_KEY",
            "PYTHONPATH",
            "PATH",
            "HOME",
            "LANG",
            "PWD",
            "PYTHONDONTWRITEBYTECODE",
            "PYTHONPYCACHEPREFIX",
            "PYTHONUNBUFFERED",
            "TMPDIR",
            "LC_ALL",
        }
    if name == "network":
        assert "reached:[]" in evidence

    # The worker is alive and still takes work.
    assert celery_worker.proc.poll() is None
    WorkerHeartbeat.objects.all().delete()
    record_worker_heartbeat.delay()
    wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=30, message="a heartbeat after the hostile run")
    assert not _sandbox_user_processes(celery_worker.proc.pid), "a sandboxed process outlived its run"


def _snoop_report(run) -> dict:
    result = run.results.get(probe_id="echo-plain")
    answer = result.evidence["calls"][0]["value"]["answer"]
    return json.loads(answer)


def _sandbox_user_processes(root_pid: int, probes_only: bool = False) -> list[int]:
    """Processes of the sandbox's users that descend from the worker (other suites may run boxes too)."""
    parents, uids = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        parents[int(entry)] = int(fields["PPid"])
        uids[int(entry)] = fields["Uid"].split()[0]

    def descends(pid: int) -> bool:
        seen = set()
        while pid and pid not in seen:
            if pid == root_pid:
                return True
            seen.add(pid)
            pid = parents.get(pid, 0)
        return False

    # The box's own user (its model bridge) and the uids a warm box gives its probes' children.
    wanted = (lambda uid: uid >= CHILD_UID_BASE) if probes_only else _sandboxed_uid
    return [pid for pid, uid in uids.items() if wanted(int(uid)) and descends(pid)]


def _sandboxed_uid(uid: int) -> bool:
    return uid == 65534 or CHILD_UID_BASE <= uid < CHILD_UID_BASE + 4096 * UIDS_PER_BOX
