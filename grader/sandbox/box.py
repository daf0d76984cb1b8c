"""One box: the bubblewrap command line that builds it, its start, and the running box.

A box sees read-only binds of /usr (and the merged-/usr symlinks), a minimal /etc (a few host
entries, and passwd, group and hosts written per run), the base interpreter's prefix, the runtime
at /opt/runtime, the caller's mounts and the model socket; a private tmpfs at /tmp is the only
writable place. It is started as bwrap's root with only CAP_SETUID/SETGID/SETPCAP: its init starts
the model bridge (``socat``, as the unprivileged user), prints a per-run ready marker, then becomes
the unprivileged uid for good (``setpriv``: no capabilities, no_new_privs) and execs the program.
On the host, the launch joins the box's cgroups before exec-ing ``prlimit`` and ``bwrap``, so no
process of the box ever runs outside them; a watchdog thread per box enforces the wall and CPU
limits and cleans up. ``sandbox_status`` says whether boxes can run on this machine at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import math
import os
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from grader.config import setting
from grader.executors import RunningHarness, piped

from .cgroups import MiB, _cgroup_support, _CgroupSupport, _RunCgroup
from .errors import SandboxError, SandboxUnavailable
from .seccomp import _seccomp_program

RUNTIME_INSIDE = "/opt/runtime"
HARNESS_INSIDE = "/harness/harness.py"
SUBMISSION_INSIDE = "/submission"
MODEL_SOCKET_INSIDE = "/run/model.sock"
MODEL_DIR_INSIDE = "/run/model"  # a warm box's: the host swaps the socket in it for each probe
MODEL_PORT = 8080
TMP_INSIDE = "/tmp"  # noqa: S108 - a private tmpfs inside the box, not the host's /tmp
_SETUP_TIMEOUT_S = 30.0
_SETUP_STDERR_LIMIT = 64 * 1024
_KILL_GRACE_S = 3.0
_POLL_S = 0.1

# Host directories that are either bound read-only or, when the host has them as symlinks into
# /usr (Debian's merged /usr), recreated as the same symlinks.
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The only parts of the host's /etc the box sees (TLS roots, name service switch, the dynamic
# linker's cache, time zone, alternatives symlinks). passwd, group and hosts are written per run.
_ETC_ENTRIES = (
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
    "/etc/ca-certificates.conf",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/ld.so.cache",
    "/etc/mime.types",
)
# Inside paths a caller may not mount over.
_RESERVED = ("/", TMP_INSIDE, "/proc", "/dev", "/usr", "/etc", "/run", RUNTIME_INSIDE, "/opt")


# --- availability -----------------------------------------------------------------------------


def _tool(name: str) -> str | None:
    if os.sep in name:
        return name if os.access(name, os.X_OK) else None
    return shutil.which(name, path=os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin:/usr/bin:/bin")


@functools.lru_cache(maxsize=8)
def _bwrap_version(bwrap: str) -> str:
    try:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "bubblewrap"
    return out.stdout.strip() or "bubblewrap"


def sandbox_status(bwrap: str | None = None) -> tuple[bool, str]:
    """(available, detail): whether candidate code can be sandboxed on this machine, or why not."""
    bwrap = bwrap or setting("SANDBOX_BWRAP", "bwrap")
    path = _tool(bwrap)
    if not path:
        return False, f"bubblewrap not found ({bwrap})"
    missing = [name for name in ("setpriv", "prlimit", "socat") if not _tool(name)]
    if missing:
        return False, f"{', '.join(missing)} not found (packages util-linux, socat)"
    if os.geteuid() != 0:
        return False, "the sandbox must be started as root (it switches candidate code to an unprivileged uid)"
    support = _cgroup_support()
    return True, f"{_bwrap_version(path)} at {path}; limits by cgroup {support.version or 'none (rlimits only)'}"


# --- the box ----------------------------------------------------------------------------------

# Runs inside the box as its root (bwrap keeps only CAP_SETUID/SETGID/SETPCAP): starts the model
# bridge as the unprivileged user, waits for its port, prints the ready marker, then becomes the
# unprivileged user for good and execs the program.
_INIT = (
    r"""
set -u
marker=$1 uid=$2 bridge=$3 mode=$4; shift 4
drop="setpriv --reuid=$uid --regid=$uid --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all"
if [ "$bridge" = 1 ]; then
  $drop -- socat TCP-LISTEN:@PORT@,bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:@SOCK@ </dev/null >/dev/null 2>&1 &
  bridge_pid=$! i=0
  until grep -q ': 0100007F:@PORT_HEX@ 00000000:0000 0A' /proc/net/tcp; do
    # Not `kill -0`: this root has no CAP_KILL over the unprivileged bridge. A zombie is dead too.
    state=$(cat /proc/$bridge_pid/stat 2>/dev/null) || state=
    case "$state" in ""|*") Z "*) echo "sandbox: the model bridge (socat) exited" >&2; exit 125;; esac
    i=$((i + 1)); [ $i -gt 2000 ] && { echo "sandbox: the model bridge did not listen" >&2; exit 125; }
    sleep 0.005
  done
fi
printf '%s\n' "$marker" >&2
# A warm box's server stays root with CAP_SETUID/SETGID only, to give each child its own uid.
[ "$mode" = server ] && exec setpriv --no-new-privs --inh-caps=-all --bounding-set=-all,+setuid,+setgid -- "$@"
exec $drop -- "$@"
""".replace("@PORT@", str(MODEL_PORT))
    .replace("@PORT_HEX@", f"{MODEL_PORT:04X}")
    .replace("@SOCK@", MODEL_SOCKET_INSIDE)
)

# Runs on the host right after the fork: puts itself (so everything after it) in the box's cgroups
# before exec-ing prlimit and then bwrap, so no process of the box ever runs outside them.
_JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


@functools.lru_cache(maxsize=8)
def _runtime_base_prefix(python: str) -> str:
    out = subprocess.run(
        [python, "-I", "-S", "-c", "import sys; print(sys.base_prefix)"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if out.returncode != 0 or not out.stdout.strip():
        raise SandboxUnavailable(f"the sandbox runtime {python} does not run: {out.stderr.strip()[:500]}")
    return os.path.realpath(out.stdout.strip())


def _covered(path: str, mounted: Sequence[str]) -> bool:
    return any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounted)


def _memfd(content: str | bytes, *, sealed: bool = False) -> int:
    """An anonymous file holding ``content``, inheritable (bwrap reads the ones it is given, then closes them)."""
    data = content.encode() if isinstance(content, str) else content
    fd = os.memfd_create("sandbox", os.MFD_ALLOW_SEALING if sealed else 0)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    if sealed:  # stdin for the box: readable, never writable (no filling the host through it)
        fcntl.fcntl(
            fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL
        )
    return fd


def _dirs_for(path: str) -> list[str]:
    """bwrap creates missing parents 0700; create them 0755 so the unprivileged user can pass."""
    args: list[str] = []
    for parent in reversed(list(Path(path).parents)[:-1]):
        args += ["--perms", "0755", "--dir", str(parent)]
    return args


_spawner: tuple[int, ThreadPoolExecutor] | None = None
_spawner_lock = threading.Lock()


def _popen_from_spawner(*args: Any, **kwargs: Any) -> tuple[subprocess.Popen[bytes], int | None]:
    """Popen (and its pidfd) from one thread that lives as long as the process.

    bwrap's --die-with-parent (and the bridge's pdeathsig) fire when the *thread* that forked them
    ends, not the process: a box launched from a short-lived thread would be killed with it.
    """
    global _spawner
    with _spawner_lock:
        if _spawner is None or _spawner[0] != os.getpid():  # a forked worker gets its own thread
            _spawner = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner"))
        spawner = _spawner[1]

    def spawn() -> tuple[subprocess.Popen[bytes], int | None]:
        proc = subprocess.Popen(*args, **kwargs)
        try:  # before anyone can reap it, so the pidfd is surely this process's
            return proc, os.pidfd_open(proc.pid)
        except OSError:
            return proc, None

    return spawner.submit(spawn).result()


@functools.cache
def _sweep_stale_bridges() -> None:
    """Remove the socket folders of bridges whose worker died without cleaning up (once per process)."""
    for folder in Path(tempfile.gettempdir()).glob("sandbox-bridge-*-*"):
        pid = folder.name.split("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def _listening(path: str) -> bool:
    """Whether a Unix socket of this network namespace listens at ``path`` (/proc/net/unix)."""
    try:
        with open("/proc/net/unix") as table:
            for line in table:
                fields = line.split()
                if len(fields) >= 8 and fields[7] == path and int(fields[3], 16) & 0x10000:  # __SO_ACCEPTCON
                    return True
    except (OSError, ValueError):
        return os.path.exists(path)
    return False


class _HostBridge:
    """A Unix socket on the host forwarding to a fake model (socat), for boxes to bind.

    The fake listens on TCP (``host``, ``port``) or on a Unix socket of its own (``unix``); a warm
    box's bridge is made in the box's model folder (``folder``) instead of a folder of its own.
    """

    def __init__(self, host: str = "", port: int = 0, *, unix: str | None = None, folder: str | None = None) -> None:
        _sweep_stale_bridges()
        self.own_dir = folder is None
        self.dir = folder or tempfile.mkdtemp(prefix=f"sandbox-bridge-{os.getpid()}-")
        self.path = os.path.join(self.dir, f"bridge-{secrets.token_hex(6)}.sock" if folder else "model.sock")
        if unix is not None:
            target = f"UNIX-CONNECT:{unix}"
        else:
            target = f"TCP6:[{host}]:{port}" if ":" in host else f"TCP4:{host}:{port}"
        self.proc, pidfd = _popen_from_spawner(
            # pdeathsig: the bridge must not outlive a worker that dies without cleaning up.
            [
                _tool("setpriv"),
                "--pdeathsig",
                "KILL",
                "--",
                _tool("socat"),
                f"UNIX-LISTEN:{self.path},fork,mode=666",
                target,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if pidfd is not None:
            os.close(pidfd)
        deadline = time.monotonic() + 5
        # Listening, not only bound: a connection between socat's bind() and listen() is refused.
        while not _listening(self.path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise SandboxError(f"could not bridge the model at {unix or f'{host}:{port}'} to a Unix socket")
            time.sleep(0.002)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


class IsolatedHarness(RunningHarness, Protocol):
    """A ``RunningHarness`` that says what isolated it (``launch`` of the sandbox returns one)."""

    isolation: dict[str, Any]


class SandboxBox:
    """One running box (a ``RunningHarness``): ``pid``, ``stdout``, ``stderr``, ``poll()``, ``kill()``.

    A watchdog thread enforces the wall and CPU limits and, once the box is gone, removes its cgroup
    and model bridge; ``kill()`` kills the whole tree and waits for that clean-up.
    """

    def __init__(self, *, wall_s: float, cpu_s: float, isolation: dict[str, Any]) -> None:
        self.wall_s, self.cpu_s, self.isolation = wall_s, cpu_s, isolation
        self.cgroup: _RunCgroup | None = None
        self.bridge: _HostBridge | None = None
        self.proc: subprocess.Popen[bytes] | None = None  # set by launch_box
        self.killed: str | None = None
        self.oom_killed = False
        self.usage: dict[str, float] = {}
        self.cgroup_removed: bool | None = None
        self.started = time.monotonic()
        self._done = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._pidfd: int | None = None
        self._lock = threading.Lock()

    @property
    def _process(self) -> subprocess.Popen[bytes]:
        """The box's process: a box is handed out only once ``launch_box`` has started it."""
        if self.proc is None:
            raise SandboxError("the box has not started")
        return self.proc

    # RunningHarness
    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def stdout(self) -> IO[bytes]:
        return piped(self._process.stdout)

    @property
    def stderr(self) -> IO[bytes]:
        return piped(self._process.stderr)

    def poll(self) -> int | None:
        return self._process.poll()

    def kill(self) -> None:
        if self.killed is None and self._process.poll() is None:
            self.killed = "kill"
        self._kill_tree()
        self.wait_cleaned(10)

    # the rest
    @property
    def timed_out(self) -> bool:
        return self.killed == "wall"

    def wait_cleaned(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def _kill_tree(self) -> None:
        # bwrap's death takes the PID namespace with it (--die-with-parent); the cgroup catches
        # anything else, whatever session or group it moved to. bwrap is signalled through its
        # pidfd, and its group only while it is unreaped: a reused pid is never hit.
        with self._lock:
            if self._pidfd is not None:
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            if self.proc is not None and self.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill()

    def _await_ready(self, marker: bytes, timeout: float) -> None:
        """Read stderr up to the marker, byte by byte, so not one byte of the candidate's is taken."""
        fd = self.stderr.fileno()
        seen = bytearray()
        deadline = time.monotonic() + timeout
        while not seen.endswith(marker):
            remaining = deadline - time.monotonic()
            readable, _, _ = select.select([fd], [], [], max(remaining, 0))
            if not readable:
                self._kill_tree()
                raise SandboxError(f"the box did not start within {timeout:.0f} s: {_tail(seen)}")
            byte = os.read(fd, 1)
            if not byte:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(5)
                raise SandboxError(f"the box failed to start (exit {self._process.returncode}): {_tail(seen)}")
            seen += byte
            del seen[:-_SETUP_STDERR_LIMIT]

    def _start_watchdog(self) -> None:
        self._watchdog = threading.Thread(target=self._watch, name=f"sandbox-{self.pid}", daemon=True)
        self._watchdog.start()

    def _watch(self) -> None:
        try:
            self._wait_or_kill()
        finally:
            self._cleanup()

    def _wait_or_kill(self) -> None:
        deadline = self.started + self.wall_s
        while self._process.poll() is None:
            if time.monotonic() >= deadline:
                self.killed = self.killed or "wall"
                return
            used = self.cgroup.cpu_seconds() if self.cgroup else None
            if used is not None and used > self.cpu_s:
                self.killed = self.killed or "cpu"
                return
            wait = min(_POLL_S, max(deadline - time.monotonic(), 0))
            if self._pidfd is not None:
                select.select([self._pidfd], [], [], wait)  # readable when bwrap exits
            else:
                time.sleep(wait)

    def _cleanup(self) -> None:
        try:
            self._kill_tree()
            if self.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(_KILL_GRACE_S)
            if self.cgroup is not None:
                self.oom_killed = self.cgroup.oom_killed()
                usage = {"cpu_s": self.cgroup.cpu_seconds(), "memory_peak_mb": self.cgroup.memory_peak_mb()}
                self.usage = {k: round(v, 3) for k, v in usage.items() if v is not None}
                self.cgroup_removed = self.cgroup.remove()
            if self.bridge is not None:
                self.bridge.close()
        finally:
            with self._lock:
                if self._pidfd is not None:
                    os.close(self._pidfd)
                    self._pidfd = None
            self._done.set()

    def _abort(self) -> None:
        """Kill and clean up a box whose setup failed (it never got a watchdog)."""
        if self._watchdog is None:
            self._cleanup()


def _tail(data: bytes | bytearray) -> str:
    return bytes(data).decode(errors="replace").strip()[-2000:] or "no message"


# --- building and starting a box --------------------------------------------------------------


@dataclass(frozen=True)
class BoxSpec:
    """What the executor decided for a box, besides its program: tools, runtime, user and limits."""

    bwrap: str
    runtime_dir: Path
    uid: int
    memory_mb: int
    max_processes: int
    cpu_seconds: int
    tmp_size_mb: int
    seccomp: bool
    cgroup_support: _CgroupSupport
    rlimits: list[str]  # prlimit options
    isolation: dict[str, Any]  # what the box records that it applied


def _check_mounts(mounts: Mapping[str, Path], uid: int) -> None:
    for inside, host in mounts.items():
        if not inside.startswith("/") or _covered(inside, _RESERVED[1:]) or inside.rstrip("/") == "":
            raise ValueError(f"cannot mount at {inside!r}")
        try:
            st = host.stat()
        except OSError as exc:
            raise SandboxError(f"mount source {host} is not there: {exc}") from exc
        needed = 0o005 if host.is_dir() else 0o004
        if st.st_mode & needed != needed:
            raise SandboxError(f"mount source {host} must be world-readable: the box runs as uid {uid}")


def _environment(env: Mapping[str, str], mounts: Mapping[str, Path]) -> dict[str, str]:
    """The box's environment: nothing of the host's, the runtime first on PATH, then ``env``."""
    base = {
        "PATH": f"{RUNTIME_INSIDE}/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": TMP_INSIDE,
        "TMPDIR": TMP_INSIDE,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        # For Pythons the candidate's code starts without -I: never a __pycache__ of the submission.
        "PYTHONPYCACHEPREFIX": f"{TMP_INSIDE}/pycache",
        "PYTHONUNBUFFERED": "1",
    }
    if SUBMISSION_INSIDE in mounts:
        base["PYTHONPATH"] = SUBMISSION_INSIDE
    return {**base, **env}


def _bwrap_args(
    spec: BoxSpec,
    mounts: Mapping[str, Path],
    model_socket: str | os.PathLike[str] | None,
    env: Mapping[str, str],
    cwd: str,
    fds: Mapping[str, int],
) -> list[str]:
    args = [
        *("--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup"),
        *("--hostname", "sandbox", "--die-with-parent", "--new-session"),
        *("--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"),
    ]
    mounted: list[str] = []
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path) and not _covered(path, mounted):
            args += ["--ro-bind", path, path]
            mounted.append(path)
    args += ["--perms", "0755", "--dir", "/etc"]
    for path in _ETC_ENTRIES:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            args += ["--ro-bind", path, path]
    for name in ("passwd", "group", "hosts"):
        args += ["--perms", "0644", "--ro-bind-data", str(fds[name]), f"/etc/{name}"]
    prefix = _runtime_base_prefix(str(spec.runtime_dir / "bin" / "python"))
    if not _covered(prefix, mounted):
        args += [*_dirs_for(prefix), "--ro-bind", prefix, prefix]
    args += [*_dirs_for(RUNTIME_INSIDE), "--ro-bind", str(spec.runtime_dir), RUNTIME_INSIDE]
    for inside, host in sorted(mounts.items()):
        args += [*_dirs_for(inside), "--ro-bind", str(host), inside]
    if model_socket is not None and os.path.isdir(model_socket):  # a warm box: the socket changes per probe
        args += [*_dirs_for(MODEL_DIR_INSIDE), "--ro-bind", str(model_socket), MODEL_DIR_INSIDE]
        args += ["--symlink", f"{MODEL_DIR_INSIDE}/model.sock", MODEL_SOCKET_INSIDE]
    elif model_socket is not None:
        args += [*_dirs_for(MODEL_SOCKET_INSIDE), "--ro-bind", str(model_socket), MODEL_SOCKET_INSIDE]
    args += ["--perms", "1777", "--size", str(spec.tmp_size_mb * MiB), "--tmpfs", TMP_INSIDE]
    args += ["--proc", "/proc", "--dev", "/dev", "--chdir", cwd, "--clearenv"]
    for key, value in _environment(env, mounts).items():
        args += ["--setenv", key, value]
    if "seccomp" in fds:
        args += ["--seccomp", str(fds["seccomp"])]
    return args


def launch_box(
    spec: BoxSpec,
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
    """Start ``argv`` in a new box (mounts already checked) and return once its init is ready.

    ``server``: the program is a warm box's server (:mod:`grader.sandbox.warm`). It stays the box's
    root with CAP_SETUID/SETGID only, its box has no CPU budget of its own (each child has one) and
    its cgroup keeps it in a leaf so that each child can have a cgroup beside it. ``keep_fds`` are
    handed to the program; ``passwd`` adds lines to the box's /etc/passwd.
    """
    box = SandboxBox(wall_s=wall_s, cpu_s=math.inf if server else spec.cpu_seconds, isolation=spec.isolation)
    fds: dict[str, int] = {}
    try:
        if spec.cgroup_support.version:
            box.cgroup = _RunCgroup(
                spec.cgroup_support, memory_mb=spec.memory_mb, max_processes=spec.max_processes, with_leaf=server
            )
        if model_tcp is not None:
            box.bridge = _HostBridge(*model_tcp)
            model_socket = box.bridge.path
        fds["passwd"] = _memfd(
            f"root:x:0:0::/:/usr/sbin/nologin\nnobody:x:{spec.uid}:{spec.uid}::/tmp:/bin/sh\n{passwd}"
        )
        fds["group"] = _memfd(f"root:x:0:\nnogroup:x:{spec.uid}:\n")
        fds["hosts"] = _memfd("127.0.0.1 localhost sandbox\n::1 localhost\n")
        program = _seccomp_program() if spec.seccomp else None
        if program:
            fds["seccomp"] = _memfd(program)
        bwrap_args = _bwrap_args(spec, mounts, model_socket, env, cwd, fds)
        fds["args"] = _memfd(b"".join(a.encode() + b"\0" for a in bwrap_args))
        fds["stdin"] = _memfd(stdin or b"", sealed=True)
        marker = f"sandbox-ready-{secrets.token_hex(12)}"
        bridge = "1" if model_socket else "0"
        init = ["/bin/sh", "-c", _INIT, "sandbox-init", marker, str(spec.uid), bridge, "server" if server else "drop"]
        command = [
            *(["/bin/sh", "-c", _JOIN, "sandbox-join", *box.cgroup.procs_files, "--"] if box.cgroup else []),
            *(_tool("prlimit"), *spec.rlimits, "--"),
            *(_tool(spec.bwrap), "--args", str(fds["args"]), "--"),
            *init,
            *argv,
        ]
        box.started = time.monotonic()
        box.proc, box._pidfd = _popen_from_spawner(
            command,
            stdin=fds["stdin"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=[*(fd for name, fd in fds.items() if name != "stdin"), *keep_fds],
            start_new_session=True,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
        )
    except BaseException:
        box._abort()
        raise
    finally:
        for fd in fds.values():
            os.close(fd)
    try:
        box._await_ready(f"{marker}\n".encode(), min(_SETUP_TIMEOUT_S, max(wall_s, 1.0) + 5))
    except BaseException:
        box._abort()
        raise
    box._start_watchdog()
    return box
