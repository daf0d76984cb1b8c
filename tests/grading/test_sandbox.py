"""The bubblewrap sandbox against hostile programs: real bwrap, real cgroups, real limits, no mocks.

Every hostile program lives in ``tests/grading/hostile/`` and runs inside a box (that folder mounted
read-only at /hostile). Each is run to completion (finished or killed) and the host must be fine
afterwards: no process of the box left, no cgroup left, the worker still forking.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from grader.executors import HarnessJob
from grader.fakemodel import FakeModel
from grader.sandbox import SandboxError, SandboxExecutor, SandboxUnavailable, sandbox_status
from grader.sandbox.cgroups import _cgroup_support
from tests.builders import echo_shadowed_by_a_pyc

PROJECT = Path(__file__).resolve().parents[2]
HOSTILE = Path(__file__).resolve().parent / "hostile"
RUNTIME = PROJECT / "var" / "sandbox-runtime"
AVAILABLE, WHY = sandbox_status()

pytestmark = pytest.mark.skipif(not AVAILABLE, reason=f"sandbox unavailable here: {WHY}")


@pytest.fixture(scope="module", autouse=True)
def runtime():
    """The candidate's runtime venv (anthropic + pydantic only); idempotent, quick once built."""
    subprocess.run([str(PROJECT / "scripts" / "build-sandbox-runtime")], check=True, cwd=PROJECT)
    return RUNTIME


@pytest.fixture(scope="module")
def box():
    return SandboxExecutor(
        runtime_dir=RUNTIME, memory_mb=256, max_processes=64, cpu_seconds=30, file_size_mb=16, tmp_size_mb=32
    )


def run(executor, script, *args, timeout=5.0, mounts=None, **options):
    return executor.run(
        ["python", f"/hostile/{script}", *args],
        timeout=timeout,
        mounts={"/hostile": HOSTILE, **(mounts or {})},
        **options,
    )


def readable_dir(path: Path) -> Path:
    """pytest's tmp folders are 0700; the box runs as nobody and must be able to read what it is given."""
    path.mkdir(parents=True, exist_ok=True)
    for p in [path, *path.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    path.chmod(0o755)
    return path


def processes_tagged(tag: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if tag.encode() in cmdline:
            found.append(int(pid))
    return found


def leftover_cgroups() -> list[Path]:
    support = _cgroup_support()
    parents = [support.v2_parent] if support.v2_parent else [p for _, p in support.v1_parents]
    return [d for parent in parents for d in parent.glob(f"run-{os.getpid()}-*")]


def assert_host_is_fine(tag: str | None = None):
    if tag:
        deadline = time.monotonic() + 3
        while processes_tagged(tag) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_tagged(tag) == [], "processes of the box survived it"
    assert leftover_cgroups() == []
    assert subprocess.run(["true"], check=False).returncode == 0


def host_can_connect(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# --- what a box is ------------------------------------------------------------------------------


def test_it_records_the_isolation_it_applies(box):
    result = box.run(["python", "-c", "print('hi')"], timeout=10)

    assert result.returncode == 0 and result.stdout == b"hi\n" and result.stderr == b""
    isolation = result.isolation
    assert isolation["sandboxed"] is True
    assert isolation["tool"].startswith("bubblewrap")
    assert set(isolation["namespaces"]) >= {"net", "pid", "ipc", "uts", "mnt"}
    assert isolation["uid"] == 65534 and isolation["no_new_privs"] is True
    assert isolation["cgroup"] == _cgroup_support().version
    assert isolation["limits"] == {
        "memory_mb": 256,
        "pids": 64,
        "cpu_s": 30,
        "fsize_mb": 16,
        "tmp_mb": 32,
        "wall_s": 10,
    }
    assert "core=0" in isolation["rlimits"] and "fsize=16777216" in isolation["rlimits"]
    assert isolation["network"] == "none"
    assert_host_is_fine()


def test_it_hides_the_host_secrets_processes_and_hidden_files(box, tmp_path, monkeypatch):
    secret = f"secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("SECRET_KEY", secret)
    monkeypatch.setenv("DATABASE_URL", f"postgres://grader:{secret}@127.0.0.1/db")
    project = readable_dir(tmp_path / "project")
    answer_key = project / "exercises" / "demo" / "hidden" / "answer_key.txt"
    answer_key.parent.mkdir(parents=True)
    answer_key.write_text(secret)
    readable_dir(project)
    inputs = readable_dir(tmp_path / "inputs")
    (inputs / "notes.md").write_text("# Notes\n")
    private = inputs / "root-only.txt"
    private.write_text(secret)
    private.chmod(0o600)
    real_hidden = PROJECT / "exercises" / "helpdesk-answerer" / "hidden" / "corpus.py"

    result = run(
        box,
        "snoop.py",
        str(answer_key),
        str(real_hidden),
        "/data/inputs/root-only.txt",
        timeout=30,
        mounts={"/data/inputs": inputs},
        stdin=secret.encode(),
    )

    assert result.returncode == 0, result.stderr
    assert secret.encode() not in result.stdout
    report = json.loads(result.stdout)
    assert report["found"] == []
    assert set(report["env"]) <= {
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "PWD",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONPYCACHEPREFIX",
        "PYTHONUNBUFFERED",
        "PYTHONPATH",
    }
    assert "SECRET_KEY" not in report["env"] and "DATABASE_URL" not in report["env"]
    assert sorted(report["pids"]) == [1, 2]  # bwrap's init and the program itself: nothing of the host
    visible = report["visible"]
    assert visible["/work"] is None and visible["/home"] is None and visible["/var"] is None
    assert visible["/root"] == [".pyenv"] or visible["/root"] is None
    assert visible["/data"] == ["inputs"]
    assert "passwd" in visible["/etc"] and "shadow" not in visible["/etc"] and "ssl" in visible["/etc"]
    assert len(visible["/etc"]) <= 12
    assert any("/data/inputs/root-only.txt: Permission denied" in u for u in report["unreadable"])
    assert any(u.startswith(str(real_hidden)) for u in report["unreadable"])
    assert report["uid"] == [65534, 65534, 65534, []]
    assert report["status"]["NoNewPrivs"] == "1"
    assert int(report["status"]["CapEff"], 16) == 0 and int(report["status"]["CapBnd"], 16) == 0
    assert report["status"]["Seccomp"] == "2"
    assert_host_is_fine()


def test_a_python_the_candidate_starts_runs_the_source_not_a_pycache_beside_it(box, tmp_path):
    # Started without -I, as a candidate's own subprocess would be: the environment keeps it off __pycache__.
    solution = tmp_path / "solution"
    echo_shadowed_by_a_pyc(solution, python=str(RUNTIME / "bin" / "python"))

    result = box.run(
        ["python", "-c", "import echo; print(echo.answer('hello')['answer'])"],
        timeout=30,
        mounts={"/submission": readable_dir(solution)},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == b"hello"


def test_it_refuses_the_usual_escapes(box):
    result = run(box, "escape.py")

    report = json.loads(result.stdout)
    for attempt in ("unshare_user", "unshare_net", "ptrace_pid1", "mount_tmpfs", "setuid_0"):
        assert report[attempt] == "Operation not permitted", attempt
    assert report["write_usr"] == "Read-only file system"
    assert report["write_runtime"] == "Read-only file system"
    assert report["write_root"] == "Permission denied"
    assert report["threads"] == "returned [None]" and report["subprocess"] == "ok"  # ordinary code still works


def test_it_allows_no_network_but_the_model(box):
    targets = ["127.0.0.1:5432", "127.0.0.1:6379", "[::1]:6379", "10.255.255.1:80"]

    result = run(box, "network.py", *targets, timeout=15)

    report = json.loads(result.stdout)
    for target in targets:
        assert report[target] in ("ECONNREFUSED", "ENETUNREACH", "EHOSTUNREACH", "EADDRNOTAVAIL"), target
    assert report["10.255.255.1:80"] == "ENETUNREACH"
    assert report["dns"] == "gaierror"
    assert report["interfaces"] == ["lo"]
    reachable_on_host = [port for port in (5432, 6379) if host_can_connect(port)]
    assert reachable_on_host, "expected the host's PostgreSQL or Redis to be running for this test"


def test_it_refuses_every_socket_family_but_unix_and_ip(box):
    result = run(box, "socket_families.py", timeout=15)

    report = json.loads(result.stdout)
    # AF_VSOCK reaches a VM worker's host past the network namespace; the others are kernel surface.
    for family in ("AF_NETLINK", "AF_VSOCK", "AF_PACKET", "AF_ALG"):
        assert report[f"socket {family}"] == "EAFNOSUPPORT", family
        assert report[f"socketpair {family}"] == "EAFNOSUPPORT", family
    assert report["socket AF_NETLINK high bits"] == "EAFNOSUPPORT"
    for family in ("AF_UNIX", "AF_INET", "AF_INET6"):
        assert report[f"socket {family}"] == "ok", family
    assert report["socketpair AF_UNIX"] == "ok"
    assert report["talk AF_INET"] == report["talk AF_INET6"] == report["talk AF_UNIX pair"] == "ok"
    assert report["resolve localhost"] == "ok"  # glibc's AF_NETLINK probe, refused, falls back


# --- hostile programs -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("script", ["forkbomb_fork.py", "forkbomb_shell.py"])
def test_it_contains_a_fork_bomb_and_kills_it_at_the_wall(box, script):
    tag = f"bomb-{uuid.uuid4().hex}"

    # Long enough for the bomb to reach the process limit on a loaded machine (it takes well under
    # a second on a quiet one); the point is that it is contained, then killed at the wall.
    result = run(box, script, tag, timeout=8)

    assert result.timed_out and result.killed == "wall"
    assert 8 <= result.duration_s < 14
    assert b"Resource temporarily unavailable" in result.stderr or b"Cannot fork" in result.stderr
    assert_host_is_fine(tag)


def test_it_kills_a_memory_hog(box):
    result = run(box, "memory_hog.py", timeout=20)

    assert b"the limit did not hold" not in result.stdout
    assert result.returncode != 0 and not result.timed_out
    if _cgroup_support().version:
        assert result.oom_killed
        assert result.usage["memory_peak_mb"] <= 256
    assert_host_is_fine()


def test_it_stops_a_disk_filler(box):
    result = run(box, "disk_filler.py", timeout=20)

    report = json.loads(result.stdout)
    assert report["submission"] in ("Read-only file system", "No such file or directory")
    assert report["big_file"] == "File too large" and report["big_file_mb"] <= 16  # RLIMIT_FSIZE
    assert report["many_files"] == "No space left on device" and report["many_files_mb"] <= 32  # tmpfs size
    assert_host_is_fine()


def test_the_submission_is_read_only(box, tmp_path):
    submission = readable_dir(tmp_path / "submission" / "helpdesk").parent
    (submission / "helpdesk" / "__init__.py").write_text("def answer(q):\n    return {}\n")
    readable_dir(submission)

    result = run(box, "disk_filler.py", timeout=20, mounts={"/submission": submission})

    assert json.loads(result.stdout)["submission"] == "Read-only file system"
    assert sorted(p.name for p in submission.rglob("*")) == ["__init__.py", "helpdesk"]


@pytest.mark.slow
def test_it_kills_a_program_that_ignores_sigterm_at_the_wall(box):
    result = run(box, "spin_ignore_term.py", timeout=2)

    assert result.stdout == b"spinning\n"
    assert result.timed_out and result.killed == "wall"
    assert 2 <= result.duration_s < 5
    assert_host_is_fine()


def test_it_kills_a_cpu_hog_at_the_cpu_budget(runtime):
    if not _cgroup_support().version:
        pytest.skip("CPU time is counted by the cgroup; without one RLIMIT_CPU kills each process")
    executor = SandboxExecutor(runtime_dir=runtime, memory_mb=256, cpu_seconds=1)

    result = run(executor, "spin_many.py", timeout=20)  # 4 processes: none reaches RLIMIT_CPU first

    assert result.killed == "cpu" and not result.timed_out
    assert 1 <= result.usage["cpu_s"] < 2  # polled every 0.1 s of wall time, over 2 cores at most
    assert_host_is_fine()


@pytest.mark.slow
def test_it_kills_an_import_that_hangs(box):
    result = box.run(
        ["python", "-c", "from helpdesk import answer"],
        timeout=2,
        mounts={"/submission": HOSTILE / "hang_import"},
    )

    assert result.timed_out and result.killed == "wall"
    assert_host_is_fine()


def test_it_reports_a_program_that_kills_its_parent_and_everyone(box):
    bystander = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sleep", "60"])
    try:
        result = run(box, "kill_parent.py", timeout=10)

        assert b"parent 1\n" in result.stdout
        assert b"kill 1: Operation not permitted" in result.stdout  # bwrap's init is not its to kill
        assert result.returncode is not None and not result.timed_out
        assert bystander.poll() is None, "a process of the same uid outside the box was killed"
    finally:
        bystander.kill()
        bystander.wait()
    assert_host_is_fine()


def test_it_caps_what_it_keeps_of_the_output(runtime):
    executor = SandboxExecutor(runtime_dir=runtime, memory_mb=256, output_limit=64 * 1024)

    result = run(executor, "flood.py", timeout=20)

    assert result.returncode == 0  # the program was never blocked on a full pipe
    assert len(result.stdout) == len(result.stderr) == 64 * 1024
    assert result.stdout_truncated and result.stderr_truncated


@pytest.mark.slow
def test_a_fork_bomb_does_not_starve_the_boxes_next_to_it(box):
    tag = f"bomb-{uuid.uuid4().hex}"
    results = {}
    calm = "import subprocess\nfor _ in range(20): subprocess.run(['true'], check=True)\nprint('ok')"

    def bomb():
        results["bomb"] = run(box, "forkbomb_fork.py", tag, timeout=3)

    threads = [threading.Thread(target=bomb)]
    for n in range(3):
        threads.append(
            threading.Thread(target=lambda n=n: results.__setitem__(n, box.run(["python", "-c", calm], timeout=20)))
        )
    threads[0].start()
    time.sleep(1)  # the bomb is at its limit by now
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join()

    assert results["bomb"].timed_out
    assert [results[n].stdout for n in range(3)] == [b"ok\n"] * 3
    assert_host_is_fine(tag)


# --- the model, the runner's interface ------------------------------------------------------------


@pytest.mark.slow
def test_the_real_sdk_reaches_the_fake_model_through_the_unix_socket(box, tmp_path):
    socket_path = str(tmp_path / "model.sock")
    with FakeModel(unix_socket=socket_path) as fake:
        result = run(
            box,
            "sdk_call.py",
            timeout=60,
            env={"ANTHROPIC_BASE_URL": box.model_url, "ANTHROPIC_API_KEY": "sk-ant-test"},
            model_socket=socket_path,
        )
        requests = fake.requests

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "How do I reset my password?" in report["text"]
    assert report["django"] == "missing"
    assert report["anthropic"] == "2.14.0"
    assert len(requests) == 1
    assert result.isolation["network"] == "model socket only"
    assert_host_is_fine()


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_launch_runs_the_harness_like_the_subprocess_executor(box, tmp_path, transport):
    submission = readable_dir(tmp_path / "submission" / "helpdesk").parent
    shutil.copyfile(HOSTILE / "answer_over_http.py", submission / "helpdesk" / "__init__.py")
    docs = readable_dir(tmp_path / "work" / "docs")
    (docs / "reset-password.md").write_text("# Reset your password\n")
    readable_dir(docs)
    scratch = tmp_path / "work" / "scratch"
    scratch.mkdir()
    readable_dir(submission)
    fake = FakeModel(unix_socket=str(tmp_path / "m.sock") if transport == "unix" else None).start()
    job = HarnessJob(
        submission_dir=submission,
        work_dir=scratch,
        model_base_url=fake.base_url,
        model_unix_socket=fake.unix_socket,
        env={"HELPDESK_DOCS_DIR": str(docs)},
        stdin=json.dumps(
            {"entry_point": "helpdesk:answer", "inputs": ["Where is the reset link?"], "nonce": "n0"}
        ).encode(),
    )
    try:
        handle = box.launch(job)
        out = handle.stdout.read()  # the harness exits after "done"
        handle.wait_cleaned(10)
        handle.kill()
    finally:
        fake.stop()

    events = [json.loads(line) for line in out.splitlines()]
    kinds = [e["ev"] for e in events]
    assert kinds[0] == "hello" and kinds[-1] == "done" and "ready" in kinds
    result = next(e for e in events if e["ev"] == "result")
    assert result["outcome"] == "returned", result
    assert "Where is the reset link?" in result["value"]["answer"]
    assert handle.isolation["sandboxed"] is True
    assert handle.poll() == 0 and handle.killed is None
    box.close()  # the warm box stays for the grading's next probe until then
    assert_host_is_fine()


def test_launch_sees_the_docs_and_nothing_else(box, tmp_path):
    submission = readable_dir(tmp_path / "submission" / "helpdesk").parent
    (submission / "helpdesk" / "__init__.py").write_text(
        "import os\n"
        "def answer(q):\n"
        "    docs = os.environ['HELPDESK_DOCS_DIR']\n"
        "    return {'status': 'unknown', 'answer': docs + ':' + ','.join(sorted(os.listdir(docs)))"
        " + ':' + os.getcwd() + ':' + os.environ['ANTHROPIC_BASE_URL'], 'citations': []}\n"
    )
    readable_dir(submission)
    docs = readable_dir(tmp_path / "work" / "docs")
    (docs / "a.md").write_text("# A\n")
    readable_dir(docs)
    job = HarnessJob(
        submission_dir=submission,
        work_dir=tmp_path,
        model_base_url="http://127.0.0.1:1/p/probe-7",
        env={"HELPDESK_DOCS_DIR": str(docs)},
        stdin=json.dumps({"entry_point": "helpdesk:answer", "inputs": ["q"], "nonce": "n"}).encode(),
    )

    handle = box.launch(job)
    out = handle.stdout.read()
    handle.kill()
    box.close()

    value = next(e for e in map(json.loads, out.splitlines()) if e["ev"] == "result")["value"]
    assert value["answer"] == "/data/helpdesk_docs_dir:a.md:/tmp:http://127.0.0.1:8080/p/probe-7"
    assert_host_is_fine()


@pytest.mark.slow
def test_launch_kills_at_the_wall_when_the_runner_does_not(runtime, tmp_path):
    executor = SandboxExecutor(runtime_dir=runtime, memory_mb=256, wall_seconds=2)
    job = HarnessJob(
        submission_dir=HOSTILE / "hang_import",
        work_dir=tmp_path,
        model_base_url="http://127.0.0.1:1",
        stdin=json.dumps({"entry_point": "helpdesk:answer", "inputs": ["q"], "nonce": "n"}).encode(),
    )

    handle = executor.launch(job)
    started = time.monotonic()
    out = handle.stdout.read()  # EOF only when the box is killed

    kinds = [json.loads(line)["ev"] for line in out.splitlines()]
    assert kinds[0] == "hello" and "ready" not in kinds
    assert time.monotonic() - started < 5
    assert handle.wait_cleaned(10) and handle.killed == "wall" and handle.poll() is not None
    executor.close()
    assert_host_is_fine()


# --- failures that are ours, and the unsafe mode --------------------------------------------------


def test_a_box_that_cannot_be_set_up_is_a_sandbox_error(box):
    with pytest.raises(SandboxError, match="bwrap: Can't mkdir"):
        box.run(
            ["python", "-c", "print(1)"],
            timeout=5,
            mounts={"/hostile": HOSTILE, "/hostile/not-there/x.py": HOSTILE / "flood.py"},
        )
    assert_host_is_fine()


def test_without_bubblewrap_it_refuses_to_run(runtime):
    executor = SandboxExecutor(runtime_dir=runtime, bwrap="/nonexistent/bwrap")

    assert sandbox_status("/nonexistent/bwrap") == (False, "bubblewrap not found (/nonexistent/bwrap)")
    with pytest.raises(SandboxUnavailable, match=r"Install bubblewrap.*SANDBOX_ALLOW_UNSAFE=1"):
        executor.run(["python", "-c", "print(1)"], timeout=5)
    with pytest.raises(SandboxUnavailable):
        executor.start()


def test_unsafe_mode_runs_unsandboxed_and_says_so(runtime, tmp_path):
    executor = SandboxExecutor(runtime_dir=runtime, bwrap="/nonexistent/bwrap", allow_unsafe=True)
    submission = readable_dir(tmp_path / "submission" / "helpdesk").parent
    (submission / "helpdesk" / "__init__.py").write_text("def answer(q):\n    return {'status': 'unknown'}\n")

    result = executor.run(
        ["python", "-c", "import sys; from helpdesk import answer; print(answer('x'), sys.prefix)"],
        timeout=10,
        mounts={"/submission": submission},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{{'status': 'unknown'}} {runtime}\n".encode()
    assert result.isolation["sandboxed"] is False and result.isolation["unsandboxed"] is True
    assert result.isolation["reason"] == "bubblewrap not found (/nonexistent/bwrap)"
    assert executor.sandboxed is False and executor.name == "unsandboxed"
    assert executor.isolation["unsandboxed"] is True


def test_the_settings_configure_it(settings, runtime):
    settings.SANDBOX_MEMORY_MB = 300
    settings.SANDBOX_MAX_PROCESSES = 40
    settings.SANDBOX_CPU_SECONDS = 7
    settings.SANDBOX_FILE_SIZE_MB = 5
    settings.SANDBOX_UID = 65534

    executor = SandboxExecutor.from_settings(runtime_dir=runtime)

    assert executor.isolation["limits"] | {"wall_s": 0} == {
        "memory_mb": 300,
        "pids": 40,
        "cpu_s": 7,
        "fsize_mb": 5,
        "tmp_mb": 20,
        "wall_s": 0,
    }
    assert executor.sandboxed and executor.name == "bubblewrap"
    assert executor.warm and "warm" in executor.isolation["box"]
    settings.SANDBOX_WARM = False
    assert not SandboxExecutor.from_settings(runtime_dir=runtime).warm


# --- without cgroups: rlimits only ----------------------------------------------------------------


@pytest.fixture(scope="module")
def rlimits_only(runtime):
    return SandboxExecutor(runtime_dir=runtime, memory_mb=256, max_processes=64, cgroups="none")


def test_without_cgroups_rlimits_stop_a_memory_hog(rlimits_only):
    result = run(rlimits_only, "memory_hog.py", timeout=20)

    assert result.isolation["cgroup"] is None and "as=268435456" in result.isolation["rlimits"]
    assert b"MemoryError" in result.stderr and b"the limit did not hold" not in result.stdout
    assert_host_is_fine()


@pytest.mark.slow
def test_without_cgroups_rlimits_contain_a_fork_bomb(rlimits_only):
    tag = f"bomb-{uuid.uuid4().hex}"

    result = run(rlimits_only, "forkbomb_fork.py", tag, timeout=2)

    assert result.timed_out and "nproc=64" in result.isolation["rlimits"]
    assert b"Resource temporarily unavailable" in result.stderr
    assert_host_is_fine(tag)


@pytest.mark.slow
def test_without_cgroups_thirty_two_sdk_threads_still_fit(runtime):
    executor = SandboxExecutor(runtime_dir=runtime, memory_mb=1024, cgroups="none")
    code = (
        "import threading, anthropic\n"
        "def work():\n"
        "    anthropic.Anthropic(api_key='x', base_url='http://127.0.0.1:1').close()\n"
        "threads = [threading.Thread(target=work) for _ in range(32)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print('ok')\n"
    )

    result = executor.run(["python", "-c", code], timeout=60)

    assert result.stdout == b"ok\n", result.stderr[-2000:]


# --- a worker that dies -------------------------------------------------------------------------

WORKER = """
import sys, threading, time
sys.path.insert(0, {project!r})
from grader.sandbox import SandboxExecutor
executor = SandboxExecutor(runtime_dir={runtime!r}, memory_mb=256)
boxes = []
thread = threading.Thread(target=lambda: boxes.append(executor._spawn(
    ["python", "-c", "import time; time.sleep(60)", {tag!r}], env={{}}, stdin=None, mounts={{}},
    model_tcp=("127.0.0.1", 9), wall_s=60)))
thread.start(); thread.join()  # the launching thread is gone: the box must not go with it
print(boxes[0].cgroup.name if boxes[0].cgroup else "-", boxes[0].bridge.path, flush=True)
time.sleep(60)
"""


def test_boxes_and_bridges_die_with_their_worker_and_its_cgroups_are_swept(runtime):
    from grader.sandbox.cgroups import _sweep_stale

    tag = f"orphan-{uuid.uuid4().hex}"
    script = WORKER.format(project=str(PROJECT), runtime=str(runtime), tag=tag)
    worker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    cgroup_name, bridge_socket = worker.stdout.readline().split()
    assert processes_tagged(tag) and processes_tagged(bridge_socket)  # the box outlived its launching thread

    worker.kill()
    worker.wait()

    deadline = time.monotonic() + 5
    while (processes_tagged(tag) or processes_tagged(bridge_socket)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_tagged(tag) == [] and processes_tagged(bridge_socket) == []
    assert Path(bridge_socket).parent.name.startswith(f"sandbox-bridge-{worker.pid}-")
    shutil.rmtree(Path(bridge_socket).parent)  # what the next worker's sweep would do
    support = _cgroup_support()
    if support.version:
        parents = [support.v2_parent] if support.v2_parent else [p for _, p in support.v1_parents]
        assert any((parent / cgroup_name).exists() for parent in parents)  # left behind by the dead worker
        _sweep_stale(support)
        assert not any((parent / cgroup_name).exists() for parent in parents)
