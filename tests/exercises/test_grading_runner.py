"""The probe runner, harness and executors against small hostile submissions (2 s call limit).

What a candidate's code does wrong is a ``fail`` with a reason; what goes wrong on our side is an
``error``; a submission cannot forge results or outlive its probe.
"""

import json
import os
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from grader.executors import ExecutorError, ForkServerExecutor, SubprocessExecutor
from grader.harness import plain
from grader.package import Contract, ExercisePackage, FailureMode
from grader.probe import Probe, Verdict
from grader.runner import Exercise, _Context, run_probe
from tests.builders import echo_shadowed_by_a_pyc

CALL_LIMIT = 2.0
HELPDESK_OUTPUT = {
    "type": "object",
    "required": ["status", "answer", "citations"],
    "properties": {
        "status": {"enum": ["answered", "unknown", "unavailable", "rejected"]},
        "answer": {"type": "string"},
        "citations": {"type": "array", "items": {"type": "string"}},
    },
}
TINY_ECHO = Path(__file__).resolve().parents[1] / "fixtures" / "exercises" / "tiny-echo"


@pytest.fixture(scope="module")
def forkserver():
    executor = ForkServerExecutor(preload=())
    executor.start()
    yield executor
    executor.close()


@pytest.fixture(params=["subprocess", "forkserver"])
def executor(request, forkserver):
    return SubprocessExecutor() if request.param == "subprocess" else forkserver


def _submission(tmp_path: Path, body: str) -> Path:
    package = tmp_path / "submission" / "helpdesk"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(body))
    return package.parent


def _run(tmp_path, executor, body, *, questions=("q",), threads=1, responder=None, prepare=None, check=None):
    seen = {}

    def keep(evidence):
        seen["evidence"] = evidence
        return check(evidence) if check else Verdict(True, "kept")

    module = SimpleNamespace(
        make_responder=responder or (lambda probe: lambda body, rng: "hello"),
        prepare=prepare or (lambda probe, work_dir: {"HELPDESK_DOCS_DIR": str(work_dir)}),
    )
    probe = Probe("p", "input", "a probe", "ok", tuple(questions), keep, threads=threads)
    package = ExercisePackage(
        path=tmp_path,
        slug="t",
        title="t",
        version="0",
        summary="",
        time_limit_minutes=60,
        rubric_slug="t",
        contract=Contract("helpdesk:answer", {"type": "string"}, HELPDESK_OUTPUT, CALL_LIMIT, 32),
        failure_modes=(FailureMode("input", "Input", "hint", "description"),),
    )
    exercise = Exercise(package, [probe], module, preload=())
    scratch = tmp_path / "runs"
    scratch.mkdir(parents=True, exist_ok=True)
    outcome = run_probe(_Context(exercise, _submission(tmp_path, body), executor, scratch), probe)
    return outcome, seen.get("evidence")


def test_it_records_what_answer_returned_and_how_long_it_took(tmp_path, executor):
    outcome, evidence = _run(
        tmp_path,
        executor,
        """
        import os
        def answer(q):
            return {"status": "answered", "answer": q.upper() + os.environ["ANTHROPIC_API_KEY"][:6], "citations": ["a"]}
        """,
        questions=("one", "two"),
    )

    assert outcome.outcome == "pass"
    assert [c.value["answer"] for c in evidence.calls] == ["ONEsk-ant", "TWOsk-ant"]
    assert all(c.outcome == "returned" and c.duration_s < 1 for c in evidence.calls)


def test_a_responder_that_raises_is_the_packages_bug_never_the_candidates(tmp_path, forkserver):
    def broken(probe):
        def respond(body, rng):
            raise KeyError("a responder bug")

        return respond

    outcome, evidence = _run(
        tmp_path,
        forkserver,
        """
        import json, os, urllib.request
        def answer(q):
            request = urllib.request.Request(
                os.environ["ANTHROPIC_BASE_URL"] + "/v1/messages",
                data=json.dumps({"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": q}]}).encode(),
                headers={"content-type": "application/json", "x-api-key": "k", "anthropic-version": "2023-06-01"},
            )
            try:
                urllib.request.urlopen(request, timeout=5)
            except Exception:
                pass
            return {"status": "unavailable", "answer": "", "citations": []}
        """,
        responder=broken,
    )

    assert outcome.outcome == "error"
    assert outcome.reason == "the exercise's responder failed on request 0 (a bug in the package)"
    assert evidence is None  # no check ran: the outcome is the platform's
    assert [r["fault"] for r in outcome.evidence["requests"]] == ["responder_error"]


def test_it_gives_the_candidate_only_the_contract_environment(tmp_path, executor):
    os.environ["GRADING_TEST_SECRET"] = "do-not-leak"
    try:
        _, evidence = _run(
            tmp_path,
            executor,
            """
            import os
            def answer(q):
                return {"status": "unknown", "answer": ",".join(sorted(os.environ)), "citations": []}
            """,
        )
    finally:
        del os.environ["GRADING_TEST_SECRET"]

    names = set(evidence.calls[0].value["answer"].split(",")) - {"LC_CTYPE"}  # Python's own locale coercion
    assert names == {"ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "HELPDESK_DOCS_DIR", "PYTHONPATH"}


def test_a_raising_answer_is_the_candidates_failure(tmp_path, executor):
    outcome, evidence = _run(
        tmp_path,
        executor,
        """
        def answer(q):
            raise KeyError("answer")
        """,
        check=lambda ev: Verdict(ev.calls[0].outcome == "returned", ev.calls[0].raised or ""),
    )

    assert outcome.outcome == "fail"
    assert evidence.calls[0].outcome == "raised"
    assert evidence.calls[0].raised == "KeyError: 'answer'"


def _gone(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_a_hanging_call_and_its_children_are_killed_at_the_limit(tmp_path, executor):
    shared = tmp_path / "shared"
    shared.mkdir()
    started = time.monotonic()
    outcome, evidence = _run(
        tmp_path,
        executor,
        """
        import os, subprocess, sys, time
        def answer(q):
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            with open(os.path.join(os.environ["HELPDESK_DOCS_DIR"], "child.pid"), "w") as fh:
                fh.write(str(child.pid))
            time.sleep(60)
        """,
        questions=("slow", "never asked"),
        prepare=lambda probe, work_dir: {"HELPDESK_DOCS_DIR": str(shared)},
        check=lambda ev: Verdict(False, ev.process),
    )

    assert time.monotonic() - started < CALL_LIMIT + 6
    assert [c.outcome for c in evidence.calls] == ["timed_out", "not_run"]
    assert "killed" in outcome.reason
    assert outcome.outcome == "fail"
    assert _gone(int((shared / "child.pid").read_text()))


def test_junk_and_forged_results_on_stdout_change_nothing(tmp_path, executor):
    _, evidence = _run(
        tmp_path,
        executor,
        """
        import sys
        print("garbage line")
        print('{"ev": "result", "i": 0, "outcome": "returned", "value": {"status": "answered"}}')
        def answer(q):
            sys.stdout.write('{"ev": "done"}\\n')
            return {"status": "unknown", "answer": "", "citations": []}
        """,
    )

    assert evidence.calls[0].value["status"] == "unknown"
    assert "garbage line" in evidence.stderr_tail


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("raise ImportError('no such thing')", "importing the entry point failed: ImportError: no such thing"),
        ("import os\nos._exit(3)", "the process died while importing the entry point"),
        ("import sys\nsys.exit(0)", "importing the entry point failed: SystemExit"),
        ("answer = 42", "importing the entry point failed: TypeError"),
    ],
)
def test_a_broken_import_is_the_candidates_failure(tmp_path, executor, body, expected):
    outcome, _ = _run(tmp_path, executor, body)

    assert outcome.outcome == "fail"
    assert outcome.reason.startswith(expected)


def test_what_a_call_returns_is_copied_into_plain_bounded_json():
    class Hostile(dict):
        def __getitem__(self, key):
            raise RuntimeError("boom")

        def get(self, key, default=None):
            raise RuntimeError("boom")

        def items(self):
            raise RuntimeError("boom")

    class Sneaky(str):
        def __str__(self):
            raise RuntimeError("boom")

    value, problems = plain(Hostile(status=Sneaky("answered"), answer="x" * 50, citations=["a", 3, {1, 2}]), 10)

    assert value == {"status": "answered", "answer": "x" * 10 + "…[truncated]", "citations": ["a", 3, None]}
    assert problems == ["$.citations[2]: a set, not a JSON value"]
    assert plain("a string") == ("a string", [])
    assert plain((1, 2.5, None, True)) == ([1, 2.5, None, True], [])
    assert plain({1: "a", "b": float("nan")})[1] == ["$: a key of type int, not str", "$.b: nan is not a JSON number"]
    assert plain(list(range(60)), max_items=50) == (list(range(50)), ["$: more than 50 items; the rest is cut"])
    deep: list = []
    for _ in range(30):
        deep = [deep]
    assert plain(deep)[1] == ["$" + "[0]" * 20 + ": nested more than 20 levels deep"]


def test_it_calls_from_many_threads_at_once(tmp_path, executor):
    _, evidence = _run(
        tmp_path,
        executor,
        """
        import threading, time
        seen = set()
        def answer(q):
            seen.add(threading.get_ident())
            time.sleep(0.3)
            return {"status": "unknown", "answer": str(len(seen)), "citations": []}
        """,
        questions=tuple(f"q{i}" for i in range(8)),
        threads=8,
    )

    assert all(c.outcome == "returned" for c in evidence.calls)
    assert max(c.observed_s for c in evidence.calls) < 1.5  # not one after another (8 x 0.3 s)


class _Broken:
    name, sandboxed = "broken", False

    def start(self):
        pass

    def launch(self, job):
        raise ExecutorError("no sandbox today")

    def close(self):
        pass


def test_our_faults_are_errors_never_failures(tmp_path):
    ok = """
    def answer(q):
        return {"status": "unknown", "answer": "", "citations": []}
    """

    def broken_responder(probe):
        raise RuntimeError("responder bug")

    def broken_check(evidence):
        raise ZeroDivisionError

    launched, _ = _run(tmp_path / "a", _Broken(), ok)
    no_fake, _ = _run(tmp_path / "b", SubprocessExecutor(), ok, responder=broken_responder)
    bad_check, _ = _run(tmp_path / "c", SubprocessExecutor(), ok, check=broken_check)
    no_python, _ = _run(tmp_path / "d", SubprocessExecutor(python="/nonexistent/python"), ok)

    assert launched.outcome == "error" and "no sandbox today" in launched.reason
    assert no_fake.outcome == "error" and "fake model could not start" in no_fake.reason
    assert bad_check.outcome == "error" and "the check raised (a platform bug)" in bad_check.reason
    assert no_python.outcome == "error"


def test_the_harness_ignores_a_pycache_beside_the_source_even_when_nothing_dropped_it(tmp_path):
    # A folder straight to the runner: no unpacking removed the pyc, so only the harness stands guard.
    from grader.runner import grade

    solution = tmp_path / "solution"
    echo_shadowed_by_a_pyc(solution, python=sys.executable)
    executor = ForkServerExecutor(preload=("anthropic",))
    try:
        report = grade(solution, TINY_ECHO, probe_ids=["echo-plain"], executor=executor)
    finally:
        executor.close()

    [outcome] = report.outcomes
    assert (outcome.outcome, outcome.reason) == ("pass", "echoed the question")


# --- The candidate shares the harness's process: what it writes on the channel --------------------


def _helpdesk_contract(evidence):
    """The help-desk probes' first check (each call returned a valid dict in time) as a verdict."""
    from tests.exercises.helpdesk import hidden

    reason = hidden("checks").contract(evidence)
    return Verdict(reason is None, reason or "kept the contract")


FORGER = """
import gc, json, os

def _channel():
    return next(o for o in gc.get_objects() if type(o).__name__ == "_Channel")

def _forge(*events):
    channel = _channel()
    for event in events:
        channel.emit(event, missing=["anthropic: forged"], error="forged", i=0)

_forge("hello", "preloaded")

def answer(q):
    _forge("preloaded", "hello", "import_error", "ready")
    return {"status": "unknown", "answer": "", "citations": []}
"""


def test_lifecycle_events_written_by_the_candidate_are_ignored_and_counted(tmp_path, executor):
    outcome, evidence = _run(tmp_path, executor, FORGER, questions=("one", "two"))

    assert outcome.outcome == "pass"  # judged on what it returned: the check here accepts anything
    assert [c.value["status"] for c in evidence.calls] == ["unknown", "unknown"]
    assert "out of turn ignored" in evidence.process


@pytest.mark.parametrize(
    "value",
    [
        {"status": 5, "answer": "x", "citations": [], "keys": []},
        {"status": "answered", "answer": {"nested": 1}, "citations": ["a"], "keys": []},
        {"status": "answered", "answer": "x", "citations": "a-string", "keys": []},
        {"status": "answered", "answer": "x", "citations": [["a"]], "keys": []},
        {"status": "answered", "answer": "x"},
        ["not", "a", "dict"],
    ],
)
def test_a_forged_result_in_another_shape_is_a_broken_contract_never_our_error(tmp_path, executor, value):
    forged = f"""
    import gc, json, os, threading
    VALUE = json.loads({json.dumps(json.dumps(value))})
    def answer(q):
        channel = next(o for o in gc.get_objects() if type(o).__name__ == "_Channel")
        channel.emit("result", i=0, outcome="returned", value=VALUE, problems=[], duration_s=float("nan"))
        return {{"status": "unknown", "answer": "", "citations": []}}
    """
    outcome, evidence = _run(tmp_path, executor, forged, check=_helpdesk_contract)

    call = evidence.calls[0]
    assert outcome.outcome == "fail", outcome.reason
    assert call.duration_s is None  # NaN is no duration
    assert call.problems  # the runner checked the forged value against the contract's output schema
