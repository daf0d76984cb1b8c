"""`make run` (scripts/run-dev): the links it prints use the port it serves on, and Ctrl-C stops all of it.

Run as a terminal runs it: in a session of its own, Ctrl-C being SIGINT to the whole foreground
process group. Every process of that session (the script, the dev server, the Celery worker with
its pool and embedded beat) must be gone within 5 s.
"""

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "exercises"

pytestmark = [pytest.mark.slow, pytest.mark.worker]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_processes(sid: int) -> list[str]:
    """The live processes of the session (an exited one waiting to be reaped, state Z, has stopped)."""
    out = subprocess.run(["ps", "-e", "-o", "sid=,pid=,stat=,args="], capture_output=True, text=True, check=True).stdout
    rows = [line.split(None, 3) for line in out.splitlines()]
    return [" ".join(row) for row in rows if row[0] == str(sid) and not row[2].startswith("Z")]


def test_make_run_prints_links_on_its_port_and_ctrl_c_stops_everything_within_5_s(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "SITE_URL"}}
    env.update(
        VAR_DIR=str(tmp_path / "var"),  # its own SQLite database and filesystem broker: the embedded default
        PORT=str(port),
        EXERCISE_DIRS=str(FIXTURES),
        DEMO_EXERCISE="tiny-echo",
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["scripts/run-dev"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 240
        while f"Open http://127.0.0.1:{port}/" not in log.read_text():
            assert proc.poll() is None, f"run-dev exited early:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"run-dev never got ready:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        text = log.read_text()
        links = re.findall(r"https?://[^\s/]+/t/\S+", text)
        assert links, text[-3000:]
        assert all(link.startswith(f"http://127.0.0.1:{port}/t/") for link in links), links

        for _ in range(60):  # the server answers on that port
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the dev server never answered on its port")
        assert "Celery worker ready" in log.read_text(), log.read_text()[-3000:]
        assert len(_session_processes(proc.pid)) >= 3  # the script, the server, the worker (and its pool)

        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole foreground group
        pressed = time.monotonic()
        left = _session_processes(proc.pid)
        while left and time.monotonic() - pressed < 5:
            time.sleep(0.1)
            left = _session_processes(proc.pid)
        took = time.monotonic() - pressed
        assert not left, f"still running {took:.1f} s after Ctrl-C: {left}\n{log.read_text()[-2000:]}"
        assert "Stopped." in log.read_text()
    finally:
        if _session_processes(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
