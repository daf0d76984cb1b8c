"""A magic link's token never reaches a log: the dev server's and gunicorn's are read after real requests."""

import http.client
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from core.logs import RedactTokens
from tests import workers

ROOT = Path(__file__).resolve().parents[2]
REDACTED = "/t/[redacted]/"


def _record(msg, args):
    return logging.LogRecord("x", logging.INFO, __file__, 1, msg, args, None)


def test_the_filter_redacts_positional_and_named_arguments_and_keeps_the_rest():
    record = _record('"%s" %s %s', ("GET /t/s3cr3t-T0ken_x/ HTTP/1.1", "302", "0"))
    assert RedactTokens().filter(record) is True
    assert record.getMessage() == '"GET /t/[redacted]/ HTTP/1.1" 302 0'

    record = _record("%(r)s %(f)s", {"r": "GET /t/abc?x=1 HTTP/1.1", "f": "https://example.com/t/abc/upload/"})
    RedactTokens().filter(record)
    assert record.getMessage() == "GET /t/[redacted]?x=1 HTTP/1.1 https://example.com/t/[redacted]/upload/"

    record = _record("%s: %s", ("Not Found", "/portal/3/upload/"))
    RedactTokens().filter(record)
    assert record.args == ("Not Found", "/portal/3/upload/")  # nothing to redact: left as it was


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def _serve_and_read_log(argv: list[str], port: int, log_path: Path, paths: list[str]) -> tuple[list[int], str]:
    """Start a server, wait until it answers, GET each path, stop it; the statuses and all it wrote."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY")},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "DATABASE_URL": workers.test_database_url(),
        "PYTHONUNBUFFERED": "1",
    }
    with open(log_path, "w") as log:
        server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # Started when it answers; how long that takes is the machine's business, so the deadline
        # only stops a server that never comes up from hanging the suite.
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, f"the server exited:\n{log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the server never answered:\n{log_path.read_text()[-3000:]}"
            try:
                _get(port, "/login/")
                break
            except OSError:
                time.sleep(0.2)
        statuses = [_get(port, path) for path in paths]
        # A server logs a request after it has answered it: wait for the last line before stopping it.
        while log_path.read_text().count('"GET ') < len(paths) + 1 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    return statuses, log_path.read_text()


@pytest.fixture
def paths(token):
    # The invitation's real link, a wrong one (logged as a 404 by Django too) and a path below a link.
    return [f"/t/{token}/", f"/t/{token[:-4]}WXYZ/", f"/t/{token}/upload/"]


def _assert_redacted(log: str, token: str, statuses: list[int]) -> None:
    assert statuses == [302, 404, 404], log
    assert token not in log and token[:-4] not in log, log
    assert f"GET {REDACTED}" in log and f"GET {REDACTED}upload/" in log, log
    assert "302" in log and "404" in log


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_dev_server_logs_no_token(tmp_path, token, paths):
    port = _free_port()
    argv = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"]
    statuses, log = _serve_and_read_log(argv, port, tmp_path / "runserver.log", paths)
    _assert_redacted(log, token, statuses)
    assert f"Not Found: {REDACTED}upload/" in log  # django.request, on the root handler


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_gunicorn_as_compose_runs_it_logs_no_token(tmp_path, token, paths):
    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["command"]
    port = _free_port()
    argv = [sys.executable, "-m", *command]
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    argv[argv.index("--workers") + 1] = "1"
    statuses, log = _serve_and_read_log(argv, port, tmp_path / "gunicorn.log", paths)
    _assert_redacted(log, token, statuses)
    assert f'"GET {REDACTED} HTTP/1.1" 302' in log  # the access log's request line
