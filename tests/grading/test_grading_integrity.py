"""A candidate's code can move its grade only by answering well: each attack of the integrity
report, played through the portal's upload, a real Celery worker and the real bubblewrap sandbox.

The exercise is ``helpdesk-lite``: eight of help-desk-answerer's own probes, several of which read
the recorded request bodies. The baseline is the unchanged starter kit; each attack is the same
starter kit plus a module that tries to bend the grade. Every attacked run must end ``done`` with
no infrastructure error and a pass rate no higher than the baseline's.
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assessments.models import GradingRun
from assessments.services import assessment_create
from candidates.services import candidate_get_or_create, invitation_create, invitation_start
from core.models import AuditEvent
from grader.package import load_package
from rubrics.models import Review, Rubric
from rubrics.services import review_assign
from tests.builders import make_zip, unchecked_pyc, zip_folder
from tests.workers import WorkerProcess, graded_by_the_worker, wait_for
from workflows.exercises import exercise_sync
from workflows.uploads import submission_upload

pytestmark = [pytest.mark.worker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LITE = ROOT / "tests" / "fixtures" / "exercises" / "helpdesk-lite"
STARTER = ROOT / "exercises" / "helpdesk-answerer" / "starter"
RUNTIME_PYTHON = str(ROOT / "var" / "sandbox-runtime" / "bin" / "python")

WRAPPER = '''"""The starter kit's answer, with an attack before every call."""

from helpdesk import _attack
from helpdesk.answerer import answer as _answer


def answer(question):
    _attack.before_call()
    return _answer(question)
'''

# Finds the harness's result channel by walking the interpreter's objects (and its nonce by
# re-reading its own stdin) and tells the runner, at import and before every call, that the
# runtime is broken; during the calls, also that the import failed and that it is ready again.
FORGER = """
import gc, json, os


def _forge(*events):
    channels = [o for o in gc.get_objects() if type(o).__name__ == "_Channel" and hasattr(o, "emit")]
    try:
        with open("/proc/self/fd/0", "rb") as fh:
            nonce = json.loads(fh.read() or b"{}").get("nonce")
    except (OSError, ValueError):
        nonce = None
    for channel in channels:
        channel.emit("hello", pid=1, python="3")
        channel.emit("preloaded", seconds=0.1, missing=["anthropic: broken (forged by the submission)"])
        for event in events:
            channel.emit(event, error="forged")
        line = {"ev": "preloaded", "nonce": nonce or channel.nonce, "missing": ["pydantic: forged"]}
        os.write(channel.fd, (json.dumps(line) + "\\n").encode())


_forge()


def before_call():
    _forge("import_error", "ready", "hello")
"""

# Sends the fake model bodies of the wrong shape, which the hidden checks used to trust.
POISONER = """
import json, os, socket
from urllib.parse import urlsplit

BODIES = [
    {"model": "m", "max_tokens": 5, "messages": 5},
    {"model": "m", "max_tokens": 5, "messages": True},
    {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [7]}], "system": 3},
    {"model": {"x": 1}, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
]


def before_call():
    url = urlsplit(os.environ["ANTHROPIC_BASE_URL"])
    for body in BODIES:
        raw = json.dumps(body).encode()
        head = (
            f"POST {url.path}/v1/messages HTTP/1.1\\r\\nhost: model\\r\\n"
            f"x-api-key: {os.environ['ANTHROPIC_API_KEY']}\\r\\ncontent-length: {len(raw)}\\r\\n"
            "x-stainless-read-timeout: nan\\r\\nconnection: close\\r\\n\\r\\n"
        )
        try:
            with socket.create_connection((url.hostname, url.port or 80), timeout=5) as sock:
                sock.sendall(head.encode() + raw)
                while sock.recv(65536):
                    pass
        except OSError:
            pass
"""

# Sends requests back to back, as fast as it can, before every call (the report's 466 MB run).
FLOODER = """
import json, os, socket, time
from urllib.parse import urlsplit

BODY = json.dumps({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}).encode()


def _burst(url, count):
    head = (
        f"POST {url.path}/v1/messages HTTP/1.1\\r\\nhost: model\\r\\n"
        f"x-api-key: {os.environ['ANTHROPIC_API_KEY']}\\r\\ncontent-length: {len(BODY)}\\r\\n\\r\\n"
    ).encode()
    refused = 0
    with socket.create_connection((url.hostname, url.port or 80), timeout=5) as sock:
        sock.sendall((head + BODY) * count)
        received = b""
        while chunk := sock.recv(1 << 20):
            received += chunk
            if received.count(b"HTTP/1.1 ") >= count:
                break
        refused = received.count(b"Too many requests")
    return refused


def before_call():
    url = urlsplit(os.environ["ANTHROPIC_BASE_URL"])
    stop, refused = time.monotonic() + 6, 0
    while time.monotonic() < stop and refused < 200:
        try:
            refused += _burst(url, 100)
        except OSError:
            pass
"""

# The source a reviewer reads is the starter kit's; the compiled pyc beside it would have
# rejected empty questions (which the starter kit does not) and so passed one more probe.
PYC_SOURCE = '''"""Looks like the starter kit's, but this is what the pyc holds."""

from helpdesk.answerer import answer as _answer


def answer(question):
    if not question.strip():
        return {"status": "rejected", "answer": "", "citations": []}
    return _answer(question)
'''


def _attacked(attack: str) -> bytes:
    return zip_folder(STARTER, extra={"helpdesk/__init__.py": WRAPPER, "helpdesk/_attack.py": attack})


def _with_pyc() -> bytes:
    name, pyc = unchecked_pyc(PYC_SOURCE, python=RUNTIME_PYTHON)
    return zip_folder(STARTER, extra={f"helpdesk/__pycache__/{name}": pyc})


@pytest.fixture
def lite(manager):
    exercise, _ = exercise_sync(package=load_package(LITE))
    return assessment_create(
        owner=manager,
        title="Integrity",
        exercise=exercise,
        rubric=Rubric.objects.get(slug=exercise.rubric_slug),
        closes_at=timezone.now() + timezone.timedelta(days=3),
    )


def _invitation(assessment, name: str):
    candidate = candidate_get_or_create(name=name, email=f"{name.lower()}@example.com")
    invitation, _ = invitation_create(assessment=assessment, candidate=candidate, invited_by=assessment.owner)
    invitation_start(invitation=invitation)
    return invitation


def _outcomes(run) -> dict[str, str]:
    return dict(run.results.values_list("probe_id", "outcome"))


def _rate(run) -> float:
    outcomes = list(_outcomes(run).values())
    return outcomes.count("pass") / len(outcomes)


def test_no_attack_moves_the_grade_and_each_leaves_its_trace(celery_worker, lite, client, reviewer):
    """The baseline and every attack, uploaded by five candidates at once and graded by the worker
    (one test: the worker's runs are the expensive part, and each check below reads them)."""
    archives = {
        "baseline": zip_folder(STARTER),
        "forger": _attacked(FORGER),
        "poisoner": _attacked(POISONER),
        "flooder": _attacked(FLOODER),
        "pyc": _with_pyc(),
    }
    submissions = {
        name: submission_upload(invitation=_invitation(lite, name.title()), archive=archive)
        for name, archive in archives.items()
    }
    runs = {name: graded_by_the_worker(submission, timeout=300) for name, submission in submissions.items()}

    baseline = runs["baseline"]
    assert baseline.state == GradingRun.DONE, baseline.infra_error
    assert 0 < _rate(baseline) < 1, _outcomes(baseline)  # room to gain and to lose
    for name in ("forger", "poisoner", "flooder", "pyc"):
        run = runs[name]
        assert run.state == GradingRun.DONE, (name, run.infra_error)
        outcomes = _outcomes(run)
        assert "error" not in outcomes.values(), (name, outcomes)
        assert _rate(run) <= _rate(baseline), (name, outcomes, _outcomes(baseline))

    for name in ("forger", "poisoner", "pyc"):  # nothing else about them differs from the baseline
        assert _outcomes(runs[name]) == _outcomes(baseline), name
    _forged_events_were_ignored(runs["forger"])
    _poisoned_requests_were_refused(runs["poisoner"])
    _the_visible_source_was_graded(runs["pyc"], baseline)
    _the_flood_failed_and_its_evidence_stayed_small(runs["flooder"], client, reviewer)


def _forged_events_were_ignored(run):
    processes = [r.evidence.get("process", "") for r in run.results.all()]
    assert all("out of turn ignored" in p for p in processes), processes


def _poisoned_requests_were_refused(run):
    requests = [q for r in run.results.all() for q in r.evidence["requests"]]
    refused = [q for q in requests if q.get("invalid")]
    assert refused and all(q["status"] == 400 for q in refused)
    assert {q["invalid"] for q in refused} >= {"messages: Field required", "model: Field required"}


def _the_visible_source_was_graded(run, baseline):
    assert _outcomes(run) == _outcomes(baseline)
    assert _outcomes(run)["input-empty"] == "fail"  # what the pyc would have passed
    ignored = [f["path"] for f in run.submission.ignored_files]
    assert ignored and all("/__pycache__/" in path for path in ignored), ignored


def _the_flood_failed_and_its_evidence_stayed_small(run, client, reviewer):
    results = list(run.results.all())
    flooded = [r for r in results if "request flood" in r.reason]
    assert flooded, [(r.probe_id, r.outcome, r.reason) for r in results]
    assert all(r.outcome == "fail" for r in flooded)
    assert max(r.evidence["requests_total"] for r in flooded) > 1000  # counted, not stored
    sizes = [len(json.dumps(r.evidence)) for r in results]
    assert max(sizes) < 400_000 and sum(sizes) < 4 * 1024 * 1024, sizes

    # The review page of the flooding run: bounded HTML and a bounded number of queries (its
    # time is measured by bench/bench_review_pages.py, not here).
    review = Review.objects.filter(submission=run.submission).first() or review_assign(
        submission=run.submission, reviewer=reviewer
    )
    client.force_login(review.reviewer)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("rubrics:review", args=[review.pk]))
    assert response.status_code == 200
    assert len(response.content) < 1_500_000, len(response.content)
    assert len(queries) < 40, len(queries)
    assert "request flood" in response.content.decode()


def test_a_newer_upload_stops_the_older_grading_within_seconds(celery_worker, lite):
    from tests.grading.test_grading_worker import _sandbox_user_processes

    invitation = _invitation(lite, "Resubmitter")
    slow = make_zip({"helpdesk/__init__.py": "import time\n\ndef answer(q):\n    time.sleep(18)\n"})
    first = submission_upload(invitation=invitation, archive=slow)
    older = first.grading_runs.get()
    wait_for(
        lambda: (
            GradingRun.objects.filter(pk=older.pk, state=GradingRun.RUNNING).exists()
            and _sandbox_user_processes(celery_worker.proc.pid, probes_only=True)
        ),
        timeout=120,
        interval=0.2,
        message="the first upload's boxes to be running",
    )
    running = _sandbox_user_processes(celery_worker.proc.pid, probes_only=True)

    broken = make_zip({"helpdesk/__init__.py": "raise ImportError('not this time')\n"})
    uploaded_at = time.monotonic()
    second = submission_upload(invitation=invitation, archive=broken)

    older.refresh_from_db()
    assert older.state == GradingRun.SUPERSEDED
    stopped = wait_for(
        lambda: AuditEvent.objects.filter(action="grading.stopped", target_id=str(older.pk)).first(),
        timeout=15,
        interval=0.2,
        message="the worker to stop the superseded grading",
    )
    assert time.monotonic() - uploaded_at < 10
    assert stopped.data["probes_finished"] < stopped.data["probes_total"]
    # No process of the older upload outlived the stop: its calls sleep 18 s, and none is left.
    wait_for(
        lambda: not [pid for pid in running if Path(f"/proc/{pid}").exists()],
        timeout=5,
        interval=0.1,
        message="the older upload's processes to be killed",
    )
    assert time.monotonic() - uploaded_at < 18
    newer = graded_by_the_worker(second, timeout=180)
    assert newer.state == GradingRun.DONE
    assert not _sandbox_user_processes(celery_worker.proc.pid)
    assert older.results.count() == 0


ECHO = "def answer(question):\n    return {'status': 'answered', 'answer': question, 'citations': []}\n"


# --- An honest infrastructure fault is still ours: retried, then shown to staff -------------------

BROKEN_BWRAP = """#!/bin/sh
# Answers like bubblewrap when asked its version, and can start no box at all.
[ "$1" = --version ] && { echo "bubblewrap 0.8.0"; exit 0; }
echo "bwrap: Creating new namespace failed: Operation not permitted" >&2
exit 1
"""


def _runtime_without_modules(folder: Path) -> Path:
    """A Python for the box with neither anthropic nor pydantic: the runtime is incomplete."""
    subprocess.run([RUNTIME_PYTHON, "-m", "venv", "--without-pip", str(folder)], check=True)
    folder.chmod(0o755)
    return folder


def _broken_bwrap(path: Path) -> Path:
    path.write_text(BROKEN_BWRAP)
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("runtime without modules", "the runtime lacks modules: anthropic"),
        ("box cannot start", "could not be launched"),
    ],
)
def test_an_honest_infrastructure_fault_is_retried_then_shown_to_staff(
    _celery_worker_session, transactional_db, invitation, client, manager, fault, said
):
    scratch = ROOT / "var" / f"test-broken-{os.getpid()}-{time.monotonic_ns()}"
    scratch.mkdir(parents=True)
    scratch.chmod(0o755)
    # The fault comes after the worker proved it could grade (a runtime broken under a running worker):
    # its self-check would otherwise keep it from taking the grading at all (tests/core/test_worker_self_check.py).
    env = {"GRADING_RETRY_DELAY_S": "1", "GRADING_SELF_CHECK": "0"}
    if fault == "runtime without modules":
        env["SANDBOX_RUNTIME_DIR"] = str(_runtime_without_modules(scratch / "runtime"))
    else:
        env["SANDBOX_BWRAP"] = str(_broken_bwrap(scratch / "bwrap"))
    invitation_start(invitation=invitation)
    try:
        with _celery_worker_session.paused():
            worker = WorkerProcess(extra_env=env).start()
            try:
                submission = submission_upload(invitation=invitation, archive=make_zip({"echo/__init__.py": ECHO}))
                run = graded_by_the_worker(submission, timeout=180)
                # The worker tells the manager right after the last attempt is recorded: let it finish.
                told = wait_for(
                    lambda: AuditEvent.objects.filter(action="grading.manager_told", target_id=str(run.pk)).first(),
                    timeout=30,
                    message="the manager's email about the failed grading",
                )
            finally:
                worker.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    # Ours, every time: three attempts, each probe also tried again alone, and nothing stored.
    assert run.state == GradingRun.FAILED_INFRA
    assert run.attempt == GradingRun.MAX_ATTEMPTS
    assert said in run.infra_error and "could not be judged on our side" in run.infra_error, run.infra_error
    assert "also when run again alone" in run.infra_error
    assert run.results.count() == 0
    actions = list(AuditEvent.objects.filter(target_id=str(run.pk)).values_list("action", flat=True))
    assert actions.count("grading.queued") == 2 and actions.count("grading.failed_infra") == 1, actions

    # Staff see it, with the reason, and can send it back; the candidate is told it is on our side.
    client.force_login(manager)
    page = client.get(reverse("assessments:detail", args=[invitation.assessment.pk])).content.decode()
    assert "Failed (infrastructure)" in page and "Grade again" in page and said in page
    dashboard = client.get(reverse("assessments:dashboard")).content.decode()
    assert "Uploads we could not check" in dashboard and said in dashboard
    # The worker told the manager (its email went through the worker's own mail backend).
    assert told.data == {"to": manager.email}
