"""Run hostile candidate code in a bubblewrap sandbox: ``SandboxExecutor``.

It has the interface of the executors in ``executors.py`` (``name``, ``sandboxed``, ``start()``,
``launch(job) -> RunningHarness``, ``close()``), so the runner takes it as it takes
``SubprocessExecutor``; plus ``run(argv, ...) -> SandboxResult`` for running any program to the end::

    executor = SandboxExecutor.from_settings()        # SANDBOX_* settings; or SandboxExecutor(memory_mb=256)
    handle = executor.launch(job)                     # HarnessJob -> pid, stdout, stderr, poll(), kill()
    handle.isolation                                  # what this box applied (also executor.isolation)

    result = executor.run(["python", "/hostile/x.py"], timeout=5, mounts={"/hostile": host_dir},
                          env={...}, stdin=b"...", model_socket="/path/model.sock")
    result.returncode, .stdout, .stderr, .timed_out, .killed, .oom_killed, .isolation, .usage

Inside a box: the runtime venv (``scripts/build-sandbox-runtime``) at /opt/runtime (``python`` on
PATH), the submission at /submission (``PYTHONPATH``), the harness at /harness/harness.py, every
path-valued variable of ``job.env`` (e.g. ``HELPDESK_DOCS_DIR``) at /data/<name in lower case>,
all read-only; a private tmpfs at /tmp (the cwd and ``HOME``), the only writable place. The fake
model, outside, is reached through its Unix socket (``job.model_unix_socket``; for a TCP fake the
executor bridges one on the host), bound at /run/model.sock and served as http://127.0.0.1:8080 by
``socat`` running as the unprivileged user: the box's only network.

Isolation: new mount, network, PID, IPC, UTS and cgroup namespaces; a filesystem of read-only binds
of /usr (and the merged-/usr symlinks), a minimal /etc, the base interpreter's prefix, the runtime
and the mounts, nothing else of the host (no /work, /root, /home, /var, host /proc, environment);
uid 65534, no capabilities, no_new_privs, a seccomp filter against namespaces, ptrace, keyrings,
bpf, mounts and io_uring. Limits: a per-run cgroup (v2, else v1 memory + pids (+ cpuacct)) for
memory, processes and total CPU time, and always rlimits as a second layer (core 0, file size, CPU
per process, processes; address space only without a memory cgroup). Killing is of the whole tree:
the process group, the PID namespace (bwrap ``--die-with-parent``) and the cgroup.

Errors (both are ``ExecutorError``, which the runner treats as ours, never the candidate's):
``SandboxUnavailable`` when bubblewrap or a helper is missing and unsafe mode is off;
``SandboxError`` when a box could not be set up. The box's init prints a per-run marker on stderr
right before it execs the candidate's program; ``launch``/``run`` consume it, so anything that
fails before it is the sandbox's fault. With ``allow_unsafe`` (``SANDBOX_ALLOW_UNSAFE=1``,
development only) and no bubblewrap, programs run as plain subprocesses with the runtime's python
and ``isolation == {"sandboxed": False, "unsandboxed": True, "reason": ...}``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import logging
import os
import re
import secrets
import select
import selectors
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

from grader.config import setting
from grader.executors import (
    DUMMY_API_KEY,
    HARNESS,
    ExecutorError,
    HarnessJob,
    RunningHarness,
    SubprocessExecutor,
    piped,
)

log = logging.getLogger(__name__)

RUNTIME_INSIDE = "/opt/runtime"
HARNESS_INSIDE = "/harness/harness.py"
SUBMISSION_INSIDE = "/submission"
MODEL_SOCKET_INSIDE = "/run/model.sock"
MODEL_PORT = 8080
TMP_INSIDE = "/tmp"  # noqa: S108 - a private tmpfs inside the box, not the host's /tmp
OUTPUT_LIMIT = 1024 * 1024
MiB = 1024 * 1024
_PROJECT_DIR = Path(__file__).resolve().parents[1]
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


class SandboxUnavailable(ExecutorError):
    """The sandbox cannot run here (bubblewrap or a helper missing) and unsafe mode is off."""


class SandboxError(ExecutorError):
    """A box failed to set up: an infrastructure error, never the candidate's."""


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
    bwrap = bwrap or _setting("SANDBOX_BWRAP", "bwrap")
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


def _setting(name: str, default: object) -> Any:
    return setting(name, default)  # configured by the host application (grader.config)


# --- cgroups ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CgroupSupport:
    version: str | None  # "v2", "v1" or None (rlimits only)
    v2_parent: Path | None = None  # a cgroup with no processes of its own, memory and pids delegated
    v1_parents: tuple[tuple[str, Path], ...] = ()  # controller -> this process's cgroup there
    detail: str = ""


def _read(path: Path) -> str:
    return path.read_text()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _cgroup_mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, super options) of every cgroup filesystem."""
    found = []
    for line in _read(Path("/proc/self/mountinfo")).splitlines():
        pre, _, post = line.partition(" - ")
        fields, post_fields = pre.split(), post.split()
        if len(post_fields) >= 3 and post_fields[0] in ("cgroup", "cgroup2"):
            found.append((fields[4], post_fields[0], set(post_fields[2].split(","))))
    return found


def _own_cgroups() -> dict[str, str]:
    """Controller ("" for v2) -> this process's cgroup path in that hierarchy."""
    own = {}
    for line in _read(Path("/proc/self/cgroup")).splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            own[controller] = path
    return own


def _detect_v2(mounts: list[tuple[str, str, set[str]]], own: dict[str, str]) -> Path | None:
    mount = next((m for m, fstype, _ in mounts if fstype == "cgroup2"), None)
    configured = _setting("SANDBOX_CGROUP_PARENT", None) or os.environ.get("SANDBOX_CGROUP_PARENT")
    if configured:
        base = Path(configured)
    elif mount is not None and "" in own:
        base = Path(mount) / own[""].lstrip("/")
    else:
        return None
    try:
        if not {"memory", "pids"} <= set(_read(base / "cgroup.controllers").split()):
            return None
        # Runs cannot go in a cgroup that holds processes (ours): they go in a subtree that has none.
        delegated = base if configured else base / "grading-sandbox"
        if not configured:
            # EBUSY when our own cgroup holds processes and is not the root ("no internal
            # processes"): then set SANDBOX_CGROUP_PARENT to a delegated cgroup that holds none.
            _enable_controllers(base)
            delegated.mkdir(exist_ok=True)
        _enable_controllers(delegated)
        return delegated
    except OSError as exc:
        log.warning("cgroup v2 at %s is not usable for the sandbox (%s): falling back", base, exc)
        return None


def _enable_controllers(cgroup: Path) -> None:
    enabled = set(_read(cgroup / "cgroup.subtree_control").split())
    available = set(_read(cgroup / "cgroup.controllers").split())
    wanted = [c for c in ("memory", "pids", "cpu") if c in available and c not in enabled]
    if wanted:
        _write(cgroup / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))


def _detect_v1(mounts: list[tuple[str, str, set[str]]], own: dict[str, str]) -> tuple[tuple[str, Path], ...]:
    parents = []
    for controller in ("memory", "pids", "cpuacct"):
        mount = next((m for m, fstype, opts in mounts if fstype == "cgroup" and controller in opts), None)
        if mount is None or controller not in own:
            continue
        # Under our own cgroup: a box never escapes the limits the worker itself runs under.
        parent = Path(mount) / own[controller].lstrip("/")
        probe = parent / f"sandbox-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            probe.mkdir()
            probe.rmdir()
        except OSError:
            continue
        parents.append((controller, parent))
    if not {"memory", "pids"} <= {c for c, _ in parents}:
        return ()
    return tuple(parents)


@functools.cache
def _cgroup_support() -> _CgroupSupport:
    if os.geteuid() != 0:
        return _CgroupSupport(None, detail="not root")
    try:
        mounts, own = _cgroup_mounts(), _own_cgroups()
    except OSError as exc:
        return _CgroupSupport(None, detail=str(exc))
    v2 = _detect_v2(mounts, own)
    if v2 is not None:
        support = _CgroupSupport("v2", v2_parent=v2, detail=str(v2))
    elif v1 := _detect_v1(mounts, own):
        support = _CgroupSupport("v1", v1_parents=v1, detail=", ".join(f"{c}:{p}" for c, p in v1))
    else:
        return _CgroupSupport(None, detail="no writable memory and pids cgroup")
    _sweep_stale(support)
    return support


def _sweep_stale(support: _CgroupSupport) -> None:
    """Remove the empty cgroups left by workers that died before cleaning up (run-<pid>-...).

    Their boxes died with them (--die-with-parent); a cgroup that still holds processes, or whose
    worker is alive, is not ours to judge and stays.
    """
    parents = [support.v2_parent] if support.v2_parent else [p for _, p in support.v1_parents]
    for parent in parents:
        for path in parent.glob("run-*-*"):
            pid = path.name.split("-")[1]
            if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
                with contextlib.suppress(OSError):
                    path.rmdir()


class _RunCgroup:
    """One cgroup (v2) or one per controller (v1) for one box; removed after it."""

    def __init__(self, support: _CgroupSupport, *, memory_mb: int, max_processes: int) -> None:
        self.version = support.version
        self.name = f"run-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.dirs: dict[str, Path] = {}
        try:
            if support.v2_parent is not None:  # version "v2"
                path = support.v2_parent / self.name
                path.mkdir()
                self.dirs = {"": path}
                _write(path / "memory.max", str(memory_mb * MiB))
                with contextlib.suppress(OSError):
                    _write(path / "memory.swap.max", "0")
                _write(path / "pids.max", str(max_processes))
            else:
                for controller, parent in support.v1_parents:
                    (parent / self.name).mkdir()
                    self.dirs[controller] = parent / self.name
                memory = self.dirs["memory"]
                _write(memory / "memory.limit_in_bytes", str(memory_mb * MiB))
                with contextlib.suppress(OSError):  # only with swap accounting
                    _write(memory / "memory.memsw.limit_in_bytes", str(memory_mb * MiB))
                _write(self.dirs["pids"] / "pids.max", str(max_processes))
        except OSError as exc:
            self.remove()
            raise SandboxError(f"could not create the box's cgroup: {exc}") from exc

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def _pids(self) -> set[int]:
        pids: set[int] = set()
        for d in self.dirs.values():
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(p) for p in _read(d / "cgroup.procs").split())
        return pids

    def kill(self) -> None:
        """SIGKILL everything in the cgroup, including what left the process group or session."""
        if self.version == "v2":
            with contextlib.suppress(OSError):
                _write(self.dirs[""] / "cgroup.kill", "1")
        # v1 (and v2 before cgroup.kill): a kill loop. Forks cannot outrun it for long: the pids
        # limit caps them, and the PID namespace dies with its init anyway.
        for _ in range(100):
            pids = self._pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def cpu_seconds(self) -> float | None:
        try:
            if self.version == "v2":
                stat = dict(line.split() for line in _read(self.dirs[""] / "cpu.stat").splitlines())
                return int(stat["usage_usec"]) / 1e6
            if "cpuacct" in self.dirs:
                return int(_read(self.dirs["cpuacct"] / "cpuacct.usage")) / 1e9
        except (OSError, KeyError, ValueError):
            pass
        return None

    def oom_killed(self) -> bool:
        try:
            if self.version == "v2":
                events = _read(self.dirs[""] / "memory.events")
            else:
                events = _read(self.dirs["memory"] / "memory.oom_control")
        except OSError:
            return False
        match = re.search(r"^oom_kill (\d+)", events, re.MULTILINE)
        return bool(match and int(match.group(1)) > 0)

    def memory_peak_mb(self) -> float | None:
        directory = self.dirs.get("" if self.version == "v2" else "memory")
        name = "memory.peak" if self.version == "v2" else "memory.max_usage_in_bytes"
        try:
            return round(int(_read(directory / name)) / MiB, 1) if directory else None
        except (OSError, ValueError):
            return None

    def remove(self) -> bool:
        """Kill what is left and remove the directories; False when one would not go."""
        ok = True
        for d in list(self.dirs.values()):
            deadline = time.monotonic() + 5
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        log.error("could not remove the sandbox cgroup %s: %s", d, exc)
                        ok = False
                        break
                    self.kill()
                    time.sleep(0.05)
        return ok


# --- seccomp ----------------------------------------------------------------------------------

# Refused with EPERM (numbers for x86_64, aarch64): what a help-desk answerer never needs and what
# widens the kernel's attack surface. clone/unshare are refused only with namespace flags.
_DENIED_SYSCALLS = {
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "keyctl": (250, 219),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "setns": (308, 268),
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "mount_setattr": (442, 442),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "acct": (163, 89),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "reboot": (169, 142),
}
_ARCHES = {
    "x86_64": (0, 0xC000003E, 56, 272),
    "aarch64": (1, 0xC00000B7, 220, 97),
}  # column, AUDIT_ARCH, clone, unshare
_CLONE3 = 435
_CLONE_NEW_ANY = 0x10000000 | 0x20000000 | 0x40000000 | 0x04000000 | 0x08000000 | 0x00020000 | 0x02000000 | 0x80


def _seccomp_program() -> bytes | None:
    """A classic BPF program for ``bwrap --seccomp``; None on an architecture it does not know."""
    machine = os.uname().machine
    if machine not in _ARCHES:
        return None
    column, arch, clone, unshare = _ARCHES[machine]
    allow, errno_ret = 0x7FFF0000, 0x00050000
    eperm, enosys = errno_ret | errno.EPERM, errno_ret | errno.ENOSYS
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, eperm), (ld, 0, 0, 0)]  # other ABIs: nothing
    if machine == "x86_64":
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, eperm)]  # the x32 ABI
    # clone3 passes its flags in memory a filter cannot read; ENOSYS makes libc fall back to clone.
    prog += [(jeq, 0, 1, _CLONE3), (ret, 0, 0, enosys)]
    for nr in (clone, unshare):
        prog += [(jeq, 0, 4, nr), (ld, 0, 0, 16), (jset, 0, 1, _CLONE_NEW_ANY), (ret, 0, 0, eperm), (ret, 0, 0, allow)]
    for numbers in _DENIED_SYSCALLS.values():
        prog += [(jeq, 0, 1, numbers[column]), (ret, 0, 0, eperm)]
    prog.append((ret, 0, 0, allow))
    return b"".join(struct.pack("=HBBI", code, jt, jf, k) for code, jt, jf, k in prog)


# --- the box ----------------------------------------------------------------------------------

# Runs inside the box as its root (bwrap keeps only CAP_SETUID/SETGID/SETPCAP): starts the model
# bridge as the unprivileged user, waits for its port, prints the ready marker, then becomes the
# unprivileged user for good and execs the program.
_INIT = (
    r"""
set -u
marker=$1 uid=$2 bridge=$3; shift 3
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


class _HostBridge:
    """A Unix socket on the host forwarding to a TCP fake model (socat), for boxes to bind."""

    def __init__(self, host: str, port: int) -> None:
        _sweep_stale_bridges()
        self.dir = tempfile.mkdtemp(prefix=f"sandbox-bridge-{os.getpid()}-")
        self.path = os.path.join(self.dir, "model.sock")
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
        while not os.path.exists(self.path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise SandboxError(f"could not bridge the model at {host}:{port} to a Unix socket")
            time.sleep(0.002)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


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
        self.proc: subprocess.Popen[bytes] | None = None  # set by SandboxExecutor._spawn
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
        """The box's process: a box is handed out only once ``_spawn`` has started it."""
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

    @classmethod
    def from_settings(cls, **overrides: Any) -> SandboxExecutor:
        """The executor the SANDBOX_* settings describe, with explicit overrides."""
        options = {
            "bwrap": _setting("SANDBOX_BWRAP", "bwrap"),
            "runtime_dir": _setting("SANDBOX_RUNTIME_DIR", None) or os.environ.get("SANDBOX_RUNTIME_DIR"),
            "memory_mb": _setting("SANDBOX_MEMORY_MB", 1024),
            "max_processes": _setting("SANDBOX_MAX_PROCESSES", 256),
            "cpu_seconds": _setting("SANDBOX_CPU_SECONDS", 120),
            "file_size_mb": _setting("SANDBOX_FILE_SIZE_MB", 64),
            "wall_seconds": _setting("SANDBOX_WALL_SECONDS", 900),
            "uid": _setting("SANDBOX_UID", 65534),
            "allow_unsafe": _setting("SANDBOX_ALLOW_UNSAFE", False),
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
        return self._isolation(support.version, self._rlimits(support.version), self.wall_seconds, True)

    def start(self) -> None:
        """Fail now, not per probe, when the sandbox cannot run (``SandboxUnavailable``)."""
        if self._sandboxed():
            _runtime_base_prefix(str(self.runtime_dir / "bin" / "python"))
            self._support()

    def close(self) -> None:
        pass

    def launch(self, job: HarnessJob) -> IsolatedHarness:
        """Start the harness for one probe in a fresh box and return as soon as it runs."""
        if not self._sandboxed():
            return self._unsafe(job)
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

    def _check_mounts(self, mounts: Mapping[str, Path]) -> None:
        for inside, host in mounts.items():
            if not inside.startswith("/") or _covered(inside, _RESERVED[1:]) or inside.rstrip("/") == "":
                raise ValueError(f"cannot mount at {inside!r}")
            try:
                st = host.stat()
            except OSError as exc:
                raise SandboxError(f"mount source {host} is not there: {exc}") from exc
            needed = 0o005 if host.is_dir() else 0o004
            if st.st_mode & needed != needed:
                raise SandboxError(f"mount source {host} must be world-readable: the box runs as uid {self.uid}")

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

    def _bwrap_args(
        self,
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
        prefix = _runtime_base_prefix(str(self.runtime_dir / "bin" / "python"))
        if not _covered(prefix, mounted):
            args += [*_dirs_for(prefix), "--ro-bind", prefix, prefix]
        args += [*_dirs_for(RUNTIME_INSIDE), "--ro-bind", str(self.runtime_dir), RUNTIME_INSIDE]
        for inside, host in sorted(mounts.items()):
            args += [*_dirs_for(inside), "--ro-bind", str(host), inside]
        if model_socket is not None:
            args += [*_dirs_for(MODEL_SOCKET_INSIDE), "--ro-bind", str(model_socket), MODEL_SOCKET_INSIDE]
        args += ["--perms", "1777", "--size", str(self.tmp_size_mb * MiB), "--tmpfs", TMP_INSIDE]
        args += ["--proc", "/proc", "--dev", "/dev", "--chdir", cwd, "--clearenv"]
        for key, value in self._environment(env, mounts).items():
            args += ["--setenv", key, value]
        if "seccomp" in fds:
            args += ["--seccomp", str(fds["seccomp"])]
        return args

    def _environment(self, env: Mapping[str, str], mounts: Mapping[str, Path]) -> dict[str, str]:
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
    ) -> SandboxBox:
        self._check_mounts(mounts)
        if model_socket is not None and not Path(model_socket).is_socket():
            raise SandboxError(f"the model socket {model_socket} is not there")
        support = self._support()
        rlimits = self._rlimits(support.version)
        has_model = model_socket is not None or model_tcp is not None
        if support.version is None:
            # Under RLIMIT_AS, glibc's 64 MB per-thread malloc arenas exhaust the address space long
            # before the memory is used: 32 threads of an SDK client failed at 1 GB without this.
            env = {"MALLOC_ARENA_MAX": "2", **env}
        box = SandboxBox(
            wall_s=wall_s,
            cpu_s=self.cpu_seconds,
            isolation=self._isolation(support.version, rlimits, wall_s, has_model),
        )
        fds: dict[str, int] = {}
        try:
            if support.version:
                box.cgroup = _RunCgroup(support, memory_mb=self.memory_mb, max_processes=self.max_processes)
            if model_tcp is not None:
                box.bridge = _HostBridge(*model_tcp)
                model_socket = box.bridge.path
            fds["passwd"] = _memfd(f"root:x:0:0::/:/usr/sbin/nologin\nnobody:x:{self.uid}:{self.uid}::/tmp:/bin/sh\n")
            fds["group"] = _memfd(f"root:x:0:\nnogroup:x:{self.uid}:\n")
            fds["hosts"] = _memfd("127.0.0.1 localhost sandbox\n::1 localhost\n")
            program = _seccomp_program() if self.seccomp else None
            if program:
                fds["seccomp"] = _memfd(program)
            bwrap_args = self._bwrap_args(mounts, model_socket, env, cwd, fds)
            fds["args"] = _memfd(b"".join(a.encode() + b"\0" for a in bwrap_args))
            fds["stdin"] = _memfd(stdin or b"", sealed=True)
            marker = f"sandbox-ready-{secrets.token_hex(12)}"
            init = ["/bin/sh", "-c", _INIT, "sandbox-init", marker, str(self.uid), "1" if model_socket else "0"]
            command = [
                *(["/bin/sh", "-c", _JOIN, "sandbox-join", *box.cgroup.procs_files, "--"] if box.cgroup else []),
                *(_tool("prlimit"), *rlimits, "--"),
                *(_tool(self.bwrap), "--args", str(fds["args"]), "--"),
                *init,
                *argv,
            ]
            box.started = time.monotonic()
            box.proc, box._pidfd = _popen_from_spawner(
                command,
                stdin=fds["stdin"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=[fd for name, fd in fds.items() if name != "stdin"],
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

        environment = {
            k: ":".join(host(p) for p in v.split(":")) for k, v in self._environment(env or {}, mounts).items()
        }
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
