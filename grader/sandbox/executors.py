"""``SandboxExecutor``: the ``Executor`` of ``grader/executors.py`` that runs each program in a box.

It holds the settings (``SANDBOX_*``), decides each box's limits and what a run records as its
isolation, and offers the executor interface (``launch(job)``) plus ``run(argv, ...)`` for running
any program to the end. Without bubblewrap and with ``allow_unsafe`` (development only), programs
run as plain subprocesses and say so.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from grader.config import setting
from grader.executors import DUMMY_API_KEY, HARNESS, HarnessJob, SubprocessExecutor, piped

from .box import (
    _KILL_GRACE_S,
    _POLL_S,
    HARNESS_INSIDE,
    MODEL_PORT,
    RUNTIME_INSIDE,
    SUBMISSION_INSIDE,
    TMP_INSIDE,
    BoxSpec,
    IsolatedHarness,
    SandboxBox,
    _bwrap_version,
    _check_mounts,
    _environment,
    _memfd,
    _runtime_base_prefix,
    _tool,
    launch_box,
    sandbox_status,
)
from .cgroups import MiB, _cgroup_support, _CgroupSupport
from .errors import SandboxError, SandboxUnavailable
from .seccomp import _seccomp_program
from .warm import SERVER_MEMORY_MB, SERVER_PROCESSES, WarmPool

OUTPUT_LIMIT = 1024 * 1024
_PROJECT_DIR = Path(__file__).resolve().parents[2]


@dataclass
class SandboxResult:
    returncode: int | None  # bwrap's: the program's exit code, 128 + N for signal N; negative: we killed bwrap
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    duration_s: float = 0.0
    killed: str | None = None  # why the sandbox killed it: "wall" or "cpu"; None when it ended by itself
    oom_killed: bool = False
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    isolation: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, float] = field(default_factory=dict)  # from the cgroup: {"cpu_s": ..., "memory_peak_mb": ...}


class _Pipes:
    """Reads two pipes to EOF, keeping at most ``limit`` bytes of each (the rest is read and dropped)."""

    def __init__(self, streams: Mapping[str, IO[bytes]], limit: int) -> None:
        self.limit = limit
        self.streams = dict(streams)  # the selector's keys know them only as file-like objects
        self.out = {name: bytearray() for name in streams}
        self.truncated = dict.fromkeys(streams, False)
        self.selector = selectors.DefaultSelector()
        for name, stream in streams.items():
            os.set_blocking(stream.fileno(), False)
            self.selector.register(stream, selectors.EVENT_READ, name)

    @property
    def open(self) -> bool:
        return bool(self.selector.get_map())

    def pump(self, timeout: float) -> None:
        for key, _ in self.selector.select(max(timeout, 0)):
            try:
                chunk = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                self._close(key.data)
                continue
            buf = self.out[key.data]
            room = self.limit - len(buf)
            if len(chunk) > room:
                self.truncated[key.data] = True
            if room > 0:
                buf += chunk[:room]

    def close(self) -> None:
        for key in list(self.selector.get_map().values()):
            self._close(key.data)
        self.selector.close()

    def _close(self, name: str) -> None:
        self.selector.unregister(self.streams[name])
        self.streams[name].close()


class SandboxExecutor:
    """Runs each program in a fresh bubblewrap box. Safe to share between threads."""

    namespaces = ("mnt", "net", "pid", "ipc", "uts", "cgroup")
    model_url = f"http://127.0.0.1:{MODEL_PORT}"

    def __init__(
        self,
        *,
        bwrap: str = "bwrap",
        runtime_dir: str | os.PathLike[str] | None = None,
        memory_mb: int = 1024,
        max_processes: int = 256,
        cpu_seconds: int = 120,
        file_size_mb: int = 64,
        tmp_size_mb: int | None = None,
        wall_seconds: float = 900,
        uid: int = 65534,
        output_limit: int = OUTPUT_LIMIT,
        allow_unsafe: bool = False,
        cgroups: str = "auto",
        seccomp: bool = True,
        warm: bool = True,
    ) -> None:
        if cgroups not in ("auto", "none"):
            raise ValueError("cgroups must be 'auto' or 'none'")
        self.bwrap = bwrap
        self.runtime_dir = Path(runtime_dir) if runtime_dir else _PROJECT_DIR / "var" / "sandbox-runtime"
        self.memory_mb = memory_mb
        self.max_processes = max_processes
        self.cpu_seconds = cpu_seconds
        self.file_size_mb = file_size_mb
        # /tmp is a tmpfs: its pages count against the memory cgroup too, but its size caps it first.
        self.tmp_size_mb = tmp_size_mb or max(16, min(file_size_mb * 4, memory_mb // 2))
        self.wall_seconds = wall_seconds  # launch(): a backstop; the runner kills at the call limits
        self.uid = uid
        self.output_limit = output_limit
        self.allow_unsafe = allow_unsafe
        self.cgroups = cgroups
        self.seccomp = seccomp
        self.warm = warm
        self._pool = WarmPool(self)

    @classmethod
    def from_settings(cls, **overrides: Any) -> SandboxExecutor:
        """The executor the SANDBOX_* settings describe, with explicit overrides."""
        options = {
            "bwrap": setting("SANDBOX_BWRAP", "bwrap"),
            "runtime_dir": setting("SANDBOX_RUNTIME_DIR", None) or os.environ.get("SANDBOX_RUNTIME_DIR"),
            "memory_mb": setting("SANDBOX_MEMORY_MB", 1024),
            "max_processes": setting("SANDBOX_MAX_PROCESSES", 256),
            "cpu_seconds": setting("SANDBOX_CPU_SECONDS", 120),
            "file_size_mb": setting("SANDBOX_FILE_SIZE_MB", 64),
            "wall_seconds": setting("SANDBOX_WALL_SECONDS", 900),
            "uid": setting("SANDBOX_UID", 65534),
            "allow_unsafe": setting("SANDBOX_ALLOW_UNSAFE", False),
            "warm": setting("SANDBOX_WARM", True),
        }
        options.update(overrides)
        return cls(**options)

    # --- the executor interface ---------------------------------------------------------------

    @property
    def sandboxed(self) -> bool:
        return self._sandboxed()

    @property
    def name(self) -> str:
        return "bubblewrap" if self._sandboxed() else "unsandboxed"

    @property
    def isolation(self) -> dict[str, Any]:
        """What a box from this executor applies (the run's record); unsandboxed says so."""
        if not self._sandboxed():
            return self._unsafe_isolation()
        support = self._support()
        isolation = self._isolation(support.version, self._rlimits(support.version), self.wall_seconds, True)
        if self.warm:
            isolation["box"] = (
                "warm: one box per probe thread of the grading, a forked child per probe with its own uid,"
                " cgroup limits, emptied /tmp and fake model"
            )
        return isolation

    def start(self) -> None:
        """Fail now, not per probe, when the sandbox cannot run (``SandboxUnavailable``)."""
        if self._sandboxed():
            _runtime_base_prefix(str(self.runtime_dir / "bin" / "python"))
            self._support()

    def close(self) -> None:
        """Close the warm boxes (a grading's, once it has ended)."""
        self._pool.close()

    def release(self, submission_dir: str | os.PathLike[str]) -> None:
        """The grading of this submission has ended: close its idle warm boxes."""
        self._pool.release(Path(submission_dir))

    def launch(self, job: HarnessJob) -> IsolatedHarness:
        """Start the harness for one probe (in a warm box, else a fresh one) and return as soon as it runs."""
        if not self._sandboxed():
            return self._unsafe(job)
        if self.warm:
            return self._pool.launch(job)
        env = {"ANTHROPIC_API_KEY": DUMMY_API_KEY}
        mounts = {SUBMISSION_INSIDE: Path(job.submission_dir), HARNESS_INSIDE: HARNESS}
        for key, value in job.env.items():
            if os.path.isabs(value) and os.path.exists(value):
                inside = f"/data/{key.lower()}"
                mounts[inside] = Path(value)
                env[key] = inside
            else:
                env[key] = value
        url = urlsplit(job.model_base_url)
        env["ANTHROPIC_BASE_URL"] = self.model_url + url.path.rstrip("/")
        model_tcp = None if job.model_unix_socket else (url.hostname or "127.0.0.1", url.port or 80)
        return self._spawn(
            [f"{RUNTIME_INSIDE}/bin/python", "-I", "-B", HARNESS_INSIDE],
            env=env,
            stdin=job.stdin,
            mounts=mounts,
            model_socket=job.model_unix_socket,
            model_tcp=model_tcp,
            wall_s=self.wall_seconds,
        )

    # --- running a program to the end ---------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        mounts: Mapping[str, str | os.PathLike[str]] | None = None,
        model_socket: str | os.PathLike[str] | None = None,
        cwd: str = TMP_INSIDE,
    ) -> SandboxResult:
        """Run ``argv`` (inside paths) in a new box until it ends or the limits kill it."""
        paths = {str(k): Path(v) for k, v in (mounts or {}).items()}
        if not self._sandboxed():
            return self._run_unsafe(argv, env=env, timeout=timeout, stdin=stdin, mounts=paths, cwd=cwd)
        box = self._spawn(argv, env=env or {}, stdin=stdin, mounts=paths, model_socket=model_socket, wall_s=timeout)
        pipes = _Pipes({"stdout": box.stdout, "stderr": box.stderr}, self.output_limit)
        try:
            stop_at = None
            while pipes.open:
                pipes.pump(_POLL_S)
                if box.wait_cleaned(0):  # everything is dead: what is left in the pipes comes now
                    stop_at = stop_at or time.monotonic() + _KILL_GRACE_S
                    if time.monotonic() > stop_at:
                        break
        finally:
            pipes.close()
        box.wait_cleaned()
        return SandboxResult(
            returncode=box._process.returncode,
            stdout=bytes(pipes.out["stdout"]),
            stderr=bytes(pipes.out["stderr"]),
            timed_out=box.timed_out,
            duration_s=round(time.monotonic() - box.started, 3),
            killed=box.killed,
            oom_killed=box.oom_killed,
            stdout_truncated=pipes.truncated["stdout"],
            stderr_truncated=pipes.truncated["stderr"],
            isolation=box.isolation,
            usage=box.usage,
        )

    # --- internals ----------------------------------------------------------------------------

    def _sandboxed(self) -> bool:
        available, detail = sandbox_status(self.bwrap)
        if available:
            if not (self.runtime_dir / "bin" / "python").exists():
                raise SandboxUnavailable(
                    f"the sandbox runtime is missing at {self.runtime_dir}: run scripts/build-sandbox-runtime"
                )
            return True
        if self.allow_unsafe:
            return False
        raise SandboxUnavailable(
            f"Cannot sandbox candidate code: {detail}. Install bubblewrap (apt-get install bubblewrap socat "
            "util-linux) and run the worker as root, or set SANDBOX_ALLOW_UNSAFE=1 to run it unsandboxed "
            "(development only)."
        )

    def _support(self) -> _CgroupSupport:
        return _cgroup_support() if self.cgroups == "auto" else _CgroupSupport(None, detail="disabled")

    def _rlimits(self, cgroup_version: str | None) -> list[str]:
        # RLIMIT_NPROC counts every process of the uid on the machine, and concurrent boxes share
        # the uid: with a pids cgroup it is only a generous backstop, without one it is the limit.
        nproc = max(self.max_processes * 16, 4096) if cgroup_version else self.max_processes
        limits = [
            "--core=0",
            f"--fsize={self.file_size_mb * MiB}",
            f"--cpu={self.cpu_seconds}:{self.cpu_seconds + 5}",
            f"--nproc={nproc}",
        ]
        if cgroup_version is None:
            limits.append(f"--as={self.memory_mb * MiB}")
        return limits

    def _isolation(self, cgroup_version: str | None, rlimits: list[str], wall_s: float, model: bool) -> dict[str, Any]:
        return {
            "sandboxed": True,
            "tool": _bwrap_version(_tool(self.bwrap)),
            "namespaces": list(self.namespaces),
            "uid": self.uid,
            "no_new_privs": True,
            "capabilities": "none",
            "seccomp": bool(self.seccomp and _seccomp_program()),
            "cgroup": cgroup_version,
            "limits": {
                "memory_mb": self.memory_mb,
                "pids": self.max_processes,
                "cpu_s": self.cpu_seconds,
                "fsize_mb": self.file_size_mb,
                "tmp_mb": self.tmp_size_mb,
                "wall_s": wall_s,
            },
            "rlimits": [r.lstrip("-") for r in rlimits],
            "network": "model socket only" if model else "none",
            "filesystem": "read-only system, runtime and inputs; private tmpfs /tmp",
        }

    def _spawn(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        stdin: bytes | None,
        mounts: Mapping[str, Path],
        model_socket: str | os.PathLike[str] | None = None,
        model_tcp: tuple[str, int] | None = None,
        wall_s: float,
        cwd: str = TMP_INSIDE,
        server: bool = False,
        keep_fds: Sequence[int] = (),
        passwd: str = "",
    ) -> SandboxBox:
        _check_mounts(mounts, self.uid)
        folder = server and model_socket is not None and Path(model_socket).is_dir()  # a warm box's model folder
        if model_socket is not None and not (folder or Path(model_socket).is_socket()):
            raise SandboxError(f"the model socket {model_socket} is not there")
        support = self._support()
        rlimits = self._rlimits(support.version)
        has_model = model_socket is not None or model_tcp is not None
        # A warm box's cgroup holds its server and bridge above the probe's child and its limits.
        extra_mb, extra_pids = (SERVER_MEMORY_MB, SERVER_PROCESSES) if server else (0, 0)
        if support.version is None:
            # Under RLIMIT_AS, glibc's 64 MB per-thread malloc arenas exhaust the address space long
            # before the memory is used: 32 threads of an SDK client failed at 1 GB without this.
            env = {"MALLOC_ARENA_MAX": "2", **env}
        spec = BoxSpec(
            bwrap=self.bwrap,
            runtime_dir=self.runtime_dir,
            uid=self.uid,
            memory_mb=self.memory_mb + extra_mb,
            max_processes=self.max_processes + extra_pids,
            cpu_seconds=self.cpu_seconds,
            tmp_size_mb=self.tmp_size_mb,
            seccomp=self.seccomp,
            cgroup_support=support,
            rlimits=rlimits,
            isolation=self._isolation(support.version, rlimits, wall_s, has_model),
        )
        return launch_box(
            spec,
            argv,
            env=env,
            stdin=stdin,
            mounts=mounts,
            model_socket=model_socket,
            model_tcp=model_tcp,
            wall_s=wall_s,
            cwd=cwd,
            server=server,
            keep_fds=keep_fds,
            passwd=passwd,
        )

    # --- unsafe (development only) ------------------------------------------------------------

    def _unsafe_isolation(self) -> dict[str, Any]:
        return {"sandboxed": False, "unsandboxed": True, "reason": sandbox_status(self.bwrap)[1]}

    def _unsafe(self, job: HarnessJob) -> IsolatedHarness:
        python = self.runtime_dir / "bin" / "python"
        executor = SubprocessExecutor(python=str(python) if python.exists() else None)
        handle = executor.launch(job)
        handle.isolation = self._unsafe_isolation()
        return handle

    def _run_unsafe(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None,
        timeout: float,
        stdin: bytes | None,
        mounts: Mapping[str, Path],
        cwd: str,
    ) -> SandboxResult:
        """No isolation at all: a plain subprocess, inside paths mapped to the host's."""
        tmp = tempfile.mkdtemp(prefix="sandbox-unsafe-")
        mapping = {**{k: str(v) for k, v in mounts.items()}, TMP_INSIDE: tmp, RUNTIME_INSIDE: str(self.runtime_dir)}

        def host(value: str) -> str:
            for inside, outside in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
                if value == inside or value.startswith(inside + "/"):
                    return outside + value[len(inside) :]
            return value

        environment = {k: ":".join(host(p) for p in v.split(":")) for k, v in _environment(env or {}, mounts).items()}
        environment["PATH"] = f"{self.runtime_dir / 'bin'}:/usr/local/bin:/usr/bin:/bin"
        stdin_fd = _memfd(stdin or b"", sealed=True)
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                [host(a) for a in argv],
                stdin=stdin_fd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=host(cwd),
                env=environment,
                start_new_session=True,
            )
        finally:
            os.close(stdin_fd)
        pipes = _Pipes({"stdout": piped(proc.stdout), "stderr": piped(proc.stderr)}, self.output_limit)
        killed = None
        try:
            while pipes.open or proc.poll() is None:
                if killed is None and time.monotonic() >= started + timeout:
                    killed = "wall"
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signal.SIGKILL)
                if pipes.open:
                    pipes.pump(_POLL_S)
                else:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(_POLL_S)
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pipes.close()
            shutil.rmtree(tmp, ignore_errors=True)
        return SandboxResult(
            returncode=proc.returncode,
            stdout=bytes(pipes.out["stdout"]),
            stderr=bytes(pipes.out["stderr"]),
            timed_out=killed == "wall",
            duration_s=round(time.monotonic() - started, 3),
            killed=killed,
            stdout_truncated=pipes.truncated["stdout"],
            stderr_truncated=pipes.truncated["stderr"],
            isolation={**self._unsafe_isolation(), "limits": {"wall_s": timeout}},
        )
