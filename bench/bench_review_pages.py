"""Server time of the reviewer queue and a review page with 2,000 submissions and 50,000 probe results.

Builds a throwaway test database (Django's test-database machinery, a file of its own under var/),
fills it with bulk inserts, then requests each page N times with the Django test client and
prints the median and p90 server time in ms and the number of queries per request.

    .venv/bin/python bench/bench_review_pages.py [--submissions 2000] [--results 50000] [--runs 15]

Goal: < 300 ms per page at full size. Also the review page of a flooding submission (every one of
42 probes sent 1,600 requests, which the grader counts and bounds): goal < 1 s and bounded HTML.

The reviewer's workspace (issue #20, point 15): a review of 40 probes holding 3,000 model requests
of evidence, a realistic upload (own files, tool folders, removed starter files). Printed: the HTML
bytes and warm server time of the page as it first loads, and of each part it fetches on demand
(code, diff, a passing probe's details); then sign-in to the reviewer's dashboard with the
production password hasher, split into the hash, the sign-in POST and the dashboard GET.
Goal: the page < 300 ms warm and <= 100 KB of HTML before the code and the diff are opened.

    .venv/bin/python bench/bench_review_pages.py --workspace-only   # the workspace and sign-in only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
os.environ["TEST_RUN_ID"] = f"bench-{os.getpid()}"

import django

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def _build(n_submissions: int, n_results: int):
    from assessments.models import GradingRun, ProbeResult
    from assessments.services import assessment_create
    from candidates.models import Candidate, Invitation, StoredArchive, Submission
    from core.roles import REVIEWERS, ensure_role_groups
    from grader.package import load_package
    from rubrics.models import Review, Rubric
    from tests.builders import DEFAULT_FILES, evidence, make_zip
    from workflows.exercises import exercise_sync

    ensure_role_groups()
    manager = User.objects.create_user("alice")
    reviewer = User.objects.create_user("bob")
    reviewer2 = User.objects.create_user("carol")
    for user in (reviewer, reviewer2):
        user.groups.add(Group.objects.get(name=REVIEWERS))
    exercise, _ = exercise_sync(package=load_package(FIXTURES / "exercises" / "tiny-echo"))
    assessment = assessment_create(
        owner=manager,
        title="Bench",
        exercise=exercise,
        rubric=Rubric.objects.get(slug=exercise.rubric_slug),
        closes_at=timezone.now() + timedelta(days=30),
    )
    now = timezone.now()
    candidates = Candidate.objects.bulk_create(
        Candidate(name=f"Candidate {i}", email=f"c{i}@example.com") for i in range(n_submissions)
    )
    invitations = Invitation.objects.bulk_create(
        Invitation(
            assessment=assessment,
            candidate=c,
            token_hash=hashlib.sha256(f"t{i}".encode()).hexdigest(),
            pseudonym=f"{i:04X}",
            state=Invitation.GRADED,
            expires_at=now + timedelta(days=7),
        )
        for i, c in enumerate(candidates)
    )
    archive = make_zip(DEFAULT_FILES)
    sha = hashlib.sha256(archive).hexdigest()
    submissions = Submission.objects.bulk_create(
        Submission(
            invitation=inv,
            number=1,
            sha256=sha,
            size_bytes=len(archive),
            notes=DEFAULT_FILES["NOTES.md"],
            exercise_version=exercise.version,
        )
        for i, inv in enumerate(invitations)
    )
    target = submissions[-1]
    StoredArchive.objects.create(submission=target, data=archive)
    runs = GradingRun.objects.bulk_create(
        GradingRun(submission=s, state=GradingRun.DONE, exercise=exercise, finished_at=now) for s in submissions
    )
    per_run = max(1, n_results // len(runs))
    modes = ["grounding", "injection", "transient", "output", "input", "load", "cost"]
    batch = []
    for run in runs:
        for j in range(per_run):
            outcome = ("pass", "fail", "pass", "error")[j % 4]
            batch.append(
                ProbeResult(
                    run=run,
                    probe_id=f"probe-{j}",
                    failure_mode=modes[j % len(modes)],
                    outcome=outcome,
                    reason=f"{outcome}: bench",
                    evidence=evidence(gap_s=1.2 if j % 3 else 0, stall=outcome == "fail"),
                    duration_s=1.0,
                )
            )
        if len(batch) >= 5000:
            ProbeResult.objects.bulk_create(batch)
            batch = []
    ProbeResult.objects.bulk_create(batch)
    Review.objects.bulk_create(
        [Review(submission=s, reviewer=reviewer, assigned_at=now) for s in submissions]
        + [Review(submission=s, reviewer=reviewer2, assigned_at=now) for s in submissions]
    )
    review = Review.objects.get(submission=target, reviewer=reviewer)
    return reviewer, review, ProbeResult.objects.count(), Submission.objects.count()


def _flood_evidence(requests: int = 1600) -> dict:
    """One probe's evidence as the grader stores it after a flood: real fake-model records, bounded."""
    import socket

    from grader.fakemodel import FakeModel
    from grader.probe import CallResult, Evidence

    body = json.dumps({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}).encode()
    head = f"POST /v1/messages HTTP/1.1\r\nhost: m\r\nx-api-key: k\r\ncontent-length: {len(body)}\r\n".encode()
    keep, last = head + b"\r\n" + body, head + b"connection: close\r\n\r\n" + body
    fake = FakeModel(script="ok").start()
    try:
        sent = 0
        while sent < requests:
            with socket.create_connection((fake.host, fake.port)) as sock:
                sock.sendall(keep * 99 + last)  # the server closes after the last (or after the cap)
                while sock.recv(1 << 20):
                    pass
            sent += 100
        fake.wait_idle(5)
        records, flood = fake.requests, fake.flood
    finally:
        fake.stop()
    call = CallResult(0, "How do I export my invoices?", "returned", {"keys": [], "status": "unknown", "answer": ""})
    return Evidence("flood", (call.question,), [call], records, 4, 6.0, 20.0, flood=flood).to_json()


def _flooded_review(reviewer, assessment_id: int, probes: int = 42):
    from assessments.grading.engine import MAX_RUN_EVIDENCE_BYTES, _bound_run_evidence
    from assessments.models import Assessment, GradingRun, ProbeResult
    from candidates.models import Candidate, Invitation, StoredArchive, Submission
    from rubrics.models import Review
    from tests.builders import DEFAULT_FILES, make_zip

    one = _flood_evidence()
    evidences = [{**one, "probe_id": f"probe-{j}", "description": "A probe."} for j in range(probes)]
    _bound_run_evidence(evidences, MAX_RUN_EVIDENCE_BYTES)
    assessment = Assessment.objects.get(pk=assessment_id)
    candidate = Candidate.objects.create(name="Flooder", email="flood@example.com")
    invitation = Invitation.objects.create(
        assessment=assessment,
        candidate=candidate,
        token_hash=hashlib.sha256(b"flood").hexdigest(),
        pseudonym="F100D",
        state=Invitation.GRADED,
        expires_at=timezone.now() + timedelta(days=7),
    )
    archive = make_zip(DEFAULT_FILES)
    submission = Submission(
        invitation=invitation,
        number=1,
        sha256=hashlib.sha256(archive).hexdigest(),
        size_bytes=len(archive),
        exercise_version=assessment.exercise.version,
    )
    StoredArchive.objects.create(submission=submission, data=archive)
    run = GradingRun.objects.create(submission=submission, state=GradingRun.DONE, exercise=assessment.exercise)
    modes = ["grounding", "injection", "transient", "output", "input", "load", "cost"]
    ProbeResult.objects.bulk_create(
        ProbeResult(
            run=run,
            probe_id=e["probe_id"],
            failure_mode=modes[j % len(modes)],
            outcome="fail",
            reason="a request flood: 1,600 requests reached the model in this probe",
            evidence=e,
            duration_s=6.0,
        )
        for j, e in enumerate(evidences)
    )
    stored = sum(len(_json_dumps(e)) for e in evidences)
    return Review.objects.create(submission=submission, reviewer=reviewer, assigned_at=timezone.now()), stored


def _workspace_review(reviewer, assessment_id: int, probes: int = 40, requests: int = 3000):
    """A review of ``probes`` probes whose evidence holds ``requests`` model requests in all, and a
    realistic upload: the candidate's own files, a vendored tool folder, starter files removed."""
    from assessments.models import Assessment, GradingRun, ProbeResult
    from candidates.models import Candidate, Invitation, StoredArchive, Submission
    from rubrics.models import Review
    from tests.builders import DEFAULT_FILES, evidence, make_zip

    assessment = Assessment.objects.get(pk=assessment_id)
    candidate = Candidate.objects.create(name="Workspace", email="workspace@example.com")
    invitation = Invitation.objects.create(
        assessment=assessment,
        candidate=candidate,
        token_hash=hashlib.sha256(b"workspace").hexdigest(),
        pseudonym="W0RK",
        state=Invitation.GRADED,
        expires_at=timezone.now() + timedelta(days=7),
    )
    files = dict(DEFAULT_FILES)
    body = "".join(f"def handler_{i}(event):\n    return {{'n': {i}, 'ok': event.get('ok')}}\n\n" for i in range(200))
    files["echo/model.py"] = body
    files["echo/helpers.py"] = body.replace("handler", "helper")
    for i in range(3):  # the exercise allows 10 files
        files[f".venv/lib/pkg/module_{i}.py"] = body[:4000]
    archive = make_zip(files)
    submission = Submission.objects.create(
        invitation=invitation,
        number=1,
        sha256=hashlib.sha256(archive).hexdigest(),
        size_bytes=len(archive),
        notes=DEFAULT_FILES["NOTES.md"],
        exercise_version=assessment.exercise.version,
    )
    StoredArchive.objects.create(submission=submission, data=archive)
    run = GradingRun.objects.create(
        submission=submission, state=GradingRun.DONE, exercise=assessment.exercise, finished_at=timezone.now()
    )
    modes = ["grounding", "injection", "transient", "output", "input", "load", "cost"]
    per_probe = requests // probes
    results = []
    for j in range(probes):
        outcome = "fail" if j % 5 == 0 else ("error" if j % 17 == 0 else "pass")
        statuses = tuple((429, 200, 200, 500)[k % 4] for k in range(per_probe))
        results.append(
            ProbeResult(
                run=run,
                probe_id=f"probe-{j:02d}",
                failure_mode=modes[j % len(modes)],
                outcome=outcome,
                reason=f"{outcome}: {per_probe} requests reached the model",
                evidence=evidence(statuses=statuses, gap_s=0.2, stall=outcome == "fail"),
                duration_s=2.0,
            )
        )
    ProbeResult.objects.bulk_create(results)
    stored = sum(len(r.evidence["requests"]) for r in results)
    return Review.objects.create(submission=submission, reviewer=reviewer, assigned_at=timezone.now()), stored


def _fragment_urls(page_html: str) -> dict[str, str]:
    """The parts the review page fetches on demand, as the page itself names them (hx-get)."""
    import re

    found: dict[str, str] = {}
    for name, pattern in (
        ("code pane", r'id="code-pane"[^>]*hx-get="([^"]+)"'),
        ("diff", r'id="diff-pane"[^>]*hx-get="([^"]+)"'),
        ("a passing probe's details", r'<details class="probe probe-pass"[^>]*hx-get="([^"]+)"'),
        ("a failing probe past the inline budget", r'<details class="probe probe-fail" [^>]*open hx-get="([^"]+)"'),
        ("a failing probe's request table", r'<details class="requests"[^>]*hx-get="([^"]+)"'),
    ):
        match = re.search(pattern, page_html)
        if match:
            found[name] = match.group(1).replace("&amp;", "&")
    return found


def _bench_workspace(reviewer, assessment_id: int, runs: int) -> None:
    review, stored = _workspace_review(reviewer, assessment_id)
    client = Client()
    client.force_login(reviewer)
    url = reverse("rubrics:review", args=[review.pk])
    html = client.get(url).content.decode()
    if os.environ.get("BENCH_DUMP"):
        Path(os.environ["BENCH_DUMP"]).write_text(html)
    print(f"\nworkspace: 40 probes, {stored:,} model requests of evidence")
    print(f"{'part':40} {'HTML KB':>8} {'median ms':>10} {'p90 ms':>8} {'queries':>8}")
    parts = {"review page, first load": url}
    for name, fragment in _fragment_urls(html).items():
        parts[name] = fragment if fragment.startswith("/") else url + fragment
    for name, part_url in parts.items():
        headers = {} if part_url == url else {"HTTP_HX_REQUEST": "true"}
        size = len(client.get(part_url, **headers).content)
        client.get(part_url, **headers)
        median, p90, queries = _time_with(client, part_url, runs, headers)
        print(f"{name:40} {size / 1024:8.1f} {median:10.1f} {p90:8.1f} {queries:8d}")
    timelines = html.count('<svg class="timeline')
    print(f"SVG text labels on first load: {html.count('<text ')}; timelines drawn: {timelines}")


def _time_with(client: Client, url: str, runs: int, headers: dict[str, str]) -> tuple[float, float, int]:
    timings, queries = [], 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url, **headers)
            timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(captured.captured_queries)
    timings.sort()
    return statistics.median(timings), timings[int(0.9 * (len(timings) - 1))], queries


def _bench_login(reviewer, runs: int) -> None:
    """Sign-in as deployed: the production hasher (the test settings swap in MD5)."""
    from django.contrib.auth.hashers import make_password
    from django.test import override_settings

    import config.settings as production

    with override_settings(PASSWORD_HASHERS=production.PASSWORD_HASHERS):
        reviewer.set_password("correct horse battery")
        reviewer.save(update_fields=["password"])
        started = time.perf_counter()
        make_password("correct horse battery")
        hash_ms = (time.perf_counter() - started) * 1000
        posts, dashboards = [], []
        for _ in range(max(3, runs // 3)):
            client = Client()
            client.get(reverse("login"))
            started = time.perf_counter()
            form = {"username": reviewer.username, "password": "correct horse battery"}
            response = client.post(reverse("login"), form)
            posts.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 302, response.status_code
            started = time.perf_counter()
            response = client.get(response["Location"])
            dashboards.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
    print(f"\nsign-in (production hasher): one password hash {hash_ms:.0f} ms")
    post, dashboard = statistics.median(posts), statistics.median(dashboards)
    print(f"  POST /login/ median {post:.0f} ms; then GET the dashboard median {dashboard:.0f} ms")


def _json_dumps(value) -> str:
    return json.dumps(value)


def _time(client: Client, url: str, runs: int) -> tuple[float, float, int]:
    client.get(url)  # warm up
    timings, queries = [], 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(captured.captured_queries)
    timings.sort()
    return statistics.median(timings), timings[int(0.9 * (len(timings) - 1))], queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=2000)
    parser.add_argument("--results", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--workspace-only", action="store_true", help="only the 40-probe workspace and sign-in")
    args = parser.parse_args()
    if args.workspace_only:
        args.submissions, args.results = 2, 2

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        started = time.perf_counter()
        reviewer, review, n_results, n_submissions = _build(args.submissions, args.results)
        print(f"built {n_submissions} submissions, {n_results} probe results in {time.perf_counter() - started:.1f} s")
        _bench_workspace(reviewer, review.submission.invitation.assessment_id, args.runs)
        _bench_login(reviewer, args.runs)
        if args.workspace_only:
            return
        client = Client()
        client.force_login(reviewer)
        pages = {
            "queue (page 1 of 2000 reviews)": reverse("rubrics:queue"),
            "queue filtered (to do)": reverse("rubrics:queue") + "?state=assigned",
            f"review page ({review.submission.grading_runs.get().results.count()} probes, code, diff)": reverse(
                "rubrics:review", args=[review.pk]
            ),
        }
        flooded, stored = _flooded_review(reviewer, review.submission.invitation.assessment_id)
        flood_url = reverse("rubrics:review", args=[flooded.pk])
        pages["review page of a flood (42 probes x 1,600 requests)"] = flood_url
        print(f"{'page':55} {'median ms':>10} {'p90 ms':>8} {'queries':>8}")
        for name, url in pages.items():
            median, p90, queries = _time(client, url, args.runs)
            print(f"{name:55} {median:10.1f} {p90:8.1f} {queries:8d}")
        html = client.get(flood_url).content
        print(
            f"flood: {stored / 1024:.0f} KB of evidence stored for the run, review page HTML {len(html) / 1024:.0f} KB"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
