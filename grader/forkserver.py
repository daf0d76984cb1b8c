"""A warm parent for candidate processes: imports heavy modules once, then forks one child per job.

Importing ``anthropic`` costs about two seconds of CPU; a grading run starts dozens of candidate
processes on a two-core machine. This server is started (with ``python -I``) by
:class:`grader.executors.ForkServerExecutor` in a clean environment, imports the
modules it is told to, and then serves jobs over a Unix socket: each message carries a JSON job
(argv, env, cwd) and three file descriptors (stdin, stdout, stderr). It forks; the child starts its
own session, takes the descriptors as 0/1/2, closes everything else, replaces its environment and
runs the harness as ``__main__``. The server replies with the child's pid, reaps children and
reports their exit codes. It is single-threaded, so forking is safe. Standard library only.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import runpy
import select
import socket
import sys
from typing import Any


def _send(sock: socket.socket, payload: dict[str, Any]) -> None:
    sock.send(json.dumps(payload).encode())


def _child(job: dict[str, Any], fds: list[int]) -> None:
    try:
        os.setsid()
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        os.closerange(3, 65536)
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        random.seed()  # every child would otherwise share the parent's random state
        sys.argv = list(job["argv"][1:])
        runpy.run_path(job["argv"][1], run_name="__main__")
    except BaseException:
        os._exit(70)
    os._exit(0)


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(sock, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def serve(sock_fd: int, preload: list[str]) -> None:
    sock = socket.socket(fileno=sock_fd)
    failed = {}
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"
    _send(sock, {"ready": True, "preloaded": [n for n in preload if n not in failed], "failed": failed})
    while True:
        readable, _, _ = select.select([sock], [], [], 0.05)
        _reap(sock)
        if not readable:
            continue
        try:
            message, fds, _, _ = socket.recv_fds(sock, 1 << 20, 3)
        except OSError:
            return
        if not message:
            return  # the runner went away
        job = json.loads(message)
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            _send(sock, {"id": job["id"], "error": f"fork failed: {exc}"})
            continue
        if pid == 0:
            sock.close()
            _child(job, fds)
        for fd in fds:
            os.close(fd)
        _send(sock, {"id": job["id"], "pid": pid})


if __name__ == "__main__":
    serve(int(sys.argv[1]), [m for m in sys.argv[2].split(",") if m])
