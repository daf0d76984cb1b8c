"""Where candidate code runs. An executor starts the harness for one probe and can kill it hard.

The runner hands an executor a :class:`HarnessJob` (the submission, the docs folder the probe
means the candidate to see, a scratch folder, the fake model's address, the job for the harness
on stdin) and gets back a :class:`RunningHarness`: a pipe of result lines, a pipe of stderr, and
``kill()`` / ``poll()``. The executor decides how the code inside reaches the model: here it simply
gets ``ANTHROPIC_BASE_URL`` pointing at the fake; a sandboxing executor (bubblewrap, its own
network namespace) would bridge the fake's Unix socket instead. Executors here are NOT sandboxes:
``sandboxed`` is False and a run records that.

- :class:`SubprocessExecutor`: a fresh ``python -I harness.py`` per probe, in its own session.
- :class:`ForkServerExecutor`: the same, forked from a warm parent that has already imported the
  heavy modules (``anthropic`` takes ~2 s of CPU to import), so dozens of probes fit on two cores.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

HARNESS = Path(__file__).resolve().parent / "harness.py"
FORKSERVER = Path(__file__).resolve().parent / "forkserver.py"
DUMMY_API_KEY = "sk-ant-grading-dummy-key"


class ExecutorError(RuntimeError):
    """The executor could not start the candidate process: an infrastructure fault."""


@dataclass
class HarnessJob:
    submission_dir: Path
    work_dir: Path  # writable scratch folder, the process's cwd
    model_base_url: str  # the fake model as the runner sees it
    stdin: bytes  # the harness job (JSON)
    env: dict[str, str] = field(default_factory=dict)  # exercise-specific, e.g. HELPDESK_DOCS_DIR
    model_unix_socket: str | None = None
    cancel: threading.Event | None = None  # set: the grading stopped, so stop starting (a warm box's start)


class RunningHarness(Protocol):
    @property
    def pid(self) -> int: ...

    @property
    def stdout(self) -> IO[bytes]: ...

    @property
    def stderr(self) -> IO[bytes]: ...

    def poll(self) -> int | None: ...

    def kill(self) -> None: ...


class Executor(Protocol):
    """What the runner needs of an executor (``name`` and ``sandboxed`` are optional: it asks with getattr)."""

    def start(self) -> None: ...

    def launch(self, job: HarnessJob) -> RunningHarness: ...

    def close(self) -> None: ...


def piped(stream: IO[bytes] | None) -> IO[bytes]:
    """A pipe of a process started with ``subprocess.PIPE`` for it: there, never None."""
    if stream is None:
        raise ExecutorError("the process was started without this pipe")
    return stream


def clean_env(job: HarnessJob) -> dict[str, str]:
    """Only what the contract promises: no secrets, no PATH, nothing from the worker's environment."""
    env = {
        "ANTHROPIC_BASE_URL": job.model_base_url,
        "ANTHROPIC_API_KEY": DUMMY_API_KEY,
        "PYTHONPATH": str(job.submission_dir),
    }
    env.update(job.env)
    return env


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    except PermissionError:  # not our group (already reaped and reused): never touch it
        pass


def _feed(pipe: IO[bytes], data: bytes) -> None:
    """Write the job and close stdin from a thread: a candidate that never reads cannot block us."""

    def write() -> None:
        with contextlib.suppress(OSError, ValueError):
            pipe.write(data)
        with contextlib.suppress(OSError, ValueError):
            pipe.close()

    threading.Thread(target=write, name="harness-stdin", daemon=True).start()


class _Popened:
    isolation: dict[str, Any]  # set only by the sandbox's unsafe mode, which says it isolated nothing

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc, self.pid = proc, proc.pid
        self.stdout, self.stderr = piped(proc.stdout), piped(proc.stderr)

    def poll(self) -> int | None:
        return self.proc.poll()

    def kill(self) -> None:
        _kill_group(self.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


class SubprocessExecutor:
    """``python -I harness.py`` in a new session with a clean environment; SIGKILL to the group."""

    name = "subprocess"
    sandboxed = False

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable

    def launch(self, job: HarnessJob) -> _Popened:
        try:
            proc = subprocess.Popen(
                [self.python, "-I", "-B", str(HARNESS)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=job.work_dir,
                env=clean_env(job),
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise ExecutorError(f"could not start the harness: {exc}") from exc
        _feed(piped(proc.stdin), job.stdin)
        return _Popened(proc)

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Forked:
    def __init__(self, server: ForkServerExecutor, pid: int, stdout: IO[bytes], stderr: IO[bytes]) -> None:
        self.server, self.pid, self.stdout, self.stderr = server, pid, stdout, stderr

    def poll(self) -> int | None:
        return self.server._exit_code(self.pid)

    def kill(self) -> None:
        if self.poll() is None:
            _kill_group(self.pid)
        else:  # the leader is gone, but children it left in its group may not be
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        self.server._wait_exit(self.pid, timeout=5)


class ForkServerExecutor:
    """Forks each harness from a warm, single-threaded parent that preloaded ``preload`` modules.

    The parent runs ``python -I`` in a clean environment (no variables at all) and never imports
    anything from a submission; each child replaces its environment, cwd and descriptors before
    the harness runs, exactly as a fresh process would have them.
    """

    name = "forkserver"
    sandboxed = False

    def __init__(self, preload: tuple[str, ...] = ("anthropic", "pydantic"), python: str | None = None) -> None:
        self.python = python or sys.executable
        self.preload = tuple(preload)
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._state = threading.Condition()
        self._ids = itertools.count(1)
        self._replies: dict[int, dict[str, Any]] = {}
        self._exits: dict[int, int] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._dead: str | None = None

    # -- server lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Start the warm parent now (it is started on first launch otherwise)."""
        with self._lock:
            if self._sock is None:
                self._start()

    def _start(self) -> None:
        self._dead = None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [self.python, "-I", "-B", str(FORKSERVER), str(theirs.fileno()), ",".join(self.preload)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={},
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except OSError as exc:
            ours.close()
            raise ExecutorError(f"could not start the fork server: {exc}") from exc
        finally:
            theirs.close()
        ours.settimeout(120)
        try:
            hello = json.loads(ours.recv(1 << 20) or b"{}")
        except (OSError, ValueError) as exc:
            ours.close()
            self._proc.kill()
            raise ExecutorError(f"the fork server did not start: {exc}") from exc
        if not hello.get("ready") or hello.get("failed"):
            ours.close()
            self._proc.kill()
            raise ExecutorError(f"the fork server could not preload: {hello.get('failed')}")
        ours.settimeout(None)
        self._sock = ours
        threading.Thread(target=self._listen, args=(ours,), name="forkserver-listener", daemon=True).start()

    def _listen(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                with self._state:
                    self._dead = "the fork server exited"
                    self._state.notify_all()
                return
            message = json.loads(data)
            with self._state:
                if "exit" in message:
                    self._exits[message["exit"]] = message["code"]
                else:
                    self._replies[message["id"]] = message
                self._state.notify_all()

    def _exit_code(self, pid: int) -> int | None:
        with self._state:
            return self._exits.get(pid)

    def _wait_exit(self, pid: int, timeout: float) -> int | None:
        with self._state:
            self._state.wait_for(lambda: pid in self._exits or self._dead, timeout)
            return self._exits.get(pid)

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.close()
                self._sock = None
            if self._proc is not None:
                _kill_group(self._proc.pid)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=5)
                self._proc = None

    # -- jobs ------------------------------------------------------------------------------

    def launch(self, job: HarnessJob) -> RunningHarness:
        self.start()
        sock = self._sock
        if sock is None:  # another thread closed the server since start()
            raise ExecutorError("the fork server was closed")
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        job_id = next(self._ids)
        message = {
            "id": job_id,
            "argv": [self.python, str(HARNESS)],
            "env": clean_env(job),
            "cwd": str(job.work_dir),
        }
        try:
            with self._send_lock:
                socket.send_fds(sock, [json.dumps(message).encode()], [stdin_r, stdout_w, stderr_w])
        except OSError as exc:
            for fd in (stdin_w, stdout_r, stderr_r):
                os.close(fd)
            raise ExecutorError(f"the fork server is gone: {exc}") from exc
        finally:
            for fd in (stdin_r, stdout_w, stderr_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
        with self._state:
            self._state.wait_for(lambda: job_id in self._replies or self._dead, 30)
            reply = self._replies.pop(job_id, None)
        if reply is None or "pid" not in reply:
            for fd in (stdin_w, stdout_r, stderr_r):
                os.close(fd)
            raise ExecutorError(f"the fork server did not start the harness: {reply or self._dead or 'no reply'}")
        _feed(os.fdopen(stdin_w, "wb"), job.stdin)
        return _Forked(self, reply["pid"], os.fdopen(stdout_r, "rb"), os.fdopen(stderr_r, "rb", buffering=0))
