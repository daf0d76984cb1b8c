"""Server time of the reviewer queue and a review page with 2,000 submissions and 50,000 probe results.

Builds a throwaway test database (Django's test-database machinery, a file of its own under var/),
fills it with bulk inserts, then requests each page N times with the Django test client and
prints the median and p90 server time in ms and the number of queries per request.

    .venv/bin/python bench/bench_review_pages.py [--submissions 2000] [--results 50000] [--runs 15]

Goal: < 300 ms per page at full size. Also the review page of a flooding submission (every one of
42 probes sent 1,600 requests, which the grader counts and bounds): goal < 1 s and bounded HTML.
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
    args = parser.parse_args()

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        started = time.perf_counter()
        reviewer, review, n_results, n_submissions = _build(args.submissions, args.results)
        print(f"built {n_submissions} submissions, {n_results} probe results in {time.perf_counter() - started:.1f} s")
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
