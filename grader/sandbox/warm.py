"""The warm box: one box per probe thread of a grading, a forked child per probe inside it.

A fresh box per probe pays a new interpreter and the ``anthropic`` import (2.5-4 s of CPU on two
cores) forty times per grading. A warm box is started once, with the submission mounted, and runs
:mod:`grader.sandbox.boxserver`, which imports the runtime and then forks one child per probe.
Every containment property of a fresh box still holds per probe:

- **Limits**: each child is moved into a cgroup of its own (memory, processes, CPU time, OOM kills
  counted) *before* it runs anything of the candidate's; the host kills that cgroup when the probe
  ends, so nothing the probe started outlives it. The box's own cgroup is above them all.
- **A uid per probe**: the child drops from the server's root to a uid of its own, with no
  capabilities; it cannot signal, trace or read the server (uid 0), the model bridge (the box's uid)
  or anything an earlier probe left.
- **An empty /tmp and no processes left**: after each probe, a cleaner running as that probe's uid
  kills whatever it still has and deletes all it owns in /tmp; the next probe starts only once it
  has reported an empty /tmp (a box that cannot be cleaned is thrown away).
- **A fresh fake model**: the box's model bridge connects, per connection, to a socket the host
  swaps for each probe's own fake model.
- **Its own inputs**: the probe's docs are copied into the box's /data for that probe only.

Probes that run at the same time are in different boxes, so a probe never shares a network, a /tmp
or a process namespace with another that is running. Concurrent probes need their own network
namespace each, which only a new box gives (the server would need CAP_SYS_ADMIN to make one).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import shutil
import signal
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from grader.executors import DUMMY_API_KEY, HARNESS, HarnessJob

from .box import (
    _POLL_S,
    HARNESS_INSIDE,
    RUNTIME_INSIDE,
    SUBMISSION_INSIDE,
    TMP_INSIDE,
    SandboxBox,
    _environment,
    _HostBridge,
    _memfd,
)
from .cgroups import _RunCgroup
from .errors import SandboxError

if TYPE_CHECKING:  # the executor builds warm boxes; importing it here at run time would be circular
    from .executors import SandboxExecutor

SERVER = Path(__file__).resolve().parent / "boxserver.py"
SERVER_INSIDE = "/harness/boxserver.py"
DATA_INSIDE = "/data"
UIDS_PER_BOX = 16
CHILD_UID_BASE = 200_000
SERVER_MEMORY_MB = 384  # the server's preloaded runtime and the bridge, above the child's own limit
SERVER_PROCESSES = 64
BOX_WALL_S = 24 * 3600.0  # a backstop: a grading closes its boxes when it ends
_START_TIMEOUT_S = 120.0
_REPLY_TIMEOUT_S = 30.0
_CLEAN_TIMEOUT_S = 20.0
_UCRED = struct.Struct("3i")
_box_numbers = itertools.count()


def _readable_copy(source: Path, target: Path) -> None:
    """Copy a probe's input for the box (the probe's uid must read it; nothing of it stays writable)."""
    if source.is_dir():
        shutil.copytree(source, target, symlinks=False)
    else:
        shutil.copyfile(source, target)
    for path in [target, *(target.rglob("*") if target.is_dir() else [])]:
        path.chmod(0o755 if path.is_dir() else 0o644)


class WarmBox:
    """A box running the box server for one submission; runs one probe's child at a time."""

    def __init__(
        self,
        executor: SandboxExecutor,
        submission_dir: Path,
        preload: tuple[str, ...],
        cancel: threading.Event | None = None,
    ) -> None:
        self.key = (submission_dir, preload)
        self.number = next(_box_numbers)
        # Each box's uids differ from its neighbours' (RLIMIT_NPROC counts per uid, machine-wide).
        first = CHILD_UID_BASE + ((os.getpid() * 64 + self.number) % 4096) * UIDS_PER_BOX
        self.uids = itertools.cycle(range(first, first + UIDS_PER_BOX))
        self.broken: str | None = None
        self.dead: str | None = None
        self.children = itertools.count(1)
        self._state = threading.Condition()
        self._messages: dict[tuple[str, int], dict[str, Any]] = {}
        self._closed = False
        self.model_dir = Path(tempfile.mkdtemp(prefix=f"sandbox-warm-model-{os.getpid()}-"))
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"sandbox-warm-data-{os.getpid()}-"))
        for folder in (self.model_dir, self.data_dir):
            folder.chmod(0o755)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock = ours
        passwd = "".join(f"probe:x:{u}:{u}::/tmp:/bin/sh\n" for u in range(first, first + UIDS_PER_BOX))
        try:
            self.box: SandboxBox = executor._spawn(
                [f"{RUNTIME_INSIDE}/bin/python", "-I", "-B", SERVER_INSIDE, str(theirs.fileno()), ",".join(preload)],
                env={},
                stdin=None,
                mounts={
                    SUBMISSION_INSIDE: submission_dir,
                    HARNESS_INSIDE: HARNESS,
                    SERVER_INSIDE: SERVER,
                    DATA_INSIDE: self.data_dir,
                },
                model_socket=self.model_dir,
                wall_s=BOX_WALL_S,
                server=True,
                keep_fds=(theirs.fileno(),),
                passwd=passwd,
            )
        except BaseException:
            ours.close()
            self._remove_folders()
            raise
        finally:
            theirs.close()
        hello = self._hello(cancel)
        if not hello.get("ready") or hello.get("failed"):
            self.close()
            failed = hello.get("failed") or {}
            missing = (
                "; ".join(f"{name}: {why}" for name, why in failed.items()) if isinstance(failed, dict) else failed
            )
            raise SandboxError(f"the runtime lacks modules: {str(missing)[:500] or 'the server did not say which'}")
        threading.Thread(target=self._listen, name=f"warm-box-{self.number}", daemon=True).start()

    def _hello(self, cancel: threading.Event | None) -> dict[str, Any]:
        """The server's first message, once it has imported the runtime (seconds on a busy machine)."""
        deadline = time.monotonic() + _START_TIMEOUT_S
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    raise SandboxError("the grading was stopped while its box started")
                if time.monotonic() > deadline:
                    raise SandboxError(f"the warm box's server did not start within {_START_TIMEOUT_S:.0f} s")
                readable, _, _ = select.select([self.sock], [], [], 0.25)
                if readable:
                    data = self.sock.recv(1 << 16)
                    if not data:
                        raise SandboxError("the warm box's server exited before it was ready")
                    hello: dict[str, Any] = json.loads(data)
                    return hello
        except (OSError, ValueError) as exc:
            self.close()
            raise SandboxError(f"the warm box's server did not start: {exc}") from exc
        except SandboxError:
            self.close()
            raise

    # -- the server's messages -------------------------------------------------------------------

    def _listen(self) -> None:
        while True:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(1 << 16, socket.CMSG_SPACE(_UCRED.size))
            except OSError:
                data = b""
            if not data:
                with self._state:
                    self.dead = self.dead or "the warm box's server exited"
                    self._state.notify_all()
                return
            try:
                message = json.loads(data)
            except ValueError:
                continue
            sender = next(
                (
                    _UCRED.unpack(cdata[: _UCRED.size])[0]
                    for level, kind, cdata in ancillary
                    if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS
                ),
                None,
            )
            with self._state:
                for kind in ("child", "exit", "cleaned"):
                    if kind in message:
                        self._messages[(kind, int(message[kind]))] = {**message, "sender": sender}
                if "error" in message:
                    self._messages[("error", int(message.get("id") or 0))] = message
                self._state.notify_all()

    def _await(self, kinds: tuple[str, ...], child: int, timeout: float) -> dict[str, Any] | None:
        with self._state:
            self._state.wait_for(lambda: any((k, child) in self._messages for k in kinds) or self.dead, timeout)
            for kind in kinds:
                if (kind, child) in self._messages:
                    return self._messages.pop((kind, child))
            return None

    def exit_code(self, child: int) -> int | None:
        with self._state:
            found = self._messages.get(("exit", child))
            return None if found is None else int(found["code"])

    def wait_exit(self, child: int, timeout: float) -> bool:
        with self._state:
            return self._state.wait_for(lambda: ("exit", child) in self._messages or bool(self.dead), timeout)

    def _send(self, payload: dict[str, Any], fds: list[int] | None = None) -> None:
        try:
            if fds:
                socket.send_fds(self.sock, [json.dumps(payload).encode()], fds)
            else:
                self.sock.send(json.dumps(payload).encode())
        except OSError as exc:
            raise SandboxError(f"the warm box's server is gone: {exc}") from exc

    # -- one probe -------------------------------------------------------------------------------

    def spawn(self, executor: SandboxExecutor, job: HarnessJob, on_done: Callable[[WarmBox], None]) -> WarmChild:
        try:
            return self._spawn(executor, job, on_done)
        except OSError as exc:  # copying the inputs, swapping the socket: the host's fault, never the candidate's
            raise SandboxError(f"could not prepare the warm box for the probe: {exc}") from exc

    def _spawn(self, executor: SandboxExecutor, job: HarnessJob, on_done: Callable[[WarmBox], None]) -> WarmChild:
        number = next(self.children)
        uid = next(self.uids)
        env = {"ANTHROPIC_API_KEY": DUMMY_API_KEY}
        for key, value in job.env.items():
            if os.path.isabs(value) and os.path.exists(value):
                name = key.lower()
                _readable_copy(Path(value), self.data_dir / name)
                env[key] = f"{DATA_INSIDE}/{name}"
            else:
                env[key] = value
        url = urlsplit(job.model_base_url)
        env["ANTHROPIC_BASE_URL"] = executor.model_url + url.path.rstrip("/")
        if executor._support().version is None:
            env["MALLOC_ARENA_MAX"] = "2"
        environment = _environment(env, {SUBMISSION_INSIDE: Path(job.submission_dir)})
        if job.model_unix_socket:
            bridge = _HostBridge(unix=job.model_unix_socket, folder=str(self.model_dir))
        else:
            bridge = _HostBridge(url.hostname or "127.0.0.1", url.port or 80, folder=str(self.model_dir))
        os.replace(bridge.path, self.model_dir / "model.sock")  # new connections reach this probe's fake
        bridge.path = str(self.model_dir / "model.sock")
        child = WarmChild(self, number, uid, executor, bridge, on_done)
        try:
            child._start(executor, job.stdin, environment)
        except BaseException:
            self.broken = self.broken or "a probe's child could not be started"  # its server's state is unknown
            child._finish()
            raise
        return child

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        return not (self.broken or self.dead or self._closed) and self.box.poll() is None

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self.sock.close()
        box = getattr(self, "box", None)
        if box is not None:
            box.kill()
        self._remove_folders()

    def _remove_folders(self) -> None:
        shutil.rmtree(self.model_dir, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def clear_data(self) -> None:
        for entry in self.data_dir.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


class WarmChild:
    """One probe's child in a warm box: the ``RunningHarness`` the runner follows.

    A watchdog enforces the wall and CPU limits on the child's own cgroup; when the child ends or is
    killed, everything of the probe is killed, its usage read, its /tmp emptied, and the box handed
    back for the next probe (or thrown away if any of that failed).
    """

    def __init__(
        self,
        box: WarmBox,
        number: int,
        uid: int,
        executor: SandboxExecutor,
        bridge: _HostBridge,
        on_done: Callable[[WarmBox], None],
    ) -> None:
        self.box, self.number, self.uid, self.bridge, self.on_done = box, number, uid, bridge, on_done
        self.wall_s = executor.wall_seconds
        self.cpu_s = float(executor.cpu_seconds)
        self.isolation = executor.isolation
        self.pid = 0
        self.killed: str | None = None
        self.oom_killed = False
        self.usage: dict[str, float] = {}
        self.started = time.monotonic()
        self.cgroup: _RunCgroup | None = None
        self._pidfd: int | None = None
        self._done = threading.Event()
        self._finishing = threading.Lock()
        self._finished = False
        self._stdout: IO[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    # RunningHarness
    @property
    def stdout(self) -> IO[bytes]:
        if self._stdout is None:
            raise SandboxError("the child has not started")
        return self._stdout

    @property
    def stderr(self) -> IO[bytes]:
        if self._stderr is None:
            raise SandboxError("the child has not started")
        return self._stderr

    def poll(self) -> int | None:
        code = self.box.exit_code(self.number)
        if code is None and self.box.dead:
            return -int(signal.SIGKILL)
        return code

    def kill(self) -> None:
        if self.killed is None and self.poll() is None:
            self.killed = "kill"
        self._kill_all()
        self.wait_cleaned(_CLEAN_TIMEOUT_S + 10)

    @property
    def timed_out(self) -> bool:
        return self.killed == "wall"

    def wait_cleaned(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    # -- start -----------------------------------------------------------------------------------

    def _start(self, executor: SandboxExecutor, stdin: bytes, env: dict[str, str]) -> None:
        if self.box.box.cgroup is not None:
            self.cgroup = self.box.box.cgroup.child(
                f"probe-{self.number}", memory_mb=executor.memory_mb, max_processes=executor.max_processes
            )
        stdin_fd = _memfd(stdin or b"", sealed=True)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self._stdout, self._stderr = os.fdopen(out_r, "rb"), os.fdopen(err_r, "rb", buffering=0)
        job = {
            "op": "spawn",
            "id": self.number,
            "uid": self.uid,
            "argv": [f"{RUNTIME_INSIDE}/bin/python", HARNESS_INSIDE],
            "env": env,
            "cwd": TMP_INSIDE,
        }
        try:
            self.box._send(job, [stdin_fd, out_w, err_w])
        finally:
            for fd in (stdin_fd, out_w, err_w):
                os.close(fd)
        reply = self.box._await(("child", "error"), self.number, _REPLY_TIMEOUT_S)
        pid = reply.get("sender") if reply else None
        if not reply or "child" not in reply or not isinstance(pid, int) or pid <= 0:
            raise SandboxError(f"the warm box did not start the probe's child: {reply or self.box.dead or 'no reply'}")
        self.pid = pid
        try:
            self._pidfd = os.pidfd_open(pid)
            if self.cgroup is not None:
                self.cgroup.add(pid)  # before a line of the candidate's code runs
        except OSError as exc:
            self.box._send({"op": "go", "id": self.number, "run": False})
            raise SandboxError(f"could not contain the probe's child: {exc}") from exc
        self.started = time.monotonic()
        self.box._send({"op": "go", "id": self.number, "run": True})
        threading.Thread(target=self._watch, name=f"warm-child-{pid}", daemon=True).start()

    # -- watching and cleaning up ----------------------------------------------------------------

    def _watch(self) -> None:
        try:
            deadline = self.started + self.wall_s
            while self.poll() is None:
                if time.monotonic() >= deadline:
                    self.killed = self.killed or "wall"
                    break
                used = self.cgroup.cpu_seconds() if self.cgroup else None
                if used is not None and used > self.cpu_s:
                    self.killed = self.killed or "cpu"
                    break
                self.box.wait_exit(self.number, _POLL_S)
        finally:
            self._finish()

    def _kill_all(self) -> None:
        """Everything of this probe: its cgroup, or (rlimits only) the leader, then its uid's processes."""
        if self._pidfd is not None and self.box.exit_code(self.number) is None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill()

    def _finish(self) -> None:
        with self._finishing:
            if self._finished:
                return
            self._finished = True
        box = self.box
        try:
            self._kill_all()
            if self.pid and not box.wait_exit(self.number, 5):
                box.broken = box.broken or "a probe's child did not end when killed"
            if self.cgroup is not None:
                self.oom_killed = self.cgroup.oom_killed()
                usage = {"cpu_s": self.cgroup.cpu_seconds(), "memory_peak_mb": self.cgroup.memory_peak_mb()}
                self.usage = {k: round(v, 3) for k, v in usage.items() if v is not None}
                if not self.cgroup.remove():
                    box.broken = box.broken or "a probe's cgroup could not be removed"
            if not box.dead:
                try:
                    box._send({"op": "clean", "id": self.number, "uid": self.uid})
                    cleaned = box._await(("cleaned",), self.number, _CLEAN_TIMEOUT_S)
                except SandboxError:
                    cleaned = None
                if cleaned is None or cleaned.get("left"):
                    box.broken = box.broken or f"the box's /tmp could not be emptied: {cleaned or 'no answer'}"
        finally:
            self.bridge.close()
            with contextlib.suppress(OSError):
                box.clear_data()
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
            self._done.set()
            self.on_done(box)


class WarmPool:
    """The warm boxes of one executor: an idle one is reused for the same submission and runtime."""

    max_idle = 8

    def __init__(self, executor: SandboxExecutor) -> None:
        self.executor = executor
        self._lock = threading.Lock()
        self._idle: list[WarmBox] = []
        self._busy: set[WarmBox] = set()

    def launch(self, job: HarnessJob) -> WarmChild:
        submission = Path(job.submission_dir).resolve()
        key = (submission, _preload(job))
        with self._lock:
            box = next((b for b in self._idle if b.key == key and b.usable), None)
            if box is not None:
                self._idle.remove(box)
                self._busy.add(box)
        if box is None:
            box = WarmBox(self.executor, submission, key[1], job.cancel)
            with self._lock:
                self._busy.add(box)
        try:
            return box.spawn(self.executor, job, self._release)
        except BaseException:
            with self._lock:
                self._busy.discard(box)
                if box in self._idle:
                    self._idle.remove(box)
            box.close()
            raise

    def _release(self, box: WarmBox) -> None:
        evicted: list[WarmBox] = []
        with self._lock:
            self._busy.discard(box)
            if box.usable:
                self._idle.append(box)
                while len(self._idle) > self.max_idle:
                    evicted.append(self._idle.pop(0))
            else:
                evicted.append(box)
        for old in evicted:
            old.close()

    def release(self, submission_dir: Path | str) -> None:
        """Close the idle boxes of a submission whose grading has ended."""
        submission = Path(submission_dir).resolve()
        with self._lock:
            done = [b for b in self._idle if b.key[0] == submission]
            self._idle = [b for b in self._idle if b not in done]
        for box in done:
            box.close()

    def close(self) -> None:
        with self._lock:
            boxes = [*self._idle, *self._busy]
            self._idle, self._busy = [], set()
        for box in boxes:
            box.close()


def _preload(job: HarnessJob) -> tuple[str, ...]:
    """The modules the job's harness will preload (the runner's own payload), for the server to import."""
    try:
        names = json.loads(job.stdin).get("preload", [])
    except (ValueError, AttributeError):
        names = []
    return tuple(n for n in names if isinstance(n, str) and n.replace(".", "").replace("_", "").isalnum())
