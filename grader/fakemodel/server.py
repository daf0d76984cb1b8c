"""The fake's servers: ``FakeModel`` (script, records, limits, what each request gets), and the HTTP/1.1
it speaks (one thread per connection, keep-alive, chunked bodies, its own small parser) over TCP or
a Unix socket. Everything it records and every check it makes: the package's docstring.
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import random
import select
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .replies import Responder, _compose, _rand_id, default_responder, estimate_tokens
from .script import Step, _Cursor, parse_script
from .wire import (
    _BROKEN_SSE,
    _STATUS_BY_TYPE,
    ERROR_MESSAGES,
    ERROR_TYPES,
    _dumps,
    _error_body,
    _html_page,
    _http_date,
    _message,
    _reason,
    _redact,
    _retry_headers,
    _sse,
    _sse_events,
    _to_number,
    _validate,
)

_MAX_LINE = 65536
_MAX_HEADERS = 100
# Evidence is bounded whatever the client sends. One probe's honest traffic is a few hundred
# requests at most (32 threads retrying 429s for 20 s stay under 700) and a few MB of bodies (the
# whole hidden corpus in every prompt of a 32-thread burst, retries included, is ~35 MB).
MAX_RECORDS = 1000
MAX_KEPT_BODY_BYTES = 64 * 1024 * 1024
_KEPT_HEADERS = 64  # per record: names cut to 100 characters, values to 1,000
_EXCERPT_CHARS = 2000  # of a body the API refused, kept for reviewers instead of the body
_DRIP_FOREVER_S = 3600.0


# --------------------------------------------------------------------------------------------
# HTTP/1.1: one thread per connection, keep-alive, our own small parser
# --------------------------------------------------------------------------------------------


class _ClientGone(Exception):
    """A write failed: the client closed or reset the connection."""


@dataclass
class _Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes | None
    arrived: float
    keep_alive: bool
    too_large: bool = False


@dataclass
class _Exchange:
    """One request being answered: its connection, record and what was sent."""

    conn: _Handler
    req: _Request
    record: dict[str, Any]
    rng: random.Random
    status: int | None = None
    outcome: str = "complete"
    admitted: bool = False
    committed: bool = False
    overflow: bool = False  # past max_records: not recorded, answered with a 429


class _Handler(socketserver.BaseRequestHandler):
    """Reads requests off one connection and hands each to the FakeModel; owns the socket I/O."""

    def setup(self) -> None:
        self.sock: socket.socket = self.request
        if self.sock.family in (socket.AF_INET, socket.AF_INET6):
            # Headers and body go out in one send, but SSE chunks and drips must not wait on Nagle.
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb", 65536)
        self.open = True
        self.on_final: Callable[[], None] | None = None
        self.fake: FakeModel = self.server.fake  # type: ignore[attr-defined]
        self.fake._track(self.sock, True)

    def finish(self) -> None:
        self.fake._track(self.sock, False)
        self.rfile.close()

    def handle(self) -> None:
        while self.open and not self.fake._stopping.is_set():
            try:
                request = self._read_request()
            except (OSError, ValueError):
                return
            if request is None:
                return
            self.fake._dispatch(self, request)

    def _read_request(self) -> _Request | None:
        line = self.rfile.readline(_MAX_LINE)
        if line in (b"\r\n", b"\n"):  # a stray CRLF between requests is allowed (RFC 9112)
            line = self.rfile.readline(_MAX_LINE)
        if not line:
            return None
        arrived = time.monotonic()
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            self._bare(400, b"bad request line")
            return None
        method, target, version = parts
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            line = self.rfile.readline(_MAX_LINE)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        else:
            self._bare(431, b"too many headers")
            return None
        connection = headers.get("connection", "").lower()
        keep_alive = "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
        request = _Request(method.upper(), target, headers, None, arrived, keep_alive)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            request.body = self._read_chunked()
            request.too_large = request.body is None
        elif headers.get("content-length"):
            length = int(headers["content-length"])
            if length < 0:
                self._bare(400, b"bad content-length")
                return None
            if length > self.fake.max_body_bytes:
                request.too_large = True  # not read: the connection is closed after the 413
            else:
                request.body = self.rfile.read(length)
        if request.too_large:
            request.keep_alive = False
        return request

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(_MAX_LINE).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > self.fake.max_body_bytes:
                return None
            parts.append(self.rfile.read(size))
            self.rfile.readline(_MAX_LINE)

    def _bare(self, status: int, text: bytes) -> None:
        head = f"HTTP/1.1 {status} {_reason(status)}\r\ncontent-length: {len(text)}\r\nconnection: close\r\n\r\n"
        with contextlib.suppress(OSError):
            self.sock.sendall(head.encode() + text)
        self.open = False

    # -- writing -------------------------------------------------------------------------

    def head(self, status: int, headers: list[tuple[str, str]], keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {status} {_reason(status)}", f"date: {_http_date()}"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append("connection: keep-alive" if keep_alive else "connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _run_final(self) -> None:
        callback, self.on_final = self.on_final, None
        if callback is not None:
            callback()

    def write(self, data: bytes, final: bool = False) -> None:
        """Send bytes; ``final`` marks the last bytes of the response (the record completes first)."""
        if final:
            self._run_final()
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.open = False
            raise _ClientGone() from exc

    def send(self, status: int, headers: list[tuple[str, str]], body: bytes, keep_alive: bool) -> None:
        headers = [*headers, ("content-length", str(len(body)))]
        self.write(self.head(status, headers, keep_alive) + body, final=True)
        if not keep_alive:
            self.close()

    def start_chunked(self, status: int, headers: list[tuple[str, str]], keep_alive: bool, first: bytes = b"") -> None:
        head = self.head(status, [*headers, ("transfer-encoding", "chunked")], keep_alive)
        self.write(head + (self._chunk(first) if first else b""))

    @staticmethod
    def _chunk(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data)

    def chunks(self, pieces: list[bytes], end: bool, final: bool | None = None) -> None:
        data = b"".join(self._chunk(p) for p in pieces if p)
        self.write(data + (b"0\r\n\r\n" if end else b""), final=end if final is None else final)

    def wait(self, seconds: float) -> str:
        """Wait without a thread-blocking sleep: 'elapsed', 'stopped' or 'client_gone'."""
        deadline = time.monotonic() + seconds
        poller = select.poll()
        poller.register(self.fake._wake_r, select.POLLIN)
        poller.register(self.sock, select.POLLIN)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "elapsed"
            for fd, _ in poller.poll(remaining * 1000):
                if fd == self.fake._wake_r.fileno():
                    return "stopped"
                try:  # readable while waiting on a reply means EOF or reset: the client left
                    if not self.sock.recv(1, socket.MSG_PEEK):
                        return "client_gone"
                except OSError:
                    return "client_gone"
                poller.unregister(self.sock)  # pipelined bytes: stop watching, keep waiting

    def close(self) -> None:
        self.open = False
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def reset(self) -> None:
        self._run_final()
        self.open = False
        if self.sock.family in (socket.AF_INET, socket.AF_INET6):
            # Linger 0 turns close() into a RST, like a load balancer dropping the connection.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # the makefile reference would otherwise keep the fd open
            self.sock.close()
        else:
            self.close()


class _ThreadingTCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024  # 50 clients connecting at once must not wait on SYN retries

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _ThreadingUnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    handle_error = _ThreadingTCPServer.handle_error


# --------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------


class FakeModel:
    """One fake API server with its own script, records and limits (instances share nothing)."""

    def __init__(
        self,
        script: str = "ok",
        responder: Responder | None = None,
        seed: int = 0,
        max_in_flight: int | None = None,
        tokens_per_minute: int | None = None,
        context_window: int = 200_000,
        host: str = "127.0.0.1",
        port: int = 0,
        unix_socket: str | None = None,
        *,
        control_endpoints: bool = False,
        require_auth: bool = True,
        max_body_bytes: int = 32 * 1024 * 1024,
        limit_retry_after: float = 1.0,
        max_records: int | None = MAX_RECORDS,
        max_kept_body_bytes: int | None = MAX_KEPT_BODY_BYTES,
    ) -> None:
        self._steps = parse_script(script)
        self.script = script
        self.responder: Responder = responder or default_responder
        self.seed = seed
        self.max_in_flight = max_in_flight
        self.tokens_per_minute = tokens_per_minute
        self.context_window = context_window
        self.host, self.port, self.unix_socket = host, port, unix_socket
        self.control_endpoints = control_endpoints
        self.require_auth = require_auth
        self.max_body_bytes = max_body_bytes
        self.limit_retry_after = limit_retry_after
        self.max_records = max_records
        self.max_kept_body_bytes = max_kept_body_bytes

        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._conns: set[socket.socket] = set()
        self._server: socketserver.BaseServer | None = None
        self._thread: threading.Thread | None = None
        self._clear(self._steps)

    def _clear(self, steps: list[Step]) -> None:
        self._cursor = _Cursor(steps)
        self._records: list[dict[str, Any]] = []
        self._unrecorded = 0  # requests past max_records: answered with a 429, counted, not kept
        self._kept_body_bytes = 0
        self._bodies_dropped = 0  # requests past max_kept_body_bytes: recorded without their body
        self._seq = 0
        self._in_flight = 0
        self._open_exchanges = 0
        self._peak = 0
        self._window: collections.deque[tuple[float, int]] = collections.deque()

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeModel:
        if self._server is not None:
            return self
        if self._stopping.is_set():  # restarted after stop(): the old wake-up byte is still unread
            self._wake_r.close()
            self._wake_w.close()
            self._wake_r, self._wake_w = socket.socketpair()
            self._stopping.clear()
        if self.unix_socket:
            if os.path.exists(self.unix_socket):
                os.unlink(self.unix_socket)
            server: socketserver.BaseServer = _ThreadingUnixServer(self.unix_socket, _Handler)
            # The sandboxed code runs as another user; connecting needs write permission.
            os.chmod(self.unix_socket, 0o666)  # noqa: S103
        else:
            server = _ThreadingTCPServer((self.host, self.port), _Handler)
            self.port = server.server_address[1]
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fakemodel", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; returns promptly even while stalls and drips are in progress."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")  # never read: wakes every waiting stall/drip for good
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # idle keep-alive readers block in recv until their socket is shut
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.unix_socket and os.path.exists(self.unix_socket):
            os.unlink(self.unix_socket)
        self._server = None

    def __enter__(self) -> FakeModel:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def reset(self, script: str | None = None) -> None:
        """Fresh state: no records, script from the top (optionally a new script), no peak."""
        steps = parse_script(script) if script is not None else self._steps
        with self._lock:
            in_flight, open_exchanges = self._in_flight, self._open_exchanges
            self._steps = steps
            if script is not None:
                self.script = script
            self._clear(steps)
            # Requests still being served stay counted, or the limit would be breached.
            self._in_flight, self._open_exchanges = in_flight, open_exchanges

    # -- what probes read ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.unix_socket:
            return "http://localhost"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._records]

    @property
    def peak_in_flight(self) -> int:
        return self._peak

    @property
    def flood(self) -> dict[str, Any]:
        """How much traffic went past the record caps: ``requests_seen`` (every request, recorded
        or not), ``requests_unrecorded`` (past ``max_records``: a 429 and a count only) and
        ``bodies_dropped`` (past ``max_kept_body_bytes``: recorded without the body). A flood is
        evidence in itself; the records alone are incomplete when either count is non-zero."""
        with self._lock:
            return {
                "requests_seen": len(self._records) + self._unrecorded,
                "requests_unrecorded": self._unrecorded,
                "bodies_dropped": self._bodies_dropped,
            }

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no exchange is open (every record has ``ended``); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._open_exchanges == 0, timeout)

    # -- serving -------------------------------------------------------------------------

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def _dispatch(self, h: _Handler, req: _Request) -> None:
        route = req.target.split("?", 1)[0]
        if self.control_endpoints and route.endswith(("/_fake/requests", "/_fake/reset")):
            self._control(h, req, route)
            return
        ex = self._open_exchange(h, req)
        # The record is completed just before the last byte goes out: a client that has its
        # answer must find its record complete and its slot free (or a retry could hit the limit).
        h.on_final = lambda: self._commit(ex)
        try:
            self._serve(ex, route)
        except _ClientGone:
            ex.status, ex.outcome = None, "client_gone"
        except Exception as exc:
            # The fake's own bug, whatever the client sent: the record says so, so that the probe
            # is reported as the platform's error, never judged on a broken exchange.
            traceback.print_exc()
            self._note(ex, fault="fake_error", fake_error=f"{type(exc).__name__}: {exc}"[:500])
            ex.status, ex.outcome = None, "fake_error"
            h.close()
        finally:
            h.on_final = None
            self._commit(ex)

    def _commit(self, ex: _Exchange) -> None:
        with self._lock:
            if not ex.committed:
                ex.committed = True
                if ex.admitted:
                    self._in_flight -= 1
                self._open_exchanges -= 1
                ex.record["ended"] = time.monotonic()
                self._idle.notify_all()
            ex.record.update(status=ex.status, outcome=ex.outcome)

    def _open_exchange(self, h: _Handler, req: _Request) -> _Exchange:
        headers = {
            k[:100]: (_redact(v) if k in ("x-api-key", "authorization") else v)[:1000]
            for k, v in list(req.headers.items())[:_KEPT_HEADERS]
        }
        with self._lock:
            seq = self._seq
            self._seq += 1
            self._open_exchanges += 1
            rng = random.Random(f"{self.seed}:{seq}")  # noqa: S311 (reproducible, not secret)
            record = {
                "seq": seq,
                "arrived": req.arrived,
                "ended": None,
                "method": req.method,
                "path": req.target[:1000],
                "headers": headers,
                "body": None,
                "stream": False,
                "model": None,
                "max_tokens": None,
                "input_tokens": None,
                "output_tokens": None,
                "stop_reason": None,
                "reply_content": None,
                "in_flight_at_arrival": self._in_flight,
                "fault": None,
                "step": None,
                "status": None,
                "outcome": None,
                "request_id": _rand_id(rng, "req_011"),
                "retry_count": _to_number(req.headers.get("x-stainless-retry-count"), int),
                "read_timeout": _to_number(req.headers.get("x-stainless-read-timeout"), float),
                "timeout": _to_number(req.headers.get("x-stainless-timeout"), float),
            }
            overflow = self.max_records is not None and len(self._records) >= self.max_records
            if overflow:
                self._unrecorded += 1
            else:
                self._records.append(record)
        return _Exchange(h, req, record, rng, overflow=overflow)

    def _keep_body(self, ex: _Exchange, body: dict[str, Any], **fields: Any) -> None:
        """Record a validated body, unless this fake already keeps ``max_kept_body_bytes`` of them."""
        size = len(ex.req.body or b"")
        with self._lock:
            if self.max_kept_body_bytes is not None and self._kept_body_bytes + size > self.max_kept_body_bytes:
                self._bodies_dropped += 1
                ex.record.update(body=None, body_dropped=size, **fields)
            else:
                self._kept_body_bytes += size
                ex.record.update(body=body, **fields)

    def _note(self, ex: _Exchange, **fields: Any) -> None:
        with self._lock:
            ex.record.update(fields)

    def _send_json(self, ex: _Exchange, status: int, payload: Any, extra: Sequence[tuple[str, str]] = ()) -> None:
        headers = [("content-type", "application/json"), ("request-id", ex.record["request_id"]), *extra]
        ex.status = status
        ex.conn.send(status, headers, _dumps(payload), ex.req.keep_alive)

    def _send_error(
        self,
        ex: _Exchange,
        status: int,
        err_type: str | None = None,
        message: str | None = None,
        extra: Sequence[tuple[str, str]] = (),
    ) -> None:
        err_type = err_type or ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
        message = message or ERROR_MESSAGES.get(err_type, "Error")
        self._send_json(ex, status, _error_body(err_type, message, ex.record["request_id"]), extra)

    def _reject(
        self, ex: _Exchange, fault: str, status: int, message: str, extra: Sequence[tuple[str, str]] = ()
    ) -> None:
        self._note(ex, fault=fault)
        self._send_error(ex, status, message=message, extra=extra)

    def _refuse_body(self, ex: _Exchange, problem: str) -> None:
        excerpt = (ex.req.body or b"")[: _EXCERPT_CHARS * 4].decode("utf-8", "replace")[:_EXCERPT_CHARS]
        self._note(ex, invalid=problem, body_excerpt=excerpt)
        self._reject(ex, "invalid_request", 400, problem)

    def _serve(self, ex: _Exchange, route: str) -> None:
        """Validate, admit and play one request."""
        req = ex.req
        if ex.overflow:
            # Past the record cap: a cheap refusal that ends the connection, so a flood costs the
            # flooder a new connection per request and this server almost nothing.
            req.keep_alive = False
            message = f"Too many requests: more than {self.max_records} from this client. Slow down."
            return self._reject(ex, "flood", 429, message, _retry_headers(self.limit_retry_after))
        counting = route.endswith("/v1/messages/count_tokens")
        if req.method != "POST" or not (route.endswith("/v1/messages") or counting):
            return self._reject(ex, "not_found", 404, f"Not found: {req.method} {route[:200]}")
        if self.require_auth and not (req.headers.get("x-api-key") or req.headers.get("authorization")):
            return self._reject(ex, "auth", 401, "x-api-key header is required")
        if req.too_large:
            return self._reject(ex, "too_large", 413, ERROR_MESSAGES["request_too_large"])
        # Only a body the real API would accept is recorded as a body: the hidden checks read
        # records, and a client must not be able to feed them shapes they never expect. A refused
        # body is kept as a bounded excerpt of its text, for reviewers.
        try:
            body = json.loads(req.body or b"")
        except (ValueError, RecursionError):
            return self._refuse_body(ex, "There was an error parsing the body of your request.")
        if not isinstance(body, dict):
            return self._refuse_body(ex, "The request body must be a JSON object.")
        problem = _validate(body, counting)
        if problem:
            return self._refuse_body(ex, problem)
        stream = body.get("stream") is True
        self._keep_body(ex, body, stream=stream, model=body["model"], max_tokens=body.get("max_tokens"))
        tokens = estimate_tokens(body)
        self._note(ex, input_tokens=tokens)
        if counting:
            self._note(ex, fault="count_tokens")
            return self._send_json(ex, 200, {"input_tokens": tokens})
        if tokens > self.context_window:
            message = f"prompt is too long: {tokens} tokens > {self.context_window} maximum"
            return self._reject(ex, "context_window", 400, message)

        with self._lock:
            ex.record["in_flight_at_arrival"] = self._in_flight
            verdict = self._admit(tokens)
            if verdict is None:
                step = self._cursor.next()
                ex.record.update(fault=step.name, step=step.source)
                ex.admitted = True
                self._in_flight += 1
                self._peak = max(self._peak, self._in_flight)
        if verdict is not None:
            fault, wait, message = verdict
            # Integer seconds like the real API; a fractional wait goes out as retry-after-ms too.
            extra = _retry_headers(wait) if float(wait).is_integer() else _retry_headers(None, wait * 1000)
            return self._reject(ex, fault, 429, message, extra)
        return self._play(ex, body, step, stream)

    def _admit(self, tokens: int) -> tuple[str, float, str] | None:
        """Under the lock: None to admit, else (fault, retry-after seconds, message)."""
        if self.max_in_flight is not None and self._in_flight >= self.max_in_flight:
            message = f"Number of concurrent requests has exceeded your rate limit of {self.max_in_flight}."
            return "concurrency_limit", self.limit_retry_after, message
        if self.tokens_per_minute is not None:
            now = time.monotonic()
            while self._window and self._window[0][0] <= now - 60:
                self._window.popleft()
            used = sum(t for _, t in self._window)
            if used + tokens > self.tokens_per_minute:
                # Wait until enough of the window has expired for this request to fit.
                freed, wait = 0, 60.0
                for when, spent in self._window:
                    freed += spent
                    if used - freed + tokens <= self.tokens_per_minute:
                        wait = when + 60 - now
                        break
                message = (
                    f"This request would exceed your organization's rate limit of "
                    f"{self.tokens_per_minute} input tokens per minute."
                )
                return "tpm_limit", max(1.0, math.ceil(wait)), message
            self._window.append((now, tokens))
        return None

    def _play(self, ex: _Exchange, body: dict[str, Any], step: Step, stream: bool) -> None:
        name, params, h = step.name, step.params, ex.conn
        if step.status is not None or (name == "sse_error" and not stream):
            return self._play_status(ex, step)
        if name == "reset":
            ex.outcome = "reset"
            return h.reset()
        if name == "stall":
            why = h.wait(params.get("s", _DRIP_FOREVER_S))
            if why != "elapsed":
                ex.outcome = why
                return h.close()
        try:
            reply = _compose(body, step, self.responder, ex.rng)
        except Exception as exc:  # a broken exercise responder must show up, not hang the client
            traceback.print_exc()
            return self._reject(ex, "responder_error", 500, f"fake model responder failed: {exc!r}")
        message = _message(_rand_id(ex.rng, "msg_01"), str(body["model"]), reply, ex.record["input_tokens"])
        self._note(ex, output_tokens=reply.output_tokens, stop_reason=reply.stop_reason, reply_content=reply.blocks)
        rid = ("request-id", ex.record["request_id"])
        json_headers = [("content-type", "application/json"), rid]
        if name == "html":
            ex.status = params.get("status", 200)
            h.send(ex.status, [("content-type", "text/html"), rid], _html_page(ex.status), ex.req.keep_alive)
        elif stream:
            self._play_stream(ex, step, message)
        elif name == "drip":
            self._drip(ex, step, json_headers, [_dumps(message)])
        elif name == "badjson":
            raw = _dumps(message)
            ex.status = 200
            h.send(200, json_headers, raw[: len(raw) * 3 // 5], ex.req.keep_alive)
        elif name == "sse_cut":  # non-streaming: half the body under a full content-length
            raw = _dumps(message)
            ex.status, ex.outcome = None, "cut"
            head = h.head(200, [*json_headers, ("content-length", str(len(raw)))], True)
            h.write(head + raw[: len(raw) // 2], final=True)
            h.close()
        else:
            self._send_json(ex, 200, message)

    def _play_status(self, ex: _Exchange, step: Step) -> None:
        params = step.params
        status = step.status or _STATUS_BY_TYPE.get(params.get("type", "overloaded_error"), 500)
        retry_after = params.get("retry_after", 1.0 if status == 429 else None)
        extra = _retry_headers(retry_after, params.get("retry_after_ms"))
        if "should_retry" in params:
            extra.append(("x-should-retry", "true" if params["should_retry"] else "false"))
        self._send_error(ex, status, params.get("type"), params.get("message"), extra)

    def _play_stream(self, ex: _Exchange, step: Step, message: dict[str, Any]) -> None:
        name, params, h = step.name, step.params, ex.conn
        events = [_sse(n, d) for n, d in _sse_events(message)]
        headers = [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
            ("request-id", ex.record["request_id"]),
        ]
        if name == "drip":
            return self._drip(ex, step, headers, events)
        end = True
        ex.status = 200
        if name == "sse_error":
            err_type = params.get("type", "overloaded_error")
            text = params.get("message") or ERROR_MESSAGES.get(err_type, "Error")
            error = {"type": "error", "error": {"type": err_type, "message": text}}
            events = [*events[: params.get("after", 4)], _sse("error", error)]
        elif name == "sse_cut":
            events = events[: min(params.get("after", max(1, len(events) // 2)), len(events) - 1)]
            end = not params.get("hard", False)
            ex.status, ex.outcome = None, "cut"
        elif name == "badjson":
            events = [*events[:3], _BROKEN_SSE]
        keep_alive = ex.req.keep_alive and end
        h.start_chunked(200, headers, keep_alive, events[0])
        h.chunks(events[1:], end=end, final=True)
        if not keep_alive:
            h.close()

    def _drip(self, ex: _Exchange, step: Step, headers: list[tuple[str, str]], payload: list[bytes]) -> None:
        seconds, count, h = step.params.get("s", 0.5), step.params.get("n"), ex.conn
        deadline = time.monotonic() + _DRIP_FOREVER_S
        ex.status = 200
        h.start_chunked(200, headers, ex.req.keep_alive)
        sent = 0
        while (count is None and time.monotonic() < deadline) or (count is not None and sent < count):
            why = h.wait(seconds)
            if why != "elapsed":
                ex.outcome = why
                return h.close()
            h.chunks([b"\n"], end=False)
            sent += 1
        h.chunks(payload, end=True)
        if not ex.req.keep_alive:
            h.close()

    def _control(self, h: _Handler, req: _Request, route: str) -> None:
        headers = [("content-type", "application/json")]
        if route.endswith("/_fake/requests") and req.method == "GET":
            h.send(200, headers, _dumps(self.requests), req.keep_alive)
        elif route.endswith("/_fake/reset") and req.method == "POST":
            try:
                script = json.loads(req.body or b"{}").get("script")
                self.reset(script)
            except (ValueError, AttributeError) as exc:
                h.send(400, headers, _dumps({"ok": False, "error": str(exc)}), req.keep_alive)
                return
            h.send(200, headers, _dumps({"ok": True, "script": self.script}), req.keep_alive)
        else:
            h.send(405, headers, _dumps({"ok": False, "error": "method not allowed"}), req.keep_alive)
