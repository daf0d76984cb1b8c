"""Run an exercise's hidden probes against a submission and report per probe: pass, fail or error.

An exercise package (``exercises/<slug>/``, see ``exercises/README.md``) provides ``exercise.toml``
(read by :mod:`grader.package`) and a ``hidden/`` Python package, importing only :mod:`grader.sdk`,
whose ``probes`` module exports::

    PROBES: list[Probe]
    make_responder(probe) -> responder        # for the fake model
    prepare(probe, work_dir) -> dict[str, str]  # lays out the files the candidate may see; env vars

Each probe gets its own fake model (fresh state), its own scratch folder and its own candidate
process, started by an executor and killed hard at the contract's limit. Probes run concurrently on
a thread pool, long ones first; ``exclusive`` (timing-sensitive) probes run alone before the rest.

A graded probe (its check's verdict carries a ``score`` from 0 to 1) is still a pass or a fail and
counts that fraction of a point; a pass/fail probe counts 1 when it passes. A verdict whose score is
neither None nor a number from 0 to 1 is the package's bug: an error, like a check that raises.

Outcomes: ``fail`` is the candidate's (raised, timed out, returned garbage, crashed, flooded the
model, checks not met); ``error`` is ours and is never counted against the candidate. Only the
platform decides that a fault is its own, from outside the candidate's process: the fake model or
the box could not start, the harness said so before the submission was importable (see
``_watch``), the fake model or a check raised (a platform bug), or the runner itself failed. The
candidate's code runs beside the harness in one process and can write anything on its channel;
once it may have run, nothing it writes can make an outcome ours, and only the values its calls
returned are read, in the harness's exact shape. A probe that errs is run once more, alone; the
Celery pipeline does not finish a run that still has an error (the attempt is retried, then shown
to staff), so an error never stands in a grade.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import queue
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, Any, TypeGuard

from grader.executors import Executor, ExecutorError, ForkServerExecutor, HarnessJob, RunningHarness
from grader.fakemodel import FakeModel, Responder, parse_script
from grader.load import cpu_pressure, starved
from grader.package import ExercisePackage, PackageError, load_package
from grader.probe import CallResult, Evidence, Probe, Verdict, score_problem
from grader.schema import validate

log = logging.getLogger(__name__)

HELLO_LIMIT_S = 15.0  # the harness itself must be up by then, or it is our fault
PRELOAD_LIMIT_S = 60.0  # importing the platform's runtime modules: slow means an overloaded worker
KILL_GRACE_S = 1.5  # a call is killed this long after the contract's limit
MAX_LINE = 1 << 20
MAX_OUTPUT = 32 << 20
MAX_TEXT = 20_000  # the harness bounds each returned string to this many characters
MAX_ITEMS = 50
_CANCEL_POLL_S = 0.25
STDERR_TAIL = 16_384
DEFAULT_WORKERS = 10


class GradingError(RuntimeError):
    """Grading could not run at all (bad exercise package, executor unavailable)."""


# --------------------------------------------------------------------------------------------
# Exercise packages
# --------------------------------------------------------------------------------------------


@dataclass
class Exercise:
    package: ExercisePackage
    probes: list[Probe]
    module: ModuleType
    preload: tuple[str, ...] = ("anthropic", "pydantic")

    @property
    def slug(self) -> str:
        return self.package.slug

    @property
    def version(self) -> str:
        return self.package.version

    @property
    def path(self) -> Path:
        return self.package.path

    @property
    def entry_point(self) -> str:
        return self.package.contract.entry_point

    @property
    def call_timeout_s(self) -> float:
        return self.package.contract.call_timeout_s

    @property
    def output_schema(self) -> dict[str, Any]:
        return self.package.contract.output

    # The hidden package is loaded at run time, so its functions are untyped: the module docstring is their contract.
    def make_responder(self, probe: Probe) -> Responder:
        responder: Responder = self.module.make_responder(probe)
        return responder

    def prepare(self, probe: Probe, work_dir: Path) -> dict[str, str]:
        env: dict[str, str] = self.module.prepare(probe, work_dir)
        return env


_LOADING = threading.RLock()  # reentrant: a hidden package may load another exercise


def _load_hidden(path: Path, slug: str) -> ModuleType:
    """Import ``hidden/`` as a uniquely named package (never importable by candidate code).

    Under a lock: a module is in ``sys.modules`` before it has finished executing, so a second
    thread loading the same exercise would otherwise get a half-initialised module.
    """
    hidden = path / "hidden"
    name = "_exercise_" + "".join(c if c.isalnum() else "_" for c in slug)
    with _LOADING:
        if f"{name}.probes" in sys.modules:
            return sys.modules[f"{name}.probes"]
        spec = importlib.util.spec_from_file_location(
            name, hidden / "__init__.py", submodule_search_locations=[str(hidden)]
        )
        if spec is None or spec.loader is None:
            raise GradingError(f"{hidden} is not a Python package")
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        try:
            spec.loader.exec_module(package)
            return importlib.import_module(f"{name}.probes")
        except BaseException:
            sys.modules.pop(name, None)  # a later attempt starts clean instead of finding a broken package
            raise


def load_exercise(path: Path | str) -> Exercise:
    """The package and its probes, checked against what the package declares."""
    path = Path(path).resolve()
    try:
        package = load_package(path)
    except PackageError as exc:
        raise GradingError(f"cannot load the exercise package at {path}: {exc}") from exc
    try:
        # Keyed by version too: a long-lived worker must not keep grading with a stale version's probes.
        module = _load_hidden(path, f"{package.slug}-{package.version}")
        probes = list(module.PROBES)
    except (OSError, KeyError, ValueError, ImportError, AttributeError) as exc:
        raise GradingError(f"cannot load the exercise package at {path}: {exc}") from exc
    problems = probe_problems(package, probes)
    if problems:
        raise GradingError(f"{path}: {'; '.join(problems[:5])}")
    return Exercise(
        package=package,
        probes=probes,
        module=module,
        preload=tuple(getattr(module, "PRELOAD", ("anthropic", "pydantic"))),
    )


def probe_problems(package: ExercisePackage, probes: list[Probe]) -> list[str]:
    """How the probes disagree with the package's declarations (empty when they agree)."""
    problems: list[str] = []
    if not probes:
        problems.append("hidden/probes.py defines no probes")
    ids = [p.id for p in probes]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        problems.append(f"duplicate probe ids: {', '.join(duplicates)}")
    declared = set(package.mode_slugs)
    for probe in probes:
        if not isinstance(probe, Probe):
            problems.append(f"PROBES holds a {type(probe).__name__}, not a Probe")
            continue
        try:
            parse_script(probe.script)
        except ValueError as exc:  # a typo would otherwise surface as an error in every grading
            problems.append(f"probe {probe.id}: its fault script does not parse: {exc}")
        if probe.failure_mode not in declared:
            problems.append(f"probe {probe.id}: failure mode {probe.failure_mode!r} is not declared in exercise.toml")
        if probe.threads > package.contract.concurrency:
            problems.append(
                f"probe {probe.id}: {probe.threads} threads, more than the contract's concurrency "
                f"{package.contract.concurrency}"
            )
        for n, given in enumerate(probe.inputs):
            wrong = validate(given, package.contract.input, 1)
            if wrong:
                problems.append(f"probe {probe.id}: input {n + 1} breaks the contract's input schema: {wrong[0]}")
    return problems


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class ProbeOutcome:
    id: str
    failure_mode: str
    description: str
    outcome: str  # "pass" | "fail" | "error"
    reason: str
    duration_s: float
    evidence: dict[str, Any] = field(default_factory=dict)
    score: float | None = None  # a graded probe's, 0 to 1; None for a pass/fail probe and an error
    pressure_s: float | None = None  # seconds of it during which some task waited for a CPU (grader.load)

    @property
    def points(self) -> float:
        """What the outcome counts: a graded probe its score, a pass 1, a fail (and an error) 0."""
        if self.outcome == "error":
            return 0.0
        if self.score is not None:
            return self.score
        return 1.0 if self.outcome == "pass" else 0.0

    def to_json(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "failure_mode": self.failure_mode,
            "outcome": self.outcome,
            "reason": self.reason,
            "duration_s": round(self.duration_s, 3),
        }
        if self.score is not None:  # only a graded probe's: a pass/fail probe's JSON is as it always was
            out["score"] = self.score
        return out


def points_text(points: float) -> str:
    """Points in as few digits as they need: 2, 1.5, 0.812."""
    return f"{round(points, 3):g}"


@dataclass
class GradeReport:
    exercise: str
    version: str
    executor: str
    sandboxed: bool
    outcomes: list[ProbeOutcome]
    wall_s: float
    retried_alone: list[str] = field(default_factory=list)  # probes that erred once and were run again

    @property
    def passed(self) -> int:
        return sum(o.outcome == "pass" for o in self.outcomes)

    @property
    def total(self) -> int:
        return len(self.outcomes)

    @property
    def points(self) -> float:
        """Passes count 1, graded probes their score (errors nothing): ``passed`` when none is graded."""
        return sum(o.points for o in self.outcomes)

    @property
    def has_graded(self) -> bool:
        return any(o.score is not None for o in self.outcomes)

    @property
    def infra_errors(self) -> int:
        return sum(o.outcome == "error" for o in self.outcomes)

    def by_failure_mode(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for o in self.outcomes:  # in the order the package lists its probes
            counts = out.setdefault(o.failure_mode, {"passed": 0, "total": 0})
            counts["passed"] += o.outcome == "pass"
            counts["total"] += 1
        return out

    def points_by_failure_mode(self) -> dict[str, float]:
        """Per failure mode, in the package's order: the points its probes earned (see ``points``)."""
        out: dict[str, float] = {}
        for o in self.outcomes:
            out[o.failure_mode] = out.get(o.failure_mode, 0.0) + o.points
        return out

    def outcome(self, probe_id: str) -> ProbeOutcome:
        return next(o for o in self.outcomes if o.id == probe_id)

    def to_json(self) -> dict[str, Any]:
        out = {
            "exercise": self.exercise,
            "version": self.version,
            "passed": self.passed,
            "total": self.total,
            "infra_errors": self.infra_errors,
            "by_failure_mode": self.by_failure_mode(),
            "probes": [o.to_json() for o in self.outcomes],
        }
        if self.has_graded:  # the probes' scores summed: with pass/fail probes alone it is ``passed``
            out["points"] = round(self.points, 3)
        return out


# --------------------------------------------------------------------------------------------
# Watching one candidate process
# --------------------------------------------------------------------------------------------


@dataclass
class _Watch:
    calls: list[CallResult]
    import_s: float | None = None
    process: str = ""
    infra: str | None = None  # set when the fault is ours (only ever before candidate code ran)
    import_failure: str | None = None
    stderr_tail: str = ""
    cancelled: bool = False


def _read_lines(stream: IO[bytes], nonce: str, events: queue.Queue[tuple[float, dict[str, Any]]]) -> None:
    total = 0
    try:
        while True:
            line = stream.readline(MAX_LINE)
            if not line:
                break
            total += len(line)
            if total > MAX_OUTPUT:
                events.put((time.monotonic(), {"ev": "_flood"}))
                return
            if not line.endswith(b"\n"):  # an over-long line: skip to its end, never parse it
                while (rest := stream.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                    total += len(rest)
                continue
            try:
                event = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(event, dict) and event.get("nonce") == nonce:
                events.put((time.monotonic(), event))
    except (OSError, ValueError):
        pass
    finally:
        events.put((time.monotonic(), {"ev": "_eof"}))


def _read_tail(stream: IO[bytes], sink: list[bytes]) -> None:
    size = 0
    try:
        fd = stream.fileno()
        while chunk := os.read(fd, 65536):
            sink.append(chunk)
            size += len(chunk)
            while size > STDERR_TAIL * 2 and len(sink) > 1:
                size -= len(sink.pop(0))
    except (OSError, ValueError):
        pass


def _watch(
    handle: RunningHarness,
    questions: tuple[Any, ...],
    threads: int,
    nonce: str,
    call_limit: float,
    cancel: threading.Event | None = None,
    output_schema: dict[str, Any] | None = None,
) -> _Watch:
    """Follow one candidate process from launch to exit, enforcing every limit from outside.

    Only the first two lifecycle events, ``hello`` and ``preloaded``, can make the outcome ours
    (``infra``): the harness writes both before the submission is on ``sys.path``, so nothing the
    candidate wrote can come before them on the pipe. From ``preloaded`` on, the process is the
    candidate's: a lifecycle event out of turn is ignored (and counted), a death or a silence is the
    candidate's failure, and only the values a call returned are taken from it.
    """
    events: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
    tail: list[bytes] = []
    readers = [
        threading.Thread(target=_read_lines, args=(handle.stdout, nonce, events), daemon=True),
        threading.Thread(target=_read_tail, args=(handle.stderr, tail), daemon=True),
    ]
    for reader in readers:
        reader.start()

    kill_after = call_limit + KILL_GRACE_S
    launched = time.monotonic()
    batches = math.ceil(len(questions) / max(1, min(threads, len(questions))))
    hard_stop = launched + HELLO_LIMIT_S + PRELOAD_LIMIT_S + call_limit + batches * kill_after + 5
    hello_at = preloaded_at = ready_at = None
    started: dict[int, float] = {}
    results: dict[int, CallResult] = {}
    watch = _Watch(calls=[])
    why_stopped = ""
    out_of_turn = 0

    while True:
        now = time.monotonic()
        if cancel is not None and cancel.is_set():
            watch.cancelled = True
            why_stopped = "stopped: the grading was cancelled"
            break
        if hello_at is None:
            limit = launched + HELLO_LIMIT_S
        elif preloaded_at is None:
            limit = hello_at + PRELOAD_LIMIT_S
        elif ready_at is None:
            limit = preloaded_at + call_limit
        else:
            in_flight = [t for i, t in started.items() if i not in results]
            limit = min([t + kill_after for t in in_flight] + [hard_stop])
        if now >= limit:
            if hello_at is None:
                watch.infra = f"the harness did not start within {HELLO_LIMIT_S:.0f} s"
            elif preloaded_at is None:
                watch.infra = f"importing the runtime modules took longer than {PRELOAD_LIMIT_S:.0f} s"
            elif ready_at is None:
                watch.import_failure = f"importing the entry point took longer than {call_limit:.0f} s"
            elif now >= hard_stop:
                why_stopped = "killed: the process ran past its overall limit"
            else:
                why_stopped = f"killed: a call ran past {call_limit:.0f} s"
            break
        try:
            at, event = events.get(timeout=max(0.005, min(limit - now, _CANCEL_POLL_S)))
        except queue.Empty:
            continue
        kind = event.get("ev")
        if kind == "_eof":
            code = handle.poll()
            why_stopped = (
                f"the process exited with code {code}" if code is not None else "the process closed its output"
            )
            if hello_at is None:
                watch.infra = f"the harness exited before starting ({why_stopped})"
            elif preloaded_at is None:
                watch.infra = f"the harness died importing the runtime modules ({why_stopped})"
            elif ready_at is None and watch.import_failure is None:
                watch.import_failure = f"the process died while importing the entry point ({why_stopped})"
            break
        if kind == "_flood":
            why_stopped = "killed: the process wrote more than 32 MB of results"
            break
        # Before the submission is importable: the harness alone speaks, and may say it is our fault.
        if preloaded_at is None:
            if kind == "hello" and hello_at is None:
                hello_at = at
            elif kind == "preloaded" and hello_at is not None:
                missing = event.get("missing")
                if missing:
                    items = missing if isinstance(missing, list) else [missing]
                    watch.infra = f"the runtime lacks modules: {'; '.join(map(str, items))[:500]}"
                    why_stopped = "runtime incomplete"
                    break
                preloaded_at = at
            continue
        # From here on the candidate's code may be writing too.
        if kind == "import_error" and ready_at is None:
            watch.import_failure = f"importing the entry point failed: {str(event.get('error', ''))[:2_000]}"
            watch.import_s = _number(event.get("import_s"))
            why_stopped = "import failed"
            break
        if kind == "ready" and ready_at is None:
            ready_at = at
            watch.import_s = _number(event.get("import_s"))
        elif kind == "start" and ready_at is not None:
            index = event.get("i")
            if _is_index(index, questions) and index not in started:
                started[index] = at
        elif kind == "result" and ready_at is not None:
            index = event.get("i")
            if _is_index(index, questions) and index in started and index not in results:
                results[index] = _call_result(index, questions[index], event, at - started[index], output_schema)
        elif kind == "done" and ready_at is not None:
            why_stopped = "finished"
            break
        else:
            out_of_turn += 1

    handle.kill()
    for reader in readers:
        reader.join(timeout=2)
    watch.stderr_tail = b"".join(tail).decode("utf-8", "replace")[-STDERR_TAIL:]
    watch.process = why_stopped or (watch.infra or watch.import_failure or "")
    if out_of_turn:
        watch.process += f" ({out_of_turn} lifecycle event(s) out of turn ignored)"
    now = time.monotonic()
    for index, question in enumerate(questions):
        if index in results:
            watch.calls.append(results[index])
        elif index in started:
            watch.calls.append(CallResult(index, question, "timed_out", observed_s=round(now - started[index], 3)))
        else:
            watch.calls.append(CallResult(index, question, "not_run"))
    return watch


def _is_index(value: object, questions: tuple[Any, ...]) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(questions)


def _number(value: object) -> float | None:
    """A finite number the harness reported, else None (NaN and infinity are no duration)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _call_result(
    index: int, given: Any, event: dict[str, Any], observed: float, output_schema: dict[str, Any] | None = None
) -> CallResult:
    """One call from its ``result`` event; the value is checked against the contract here, outside the box.

    The event may have been written by the candidate's code instead of the harness. It came
    through ``json.loads``, so its value is plain JSON whoever wrote it, and no bigger than a line.
    """
    outcome = "raised" if event.get("outcome") == "raised" else "returned"
    value = event.get("value") if outcome == "returned" else None
    reported = event.get("problems")
    problems = [p[:300] for p in reported if isinstance(p, str)][:10] if isinstance(reported, list) else []
    if outcome == "returned" and output_schema is not None:
        problems += validate(value, output_schema, 10 - len(problems) if len(problems) < 10 else 1)
    raised = str(event.get("raised"))[:2_000] if outcome == "raised" else None
    return CallResult(
        index=index,
        input=given,
        outcome=outcome,
        value=value,
        problems=problems,
        raised=raised,
        duration_s=_number(event.get("duration_s")),
        observed_s=round(observed, 3),
    )


# --------------------------------------------------------------------------------------------
# Running probes
# --------------------------------------------------------------------------------------------


@dataclass
class _Context:
    exercise: Exercise
    submission_dir: Path
    executor: Executor
    tmp_root: Path


def _error(probe: Probe, started: float, reason: str, evidence: dict[str, Any] | None = None) -> ProbeOutcome:
    return ProbeOutcome(
        probe.id, probe.failure_mode, probe.description, "error", reason, time.monotonic() - started, evidence or {}
    )


class GradingCancelled(Exception):
    """The grading was told to stop (a newer upload superseded it): no outcome is final."""

    def __init__(self, message: str = "", finished: int = 0, total: int = 0) -> None:
        super().__init__(message)
        self.finished, self.total = finished, total


def run_probe(ctx: _Context, probe: Probe, cancel: threading.Event | None = None) -> ProbeOutcome:
    started = time.monotonic()
    pressure = cpu_pressure()
    before = pressure.total()
    try:
        outcome = _run_probe(ctx, probe, started, cancel)
    except GradingCancelled:
        raise
    except Exception as exc:
        log.exception("probe %s: the runner failed", probe.id)
        outcome = _error(probe, started, f"runner error (a platform bug): {type(exc).__name__}: {exc}")
    outcome.pressure_s = max(0.0, pressure.total() - before)
    return outcome


def busy_note(first: ProbeOutcome) -> str:
    """What a timing probe's reason says when it was run again because the machine was busy the first time."""
    return (
        f"run again alone: the first run ({first.outcome}, {points_text(first.points)} point) was on a machine"
        f" short of CPU for {first.pressure_s or 0:.1f} s of its {first.duration_s:.1f} s;"
        " this is the second run's result"
    )


def timing_failure_on_a_busy_machine(probe: Probe, outcome: ProbeOutcome) -> bool:
    """A timing probe that did not pass while the machine was starved of CPU (see :mod:`grader.load`).

    Only ``long`` probes (they spend most of the call limit waiting on the clock). An ``exclusive``
    probe already runs with nothing beside it, and the load it measures is its own."""
    return (
        probe.long
        and not probe.exclusive
        and outcome.outcome != "error"
        and outcome.points < 1
        and starved(outcome.pressure_s, outcome.duration_s)
    )


def _run_probe(ctx: _Context, probe: Probe, started: float, cancel: threading.Event | None) -> ProbeOutcome:
    exercise = ctx.exercise
    work = Path(tempfile.mkdtemp(prefix=f"{probe.id}-", dir=ctx.tmp_root))
    fake = None
    try:
        try:
            env = exercise.prepare(probe, work)
            fake = FakeModel(
                script=probe.script,
                responder=exercise.make_responder(probe),
                seed=probe.seed,
                max_in_flight=probe.max_in_flight,
                tokens_per_minute=probe.tokens_per_minute,
                context_window=probe.context_window,
            ).start()
        except Exception as exc:
            return _error(probe, started, f"the fake model could not start: {type(exc).__name__}: {exc}")
        scratch = work / "scratch"
        scratch.mkdir()
        nonce = secrets.token_hex(16)
        payload = {
            "entry_point": exercise.entry_point,
            "inputs": list(probe.inputs),
            "threads": probe.threads,
            "nonce": nonce,
            "max_text": MAX_TEXT,
            "max_items": MAX_ITEMS,
            "preload": list(exercise.preload),
        }
        job = HarnessJob(
            submission_dir=ctx.submission_dir,
            work_dir=scratch,
            model_base_url=fake.base_url,
            stdin=json.dumps(payload).encode("ascii"),
            env=env,
            cancel=cancel,
        )
        if cancel is not None and cancel.is_set():
            raise GradingCancelled(probe.id)
        try:
            handle = ctx.executor.launch(job)
        except ExecutorError as exc:
            if cancel is not None and cancel.is_set():
                raise GradingCancelled(probe.id) from exc
            return _error(probe, started, f"the candidate process could not be launched: {exc}")
        watch = _watch(
            handle, probe.inputs, probe.threads, nonce, exercise.call_timeout_s, cancel, exercise.output_schema
        )
        if watch.cancelled:
            raise GradingCancelled(probe.id)
        fake.wait_idle(timeout=2.0)
        requests, peak, flood = fake.requests, fake.peak_in_flight, fake.flood
    finally:
        if fake is not None:
            fake.stop()
        shutil.rmtree(work, ignore_errors=True)

    evidence = Evidence(
        probe_id=probe.id,
        inputs=probe.inputs,
        calls=watch.calls,
        requests=requests,
        peak_in_flight=peak,
        wall_s=time.monotonic() - started,
        call_limit_s=exercise.call_timeout_s,
        import_s=watch.import_s,
        process=watch.process,
        stderr_tail=watch.stderr_tail,
        flood=flood,
    )
    stored = evidence.to_json()
    outcome, reason, score = _judge(probe, evidence, watch)
    return ProbeOutcome(
        probe.id, probe.failure_mode, probe.description, outcome, reason, time.monotonic() - started, stored, score
    )


def _judge(probe: Probe, evidence: Evidence, watch: _Watch) -> tuple[str, str, float | None]:
    """(outcome, reason, score). "error" only for what the platform alone decides is its own fault;
    the score is a graded check's, from 0 to 1 (None for a pass/fail probe and for every error)."""
    decided, reason = _verdict(probe, evidence, watch)
    if isinstance(decided, str):
        return decided, reason, None
    score = getattr(decided, "score", None)
    return ("pass" if decided.passed else "fail"), decided.reason, None if score is None else float(score)


def _verdict(probe: Probe, evidence: Evidence, watch: _Watch) -> tuple[str | Verdict, str]:
    """The check's verdict, or (outcome, reason) when the probe was decided without it."""
    if watch.infra:
        return "error", f"infrastructure: {watch.infra}"
    broken = next((r for r in evidence.requests if r.get("fault") in ("fake_error", "responder_error")), None)
    if broken is not None:
        seq = broken.get("seq")
        if broken.get("fault") == "responder_error":
            # The responder is the package's code and gets only bodies the fake has validated: like
            # a check, it must be total over them, so its failure is ours, never the candidate's.
            return "error", f"the exercise's responder failed on request {seq} (a bug in the package)"
        return "error", f"the fake model failed on request {seq} (a platform bug): {broken.get('fake_error')}"
    if not evidence.complete:
        return "fail", _flood_reason(evidence)
    if watch.import_failure:
        return "fail", watch.import_failure
    try:
        verdict = probe.check(evidence)
    except Exception as exc:
        # Checks are total over anything a candidate can send; one that raises is our bug, which
        # staff must see and fix, never a free pass: the probe is retried, then the run fails as ours.
        log.exception("probe %s: the check raised", probe.id)
        return "error", f"the check raised (a platform bug): {type(exc).__name__}: {exc}"
    score = getattr(verdict, "score", None)
    if score is not None and (problem := score_problem(score)):
        # Verdict refuses a bad score when it is made, but a check may return anything at all: a
        # score that cannot be counted is the package's bug, handled like a check that raised.
        log.error("probe %s: the check returned an unusable score: %s", probe.id, problem)
        return "error", f"the check returned an unusable score (a bug in the package): score {problem}"
    return verdict, ""


def _flood_reason(evidence: Evidence) -> str:
    flood = evidence.flood
    if flood.get("requests_unrecorded"):
        return (
            f"a request flood: {evidence.requests_seen:,} requests reached the model in this probe; "
            f"past {len(evidence.requests):,} they were refused and only counted"
        )
    return (
        f"a request flood: {flood.get('bodies_dropped')} request bodies arrived after the probe had "
        "already received 64 MB of them"
    )


def _select(probes: list[Probe], probe_ids: Iterable[str] | None) -> list[Probe]:
    if not probe_ids:
        return probes
    wanted = list(dict.fromkeys(probe_ids))
    known = {p.id: p for p in probes}
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise GradingError(f"unknown probe ids: {', '.join(unknown)}")
    return [known[i] for i in wanted]


def grade(
    submission_dir: Path | str,
    exercise_dir: Path | str,
    probe_ids: Iterable[str] | None = None,
    executor: Executor | None = None,
    workers: int = DEFAULT_WORKERS,
    on_progress: Callable[[int, int], None] | None = None,
    exclusive_alone: bool = True,
    cancel: threading.Event | None = None,
    rerun_starved: bool = True,
) -> GradeReport:
    """Run the exercise's probes (or those named) against an unpacked submission folder.

    ``executor`` defaults to a :class:`ForkServerExecutor` (unsandboxed); pass a sandboxing one in
    production. ``on_progress(done, total)`` is called after each probe finishes.
    ``exclusive_alone=False`` runs timing-sensitive probes in the pool like the others: only for
    tests whose verdicts do not depend on timing. Setting ``cancel`` kills the running candidate
    processes, starts no more and raises :class:`GradingCancelled`.

    A probe that ends in ``error`` (ours) is run once more, alone, after the others: a box that
    could not start while the machine was busy gets a second chance with nothing beside it. So is a
    timing probe (``long``) that did not pass while the machine was starved of CPU
    (:mod:`grader.load`); the second run's result stands, whatever the load then, and its reason says
    it was run again. ``rerun_starved=False`` leaves those to the caller (the package verification
    runs them at the end, with nothing beside them); their outcomes carry ``pressure_s``.
    """
    started = time.monotonic()
    exercise = load_exercise(exercise_dir)
    submission = Path(submission_dir).resolve()
    if not submission.is_dir():
        raise GradingError(f"{submission} is not a folder")
    selected = _select(exercise.probes, probe_ids)
    own_executor = executor is None
    executor = executor or ForkServerExecutor(preload=exercise.preload)
    retried: list[str] = []
    try:
        try:
            executor.start()
        except ExecutorError as exc:
            raise GradingError(str(exc)) from exc
        with tempfile.TemporaryDirectory(prefix="grading-") as tmp:
            ctx = _Context(exercise, submission, executor, Path(tmp))
            results: dict[str, ProbeOutcome] = {}
            lock = threading.Lock()

            def run(probe: Probe) -> ProbeOutcome:
                outcome = run_probe(ctx, probe, cancel)
                with lock:
                    results[probe.id] = outcome
                    done = len(results)
                if on_progress is not None:
                    on_progress(done, len(selected))
                return outcome

            try:
                alone = [p for p in selected if p.exclusive and exclusive_alone]
                for probe in alone:
                    run(probe)
                rest = [p for p in selected if p not in alone]
                rest.sort(key=lambda p: not p.long)  # stable: long probes first, then in file order
                with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="probe") as pool:
                    list(pool.map(run, rest))
                for probe in [p for p in selected if results[p.id].outcome == "error"]:
                    first = results[probe.id].reason
                    again = run_probe(ctx, probe, cancel)
                    if again.outcome == "error":
                        again.reason = f"{again.reason} (also when run again alone; first: {first})"[:2_000]
                    results[probe.id] = again
                    retried.append(probe.id)
                busy = [p for p in selected if rerun_starved and timing_failure_on_a_busy_machine(p, results[p.id])]
                for probe in busy:
                    starved_run = results[probe.id]
                    again = run_probe(ctx, probe, cancel)
                    again.reason = f"{again.reason} ({busy_note(starved_run)})"[:2_000]
                    results[probe.id] = again
                    retried.append(probe.id)
            except GradingCancelled:
                done, total = len(results), len(selected)
                raise GradingCancelled(f"stopped after {done} of {total} probes", done, total) from None
    finally:
        if own_executor:
            executor.close()
        elif (release := getattr(executor, "release", None)) is not None:
            release(submission)  # a shared executor's warm boxes for this submission are done
    return GradeReport(
        exercise=exercise.slug,
        version=exercise.version,
        executor=getattr(executor, "name", type(executor).__name__),
        sandboxed=bool(getattr(executor, "sandboxed", False)),
        outcomes=[results[p.id] for p in selected],
        wall_s=time.monotonic() - started,
        retried_alone=retried,
    )
