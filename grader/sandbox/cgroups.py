"""Per-run cgroups: the hierarchy this host lets us use (v2, else v1 memory + pids (+ cpuacct)), and
one cgroup per box with its memory and process limits, its CPU time, peak memory and OOM kills, and
the kill and removal of everything in it. Without a usable hierarchy boxes rely on rlimits only.

Runs go under this process's own cgroup (v2: in its ``grading-sandbox/`` child, since a cgroup that
holds processes cannot hold runs), or under ``SANDBOX_CGROUP_PARENT``, a delegated v2 cgroup that
holds no processes. Cgroups left by workers that died are swept when support is first detected.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import re
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from grader.config import setting

from .errors import SandboxError

log = logging.getLogger(__name__)

MiB = 1024 * 1024


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
    configured = setting("SANDBOX_CGROUP_PARENT", None) or os.environ.get("SANDBOX_CGROUP_PARENT")
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
                for inner in [*_subdirs(path), path]:  # a warm box's leaf and probe cgroups first
                    with contextlib.suppress(OSError):
                        inner.rmdir()


def _subdirs(cgroup: Path) -> list[Path]:
    """The cgroups inside ``cgroup`` (a warm box's leaf and probes, when it has been left behind)."""
    try:
        return [c for c in cgroup.iterdir() if c.is_dir()]
    except OSError:
        return []


class _RunCgroup:
    """One cgroup (v2) or one per controller (v1) for one box; removed after it.

    ``with_leaf`` (a warm box): the box's own processes go in a ``box`` leaf inside it, so that each
    probe's child can have a cgroup of its own beside them (``child()``), with its own limits, under
    the box's (v2 allows no processes in a cgroup whose controllers its children use).
    """

    def __init__(
        self,
        support: _CgroupSupport,
        *,
        memory_mb: int,
        max_processes: int,
        with_leaf: bool = False,
        under: _RunCgroup | None = None,
        name: str | None = None,
    ) -> None:
        self.support = support
        self.version = support.version
        self.name = name or f"run-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.dirs: dict[str, Path] = {}
        self.leaf: dict[str, Path] = {}
        if under is not None:
            parents = dict(under.dirs)
        elif support.v2_parent is not None:
            parents = {"": support.v2_parent}
        else:
            parents = dict(support.v1_parents)
        try:
            if self.version == "v2":
                path = parents[""] / self.name
                path.mkdir()
                self.dirs = {"": path}
                _write(path / "memory.max", str(memory_mb * MiB))
                with contextlib.suppress(OSError):
                    _write(path / "memory.swap.max", "0")
                _write(path / "pids.max", str(max_processes))
                if with_leaf:
                    _enable_controllers(path)
            else:
                for controller, parent in parents.items():
                    (parent / self.name).mkdir()
                    self.dirs[controller] = parent / self.name
                memory = self.dirs["memory"]
                _write(memory / "memory.limit_in_bytes", str(memory_mb * MiB))
                with contextlib.suppress(OSError):  # only with swap accounting
                    _write(memory / "memory.memsw.limit_in_bytes", str(memory_mb * MiB))
                _write(self.dirs["pids"] / "pids.max", str(max_processes))
            if with_leaf:
                for controller, d in self.dirs.items():
                    (d / "box").mkdir()
                    self.leaf[controller] = d / "box"
        except OSError as exc:
            self.remove()
            raise SandboxError(f"could not create the box's cgroup: {exc}") from exc

    def child(self, name: str, *, memory_mb: int, max_processes: int) -> _RunCgroup:
        """A cgroup inside this one (a warm box's probe), with its own limits."""
        return _RunCgroup(self.support, memory_mb=memory_mb, max_processes=max_processes, under=self, name=name)

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in (self.leaf or self.dirs).values()]

    def add(self, pid: int) -> None:
        """Move ``pid`` into this cgroup (OSError when it cannot)."""
        for d in self.dirs.values():
            _write(d / "cgroup.procs", str(pid))

    def _pids(self) -> set[int]:
        pids: set[int] = set()
        for d in self.dirs.values():
            for procs in [d / "cgroup.procs", *d.glob("*/cgroup.procs")]:  # v1: the children's are their own
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(p) for p in _read(procs).split())
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
        for d in [*(c for top in self.dirs.values() for c in _subdirs(top)), *self.dirs.values()]:
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
