"""The warm box's server: runs INSIDE a box, imports the runtime once, forks one child per probe.

Standard library only; started by :mod:`grader.sandbox.warm` as the box's program, as the box's
root with only CAP_SETUID and CAP_SETGID left (no_new_privs set), so that it can hand each child
its own unprivileged uid. It never imports or runs anything of the submission itself: a child does,
after it has become that uid, which has no capabilities and cannot signal, trace or read the server
(uid 0) or the model bridge (the box's own uid).

The host speaks to it over one SOCK_SEQPACKET socket (its fd is ``argv[1]``), one JSON message per
packet:

- ``{"op": "spawn", "id", "uid", "argv", "env", "cwd"}`` with three descriptors (stdin, stdout,
  stderr): fork a child. The child starts a new session, then sends ``{"child": id}`` itself, so
  the kernel attaches *its* pid to the packet as the host sees it (SCM_CREDENTIALS), and waits.
  The host moves that pid into the probe's own cgroup, then sends ``{"op": "go", "id"}``; only
  then does the child drop to the uid and run the harness. No code of the candidate ever runs
  outside the probe's cgroup.
- ``{"op": "clean", "id", "uid"}``: once the host has killed the probe's cgroup, a cleaner that
  closes every descriptor, becomes that uid, kills whatever of it is left (rlimits-only hosts have
  no cgroup) and deletes everything it owns in /tmp; when it ends the server answers
  ``{"cleaned": id, "left": [...]}`` (empty when nothing was left).
- The server reports ``{"exit": id, "code"}`` when a child ends, and ``{"error": ..., "id"}``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import random
import runpy
import select
import shutil
import signal
import socket
import sys
from typing import Any

TMP = "/tmp"  # noqa: S108 - the box's private tmpfs


def _send(sock: socket.socket, payload: dict[str, Any]) -> None:
    sock.send(json.dumps(payload).encode())


def _become(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from a root with caps to a uid without: every capability goes


def _child(sock: socket.socket, job: dict[str, Any], fds: list[int], go: int) -> None:
    try:
        os.setsid()
        _send(sock, {"child": job["id"]})  # the kernel adds our pid, in the host's terms
        if os.read(go, 1) != b"1":  # the host refused (could not contain us): never run
            os._exit(71)
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        os.closerange(3, 65536)  # the host's socket and everything else of the server's
        # Signal dispositions stay the server's, which are a fresh interpreter's (SIGPIPE ignored).
        _become(int(job["uid"]))
        os.umask(0o022)
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        random.seed()  # every child would otherwise share the server's random state
        sys.argv = list(job["argv"][1:])
        runpy.run_path(job["argv"][1], run_name="__main__")
    except BaseException:
        os._exit(70)
    os._exit(0)


def _clean(uid: int) -> list[str]:
    """As ``uid``: kill every process it still has, then delete every entry it owns in /tmp."""
    _become(uid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)  # all of this uid's processes in the box (the caller is spared)
    left = []
    for entry in os.scandir(TMP):
        try:
            if entry.stat(follow_symlinks=False).st_uid != uid:
                continue
            if entry.is_dir(follow_symlinks=False):
                _open_up(entry.path)
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            left.append(entry.name)
    return left


def _open_up(top: str) -> None:
    """Make every folder under ``top`` (the probe's own) readable to its owner again: a probe may
    have closed one to itself (chmod 0) so that a plain rmtree could not empty it."""
    stack = [top]
    while stack:
        folder = stack.pop()
        os.chmod(folder, 0o700)
        for entry in os.scandir(folder):
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)


def _cleaner(job: dict[str, Any]) -> None:
    """Exits 0 when the probe's uid has nothing left; it holds no descriptor of the server's while
    it runs as that uid (the host's socket is closed first)."""
    try:
        os.closerange(3, 65536)
        left = _clean(int(job["uid"]))
    except BaseException:
        os._exit(2)
    os._exit(3 if left else 0)


def serve(sock_fd: int, preload: list[str]) -> None:
    sock = socket.socket(fileno=sock_fd)
    failed = {}
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"
    _send(sock, {"ready": True, "preloaded": [n for n in preload if n not in failed], "failed": failed})
    children: dict[int, int] = {}  # pid -> job id
    cleaners: dict[int, int] = {}  # pid -> job id
    gates: dict[int, int] = {}  # job id -> the write end of its go pipe
    while True:
        readable, _, _ = select.select([sock], [], [], 0.05)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            code = os.waitstatus_to_exitcode(status)
            if pid in children:
                _send(sock, {"exit": children.pop(pid), "code": code})
            elif pid in cleaners:
                left = [] if code == 0 else [f"the cleaner ended with {code}"]
                _send(sock, {"cleaned": cleaners.pop(pid), "left": left})
        if not readable:
            continue
        try:
            message, fds, _, _ = socket.recv_fds(sock, 1 << 20, 3)
        except OSError:
            return
        if not message:
            return  # the host went away: the box goes with it
        job = json.loads(message)
        op = job.get("op")
        if op == "go":
            gate = gates.pop(job["id"], None)
            if gate is not None:
                os.write(gate, b"1" if job.get("run") else b"0")
                os.close(gate)
            continue
        go_r, go_w = os.pipe() if op == "spawn" else (-1, -1)
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in [*fds, go_r, go_w]:
                if fd >= 0:
                    os.close(fd)
            _send(sock, {"id": job.get("id"), "error": f"fork failed: {exc}"})
            continue
        if pid == 0:
            if op == "spawn":
                os.close(go_w)
                _child(sock, job, fds, go_r)
            _cleaner(job)
        for fd in fds:
            os.close(fd)
        if op == "spawn":
            os.close(go_r)
            gates[job["id"]] = go_w
            children[pid] = job["id"]
        else:
            cleaners[pid] = job["id"]


if __name__ == "__main__":
    serve(int(sys.argv[1]), [m for m in sys.argv[2].split(",") if m])
