"""Throughput and latency of the fake model for plain ``ok`` requests, so a load probe knows the
fake is never its bottleneck (goal: >= 500 requests/s on one core, p99 < 5 ms).

The server runs in this process, pinned to one core when ``os.sched_setaffinity`` exists; the
clients are separate processes (pinned to the other cores), each holding one keep-alive
connection and sending non-streaming ``POST /v1/messages``. Each client times every request from
send to the last byte of the body. Two phases: flat out (the throughput, and the latency at
saturation, which is mostly queueing), then paced at ``--rate`` requests/s in total (the latency a
load probe sees at the goal rate).

    .venv/bin/python bench/bench_fakemodel.py [--connections 4] [--seconds 3] [--rate 500] [--stream]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grader.fakemodel import FakeModel


def _request_bytes(port: int, stream: bool) -> bytes:
    body = json.dumps(
        {
            "model": "claude-bench",
            "max_tokens": 256,
            "stream": stream,
            "messages": [{"role": "user", "content": "How do I reset my password? " * 4}],
        }
    ).encode()
    head = (
        f"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"x-api-key: sk-bench-000000000000\r\nanthropic-version: 2023-06-01\r\n"
        f"x-stainless-retry-count: 0\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _read_response(sock: socket.socket, buffer: bytearray) -> None:
    """Read one response (content-length or chunked) off a keep-alive connection."""
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(65536)
    head_end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:head_end]).lower()
    if not head.startswith(b"http/1.1 200"):
        raise RuntimeError(f"unexpected response: {head[:80]!r}")
    del buffer[:head_end]
    if b"transfer-encoding: chunked" in head:
        while b"0\r\n\r\n" not in buffer:
            buffer += sock.recv(65536)
        del buffer[: buffer.index(b"0\r\n\r\n") + 5]
        return
    length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(buffer) < length:
        buffer += sock.recv(65536)
    del buffer[:length]


def _client(
    port: int, seconds: float, rate: float, stream: bool, cpus: set[int] | None, out: multiprocessing.Queue
) -> None:
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)
    request = _request_bytes(port, stream)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = bytearray()
    latencies = []
    interval = 1 / rate if rate else 0.0
    begin = time.perf_counter()
    deadline = begin + seconds
    while True:
        if interval:  # paced: send on a fixed schedule, so a slow reply is not hidden by waiting
            next_at = begin + len(latencies) * interval
            time.sleep(max(0.0, next_at - time.perf_counter()))
        start = time.perf_counter()
        if start >= deadline:
            break
        sock.sendall(request)
        _read_response(sock, buffer)
        latencies.append(time.perf_counter() - start)
    sock.close()
    out.put(latencies)


def _percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def _phase(fake: FakeModel, args: argparse.Namespace, rate: float, client_cpus: set[int] | None) -> None:
    fake.reset()
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    queue = context.Queue()
    per_client = rate / args.connections if rate else 0.0
    clients = [
        context.Process(target=_client, args=(fake.port, args.seconds, per_client, args.stream, client_cpus, queue))
        for _ in range(args.connections)
    ]
    for process in clients:
        process.start()
    latencies = sorted(x for _ in clients for x in queue.get(timeout=args.seconds + 30))
    for process in clients:
        process.join()
    count = len(latencies)
    label = f"paced at {rate:.0f}/s" if rate else "flat out"
    print(
        f"{label:>16}: {count} requests in {args.seconds:.1f} s = {count / args.seconds:.0f} requests/s "
        f"(server recorded {len(fake.requests)}); latency p50 {_percentile(latencies, 0.50) * 1000:.2f} ms, "
        f"p99 {_percentile(latencies, 0.99) * 1000:.2f} ms, max {latencies[-1] * 1000:.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=500.0, help="total requests/s of the paced phase")
    parser.add_argument("--stream", action="store_true", help="streaming requests instead")
    args = parser.parse_args()

    server_cpus = client_cpus = None
    if hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))
        server_cpus = {available[0]}
        client_cpus = set(available[1:]) or None
        os.sched_setaffinity(0, server_cpus)  # the server's threads inherit this process's mask

    print(
        f"fakemodel bench: {'streaming' if args.stream else 'non-streaming'} ok, {args.connections} keep-alive "
        f"connections, server on CPU {sorted(server_cpus) if server_cpus else 'any'}, "
        f"clients on CPU {sorted(client_cpus) if client_cpus else 'any'}"
    )
    with FakeModel(script="ok", seed=0) as fake:
        _phase(fake, args, 0.0, client_cpus)
        _phase(fake, args, args.rate, client_cpus)
    return 0


if __name__ == "__main__":
    sys.exit(main())
