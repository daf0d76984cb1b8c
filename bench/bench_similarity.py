"""Similarity triage: time to compare one new submission with 2,000 stored ones (goal: < 2 s).

Builds a throwaway PostgreSQL database ``bench_similarity`` holding 2,000 graded-looking uploads of
the helpdesk take-home, each with stored fingerprints (candidates.CodeFingerprint) of its own
generated solution (tests/reports/similarity_solutions.py, about 900 fingerprints each, the size of
a real solution's). Then times ``submission_similarity_compute`` for one new upload (a renamed copy
of one stored solution): unpacking and fingerprinting it, the pass over every stored fingerprint,
the fragments of its best matches, and the writes. Median of ``--runs``.

    .venv/bin/python bench/bench_similarity.py [--stored 2000] [--runs 5] \
        [--postgres postgres://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_NAME = "bench_similarity"


def _fresh_database(postgres: str) -> None:
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_NAME}")
        conn.execute(f"CREATE DATABASE {PG_NAME}")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings_test"
    os.environ["DATABASE_URL"] = f"{postgres.rsplit('/', 1)[0]}/{PG_NAME}"
    import django

    django.setup()


def _build(stored: int):
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.utils import timezone

    from assessments.models import Assessment
    from candidates.models import Candidate, CodeFingerprint, Invitation, StoredArchive, Submission
    from candidates.similarity import exercise_prints
    from grader.package import load_package
    from rubrics.models import Rubric
    from tests.builders import make_zip
    from tests.reports.similarity_solutions import honest_solution, renamed_and_reordered
    from workflows.exercises import exercise_sync

    call_command("migrate", verbosity=0)
    manager = User.objects.create_user("bench-manager")
    exercise, _ = exercise_sync(package=load_package(ROOT / "exercises" / "helpdesk-answerer"))
    now = timezone.now()
    assessment = Assessment.objects.create(
        title="Bench", exercise=exercise, rubric=Rubric.objects.get(slug=exercise.rubric_slug),
        time_limit_minutes=240, closes_at=now + timedelta(days=30), owner=manager,
    )  # fmt: skip
    n = stored + 1
    candidates = Candidate.objects.bulk_create(
        Candidate(name=f"Bench #{i}", email=f"b{i}@example.com") for i in range(n)
    )
    invitations = Invitation.objects.bulk_create(
        Invitation(assessment=assessment, candidate=c, token_hash=f"{i:064x}", pseudonym=f"{i:04X}",
                   state=Invitation.GRADED, expires_at=now + timedelta(days=7))
        for i, c in enumerate(candidates)
    )  # fmt: skip
    # Most candidates' solutions are fingerprinted from a pool of 50 generated ones (each offset so
    # no two stored rows are the same set): the comparison's cost depends on sizes, not on content.
    prints = exercise_prints(exercise)
    pool = [prints.candidate_code(honest_solution(seed)) for seed in range(50)]
    copied = honest_solution(7)
    new_files = renamed_and_reordered(copied, seed=1)
    subs = Submission.objects.bulk_create(
        Submission(invitation=inv, number=1, sha256=f"{i:064x}", size_bytes=1, exercise_version=exercise.version)
        for i, inv in enumerate(invitations)
    )
    new = subs[-1]
    archive = make_zip(new_files)
    import hashlib

    Submission.objects.filter(pk=new.pk).update(sha256=hashlib.sha256(archive).hexdigest())
    StoredArchive.objects.create(submission=new, data=archive)
    rows = []
    for i, sub in enumerate(subs[:-1]):
        fp = pool[i % len(pool)]
        spans = dict(list(fp.spans.items())[i % 7 :])  # a few fingerprints fewer: a set of its own
        fp = type(fp)(files=fp.files, spans=spans)
        rows.append(
            CodeFingerprint(submission=sub, owner=manager, exercise_slug=exercise.slug, hashes=fp.packed(),
                            locations=fp.locations(), count=len(spans))
        )  # fmt: skip
    CodeFingerprint.objects.bulk_create(rows, batch_size=200)
    return new


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    _fresh_database(args.postgres)
    from candidates.models import CodeFingerprint, SimilarityMatch
    from candidates.similarity import submission_similarity_compute

    started = time.perf_counter()
    new = _build(args.stored)
    print(f"built {args.stored} stored fingerprints in {time.perf_counter() - started:.1f} s")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    times = []
    for run in range(args.runs):
        # Odd runs find the upload's fingerprints stored (as a task run twice would); even ones make them.
        if run and run % 2 == 0:
            CodeFingerprint.objects.filter(submission=new).delete()
        t0 = time.perf_counter()
        result = submission_similarity_compute(submission_id=new.pk)
        elapsed = time.perf_counter() - t0
        times.append(elapsed)
        print(f"run {run + 1}: {elapsed * 1000:.0f} ms, compared with {result.compared} stored fingerprints")
    best = SimilarityMatch.objects.filter(submission=new).order_by("-score").first()
    print(f"best match: score {best.score:.2f} ({best.kind}), {len(best.fragments)} fragments")
    median = statistics.median(times)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"median {median * 1000:.0f} ms for one new submission against {args.stored} stored: "
          f"goal < 2 s {'met' if median < 2 else 'MISSED'}")  # fmt: skip
    return 0 if median < 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
