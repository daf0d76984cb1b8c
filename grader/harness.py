"""The small program that runs INSIDE the candidate's process. Standard library only.

It reads one JSON job from stdin::

    {"entry_point": "helpdesk:answer", "inputs": [...], "threads": 1,
     "nonce": "...", "max_text": 20000, "max_items": 50, "preload": ["anthropic", "pydantic"]}

keeps the real stdout for itself (the candidate's prints are sent to stderr), imports the entry
point, calls it once per input (a JSON value: one after another, or from ``threads`` threads
released at the same moment), and writes one JSON line per event to the saved stdout:

    hello -> preloaded -> ready | import_error -> (start, result)* -> done

Only ``hello`` and ``preloaded`` are written before any of the submission's code can run; they are
the only events from which the runner may conclude that a fault is the platform's. Everything
after them shares this process with the candidate's code, which can find the channel and write
on it: the runner reads from it only the values the calls returned.

Whatever the entry point returns is copied into plain JSON here (bounded, exact built-in types only)
so that the runner never has to trust a candidate object; the runner checks it against the
contract's output schema; an exception is recorded as the candidate's
failure, never ours. The runner timestamps each line when it arrives and enforces every time limit
from outside; this program only reports. Run with ``python -I`` so nothing from the submission runs
before ``hello``; the submission's folder is appended to ``sys.path`` from ``PYTHONPATH`` here.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

_dumps = json.dumps  # captured before any candidate code can replace them
_write = os.write
_perf = time.perf_counter


class _Channel:
    def __init__(self, fd: int, nonce: str) -> None:
        self.fd, self.nonce, self.lock = fd, nonce, threading.Lock()

    def emit(self, event: str, **fields: object) -> None:
        line = (_dumps({"ev": event, "nonce": self.nonce, **fields}, ensure_ascii=True) + "\n").encode("ascii")
        with self.lock:
            view = memoryview(line)
            while view:
                written = _write(self.fd, view)
                view = view[written:]


def _describe(exc: BaseException, limit: int = 2_000) -> str:
    try:
        text = f"{type(exc).__name__}: {exc}"
    except BaseException:
        text = type(exc).__name__
    return text[:limit]


def _text(value: object, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    plain = str.__str__(value)  # a str subclass cannot smuggle behaviour through
    return plain if len(plain) <= limit else plain[:limit] + "…[truncated]"


def plain(value: object, max_text: int = 20_000, max_items: int = 50) -> tuple[Any, list[str]]:
    """(what was returned, as plain JSON within bounds; why it is not JSON). Never raises.

    Only the built-in JSON-like types are read, subclasses included, and always through the base
    type's own methods (so a subclass's code does not run here): dict with str keys, list, tuple,
    str, int, float, bool, None. Anything else is replaced by null and reported. Strings are cut to
    ``max_text`` characters, lists and objects to ``max_items`` entries, nesting to 20 levels, the
    whole to 20,000 nodes, the problems to ten lines.
    """
    problems: list[str] = []
    budget = [20_000]

    def walk(item: object, path: str, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            if budget[0] == -1:
                problems.append("the value is too large (more than 20,000 parts); the rest is cut")
            return None
        if item is None or item is True or item is False:
            return item
        kind = type(item)
        # Subclasses (an OrderedDict, an IntEnum, a str subclass) are read through the base type's
        # own methods, so none of their code runs here.
        if isinstance(item, str):
            return _text(item, max_text)
        if isinstance(item, int):
            whole = int.__int__(item)
            return whole if abs(whole) < 1 << 63 else float(whole)
        if isinstance(item, float):
            number = float.__float__(item)
            if number != number or number in (float("inf"), float("-inf")):
                problems.append(f"{path}: {number!r} is not a JSON number")
                return None
            return number
        if depth >= 20:
            problems.append(f"{path}: nested more than 20 levels deep")
            return None
        if isinstance(item, (list, tuple)):
            items = list.__iter__(item) if isinstance(item, list) else tuple.__iter__(item)
            out = []
            for n, sub in enumerate(items):
                if n >= max_items:
                    problems.append(f"{path}: more than {max_items} items; the rest is cut")
                    break
                out.append(walk(sub, f"{path}[{n}]", depth + 1))
            return out
        if isinstance(item, dict):
            obj: dict[str, Any] = {}
            for n, (key, sub) in enumerate(dict.items(item)):
                if n >= max_items:
                    problems.append(f"{path}: more than {max_items} keys; the rest is cut")
                    break
                if not isinstance(key, str):
                    problems.append(f"{path}: a key of type {type(key).__name__}, not str")
                    continue
                name = str.__str__(key)[:100]
                obj[name] = walk(sub, f"{path}.{name}" if name.isidentifier() else f"{path}[{name!r}]", depth + 1)
            return obj
        problems.append(f"{path}: a {kind.__name__}, not a JSON value")
        return None

    try:
        copy = walk(value, "$", 0)
        if len(problems) > 10:
            problems[10:] = [f"…and {len(problems) - 10} more"]
        return copy, problems
    except BaseException as exc:
        return None, [f"could not read the returned value: {_describe(exc, 200)}"]


def _flush() -> None:
    """Push the candidate's buffered prints out before the runner, told we are done, kills us."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):  # a replaced or closed stream: nothing to keep
            stream.flush()


def _load(entry_point: str) -> object:
    module_name, _, attr = entry_point.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr or "answer")


def _call(
    channel: _Channel, fn: Callable[[Any], object], index: int, given: Any, max_text: int, max_items: int
) -> None:
    channel.emit("start", i=index)
    started = _perf()
    try:
        value = fn(given)
    except BaseException as exc:
        duration = _perf() - started
        channel.emit("result", i=index, outcome="raised", raised=_describe(exc), duration_s=round(duration, 4))
        return
    duration = _perf() - started
    view, problems = plain(value, max_text, max_items)
    channel.emit("result", i=index, outcome="returned", value=view, problems=problems, duration_s=round(duration, 4))


def _run_calls(
    channel: _Channel, fn: Callable[[Any], object], inputs: list[Any], threads: int, max_text: int, max_items: int
) -> None:
    work: queue.Queue[tuple[int, Any]] = queue.Queue()
    for item in enumerate(inputs):
        work.put(item)
    threads = max(1, min(threads, len(inputs)))
    barrier = threading.Barrier(threads)

    def worker() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=10)
        while True:
            try:
                index, given = work.get_nowait()
            except queue.Empty:
                return
            _call(channel, fn, index, given, max_text, max_items)  # each input is its own parsed object

    pool = [threading.Thread(target=worker, name=f"harness-{n}", daemon=True) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def main() -> None:
    job = json.loads(sys.stdin.buffer.read(64 * 1024 * 1024).decode("utf-8"))
    # The job names the channel's nonce: leave no way to read it again (the runner still trusts
    # nothing written after "preloaded", since the candidate shares this address space).
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    results_fd = os.dup(1)
    os.dup2(2, 1)  # from now on the candidate's prints go to stderr, never to the results channel
    channel = _Channel(results_fd, str(job.get("nonce", "")))
    channel.emit("hello", pid=os.getpid(), python=sys.version.split()[0])

    # The platform's runtime (anthropic, pydantic) is imported before the submission is on the
    # path: its import time is ours, not the candidate's, and a submission cannot shadow it.
    started = _perf()
    missing = []
    for name in job.get("preload", []):
        try:
            importlib.import_module(name)
        except Exception as exc:
            missing.append(f"{name}: {_describe(exc, 200)}")
    channel.emit("preloaded", seconds=round(_perf() - started, 4), missing=missing)

    # Never a __pycache__ beside the source: what runs is the .py reviewers read (-I ignores the env var).
    sys.pycache_prefix = os.path.join(tempfile.gettempdir(), "pycache")
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if entry and entry not in sys.path:
            sys.path.append(entry)  # after the stdlib and site-packages: a submission cannot shadow them
    started = _perf()
    try:
        fn = _load(job["entry_point"])
        if not callable(fn):
            raise TypeError(f"{job['entry_point']} is not callable")
    except BaseException as exc:
        _flush()
        channel.emit("import_error", error=_describe(exc), import_s=round(_perf() - started, 4))
        os._exit(0)
    channel.emit("ready", import_s=round(_perf() - started, 4))
    _run_calls(
        channel,
        fn,
        list(job["inputs"]),
        int(job.get("threads", 1)),
        int(job.get("max_text", 20_000)),
        int(job.get("max_items", 50)),
    )
    _flush()
    channel.emit("done")
    os._exit(0)  # do not wait for the candidate's threads or atexit handlers


if __name__ == "__main__":
    main()
