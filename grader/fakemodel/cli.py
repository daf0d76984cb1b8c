"""The command line: ``python -m fakemodel --port PORT --script SCRIPT ...`` (``main``), with the
control endpoints on, until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import signal
import threading

from .replies import Responder
from .script import _STEP_PARAMS
from .server import FakeModel


def _load_responder(spec: str) -> Responder:
    """``package.module:callable`` or ``/path/to/file.py:callable``."""
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise ValueError(f"--responder must look like module:callable or file.py:callable, not {spec!r}")
    if target.endswith(".py") or os.sep in target:
        module_spec = importlib.util.spec_from_file_location("_fakemodel_responder", target)
        if module_spec is None or module_spec.loader is None:
            raise ValueError(f"cannot load a responder from {target!r}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    responder: Responder = getattr(module, attr)
    return responder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fakemodel",
        description="A fake Anthropic Messages API that plays a script of faults.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "script: comma-separated steps, one per request, the last repeating; "
            "step := name[(key=value,...)][*count]\n"
            f"steps: {', '.join(_STEP_PARAMS)}, or a status 400-599\n"
            "e.g. '529*2,ok'  '429(retry_after_ms=500),ok'  'stall(s=30)'  'drip(s=0.5)'  'ok(text=\"hi\")'\n"
            "The full grammar and every parameter: the docstring of the package (fakemodel/__init__.py)."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--unix-socket", help="serve on this Unix socket path instead of TCP")
    parser.add_argument("--script", default="ok", help="e.g. 'ok', '429(retry_after=2)*2,ok', 'stall(s=30)'")
    parser.add_argument("--responder", help="module:callable or /path/file.py:callable")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-in-flight", type=int)
    parser.add_argument("--tpm", type=int, help="input tokens per minute")
    parser.add_argument("--context-window", type=int, default=200_000)
    args = parser.parse_args(argv)
    try:
        fake = FakeModel(
            script=args.script,
            responder=_load_responder(args.responder) if args.responder else None,
            seed=args.seed,
            max_in_flight=args.max_in_flight,
            tokens_per_minute=args.tpm,
            context_window=args.context_window,
            host=args.host,
            port=args.port,
            unix_socket=args.unix_socket,
            control_endpoints=True,
        )
    except (ValueError, ImportError, AttributeError, OSError) as exc:
        parser.error(str(exc))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    fake.start()
    where = f"unix:{args.unix_socket}" if args.unix_socket else fake.base_url
    print(f"fakemodel listening on {where} (script: {args.script})", flush=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    fake.stop()
    return 0
