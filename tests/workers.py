"""A real Celery worker process for the tests that need one, pointed at the test database."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from django.db import connection

from assessments.models import GradingRun

ROOT = Path(__file__).resolve().parent.parent
# Put in every test worker's environment: candidate code must never get to see it.
WORKER_SECRET = "worker-secret-" + os.urandom(8).hex()


def test_database_url() -> str:
    """The URL of the database the suite is using right now (the test copy, not the real one)."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] or ""
    if s["PASSWORD"]:
        auth += f":{s['PASSWORD']}"
    host = f"{auth}@" if auth else ""
    host += s["HOST"] or "localhost"
    if s["PORT"]:
        host += f":{s['PORT']}"
    return f"postgres://{host}/{s['NAME']}"


class WorkerProcess:
    """A real `celery worker` (or, with beat=True, `celery beat`) in its own session."""

    def __init__(
        self,
        *,
        queues: str = "default,grading,regrade",
        # Two, as in production: a grading left running by an earlier test must not hold up the next one.
        concurrency: int = 2,
        extra_env: dict | None = None,
        beat: bool = False,
    ):
        self.beat = beat
        self.queues = queues
        self.concurrency = concurrency
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen | None = None
        # Its node name, as its heartbeat row and control commands know it (%h is the host name).
        self.name = f"test-{os.getpid()}-{time.monotonic_ns()}@{socket.gethostname()}"
        self.output: deque[str] = deque(maxlen=5000)
        self._ready = threading.Event()

    def start(self, timeout: float = 60) -> "WorkerProcess":
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "DATABASE_URL": test_database_url(),
            "PYTHONUNBUFFERED": "1",
            "GRADING_TEST_SECRET": WORKER_SECRET,
            # The self-check runs when the worker starts; not again mid-session, when a test's own
            # exercise rows (files it never stored) could make a long-lived worker stop grading.
            "GRADING_SELF_CHECK_EVERY_S": "86400",
            **self.extra_env,
        }
        argv = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "-Q", self.queues, "-c", str(self.concurrency), "--pool", "prefork",
            "-n", self.name,
            "--without-mingle", "--without-gossip", "-l", "INFO",
        ]  # fmt: skip
        if self.beat:
            schedule = ROOT / "var" / f"test-beat-{os.getpid()}-{time.monotonic_ns()}"
            argv = [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "INFO", "-s", str(schedule)]
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError("Celery worker did not become ready:\n" + "\n".join(self.output))
        return self

    def _pump(self):
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self.output.append(line.rstrip())
            if " ready." in line or (self.beat and "beat: Starting" in line):
                self._ready.set()

    def kill(self):
        """SIGKILL the whole process group, as a crashed machine or the OOM killer would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    @contextlib.contextmanager
    def paused(self):
        """Stop this worker for the duration, so a test's own workers get every message."""
        self.stop()
        try:
            yield
        finally:
            self._ready.clear()
            self.start()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            # Cold shutdown: nothing of the suite's is worth a warm one, and it saves seconds.
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(5)


def wait_for(predicate, timeout: float = 30, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout}s waiting for {message}")


def graded_by_the_worker(submission, *, timeout: float):
    """The submission's grading run once a worker has finished it: done, or failed on our side."""
    return wait_for(
        lambda: submission.grading_runs.filter(state__in=[GradingRun.DONE, GradingRun.FAILED_INFRA]).first(),
        timeout=timeout,
        interval=0.5,
        message=f"grading of submission {submission.pk}",
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A private redis-server on a free port, which a test may stop and start again."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=10, message=f"redis on port {self.port}")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
