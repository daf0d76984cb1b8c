"""A submission (copied as helpdesk/__init__.py by tests/grading/test_warm_box.py) that, told so by
its question, tries to leave state behind for the next probe in the same warm box, or looks for it.

- "plant": files in /tmp and $HOME, a world-writable file, a daemon that outlives the call, System V
  shared memory, and a SIGKILL to every process it can see (the box's server and bridge included).
- "look": what it finds: /tmp, the processes it can see and their uids, its own uid.
- "hog-memory", "fork-bomb", "spin": one limit each.
"""

import ctypes
import json
import os
import signal
import time


def _processes() -> list[dict]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as fh:
                uid = next(int(line.split()[1]) for line in fh if line.startswith("Uid:"))
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")[:120]
        except (OSError, StopIteration):
            continue
        if int(pid) != os.getpid():
            found.append({"pid": int(pid), "uid": uid, "cmdline": cmdline})
    return found


def _plant() -> dict:
    report = {"uid": os.getuid()}
    with open("/tmp/planted.txt", "w") as fh:
        fh.write("from an earlier probe")
    os.makedirs("/tmp/nested/deeper", exist_ok=True)
    with open("/tmp/nested/deeper/secret", "w") as fh:
        fh.write("x")
    with open(os.path.join(os.environ["HOME"], ".planted-home"), "w") as fh:
        fh.write("x")
    os.makedirs("/tmp/closed/inner", exist_ok=True)  # folders closed to everyone, even their owner
    with open("/tmp/closed/inner/kept", "w") as fh:
        fh.write("x")
    os.chmod("/tmp/closed/inner", 0)
    os.chmod("/tmp/closed", 0)
    fd = os.open("/tmp/open-to-all", os.O_CREAT | os.O_WRONLY, 0o666)
    os.fchmod(fd, 0o666)
    os.close(fd)
    libc = ctypes.CDLL(None, use_errno=True)
    shm = libc.shmget(0x5EED, 4096, 0o1666)  # IPC_CREAT | 0666
    report["shmget"] = "refused" if shm == -1 else "allowed"
    if os.fork() == 0:  # a daemon that leaves the session and outlives the call
        os.setsid()
        if os.fork() == 0:
            with open("/tmp/daemon.pid", "w") as fh:
                fh.write(str(os.getpid()))
            while True:
                time.sleep(0.1)
        os._exit(0)
    time.sleep(0.3)
    kills = {}
    for process in _processes():
        if process["uid"] == os.getuid():
            continue  # its own daemon stays
        try:
            os.kill(process["pid"], signal.SIGKILL)
            kills[process["cmdline"][:40]] = "killed"
        except OSError as exc:
            kills[process["cmdline"][:40]] = exc.strerror
    report["kills"] = kills
    return report


def _look() -> dict:
    return {"uid": os.getuid(), "tmp": sorted(os.listdir("/tmp")), "processes": _processes(), "cwd": os.getcwd()}


def answer(question: str) -> dict:
    if question == "plant":
        report = _plant()
    elif question == "look":
        report = _look()
    elif question == "hog-memory":
        hog = [bytearray(16 * 1024 * 1024) for _ in range(200)]
        report = {"allocated_mb": 16 * len(hog)}
    elif question == "fork-bomb":
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)
    elif question == "spin":
        while True:
            pass
    else:
        report = {"question": question}
    return {"status": "answered", "answer": json.dumps(report), "citations": []}
