"""Workers on any host: PostgreSQL and the broker are all that hosts share.

Uploads are kept in the database (``candidates.StoredArchive``), checked against their sha256 when
read; nothing is written under MEDIA_ROOT. Two workers with different MEDIA_ROOT and exercise
caches (standing in for two hosts) grade 20 uploads between them, each exactly once.
"""

import re
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from assessments.models import GradingRun, ProbeResult, WorkerHeartbeat
from candidates.models import ArchiveUnavailable, StoredArchive, Submission
from candidates.services import candidate_get_or_create, invitation_create, invitation_start
from config.celery import app
from tests.builders import DEFAULT_FILES, make_zip
from tests.workers import WorkerProcess, wait_for
from workflows.uploads import submission_upload

ECHO = make_zip(DEFAULT_FILES)


def test_an_upload_is_kept_in_the_database_and_read_back_checked(invitation, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    invitation_start(invitation=invitation)
    submission = submission_upload(invitation=invitation, archive=ECHO)

    assert bytes(StoredArchive.objects.get(submission=submission).data) == ECHO
    assert Submission.objects.get(pk=submission.pk).archive_bytes() == ECHO
    assert not (tmp_path / "media").exists()  # nothing on this host's disk
    # Listing submissions does not load the megabytes.
    assert "data" not in {f.attname for f in Submission._meta.concrete_fields}

    StoredArchive.objects.filter(submission=submission).update(data=ECHO + b"\0")
    with pytest.raises(ArchiveUnavailable, match="no longer matches its sha256"):
        Submission.objects.get(pk=submission.pk).archive_bytes()


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_moves_stored_files_into_the_database(invitation, settings, tmp_path):
    """Uploads of an earlier version lived under MEDIA_ROOT; migrating keeps every intact one."""
    settings.MEDIA_ROOT = tmp_path / "media"
    invitation_start(invitation=invitation)
    kept = submission_upload(invitation=invitation, archive=ECHO)
    lost = submission_upload(invitation=invitation, archive=ECHO + b"1")
    changed = submission_upload(invitation=invitation, archive=ECHO + b"2")
    before = [("candidates", "0004_submission_ignored_files")]
    after = [("candidates", "0005_archives_in_the_database")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        for submission, name, data in [
            (kept, "submissions/1/1-a.zip", ECHO),
            (lost, "submissions/1/2-b.zip", None),
            (changed, "submissions/1/3-c.zip", b"not what was uploaded"),
        ]:
            if data is not None:
                default_storage.save(name, ContentFile(data))
            with connection.cursor() as cursor:
                cursor.execute("UPDATE candidates_submission SET archive = %s WHERE id = %s", [name, submission.pk])
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)
        # Going back to 0004 also unapplied what depends on 0005 in other apps (reports); the tests
        # after this one need the whole schema again.
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert Submission.objects.get(pk=kept.pk).archive_bytes() == ECHO
    for submission in (lost, changed):
        with pytest.raises(ArchiveUnavailable, match="not stored"):
            Submission.objects.get(pk=submission.pk).archive_bytes()


@pytest.mark.worker
@pytest.mark.slow
def test_two_workers_on_two_hosts_grade_twenty_uploads_each_once(
    _celery_worker_session, transactional_db, assessment, manager, tmp_path
):
    hosts = []
    for name in ("host-a", "host-b"):
        (tmp_path / name / "media").mkdir(parents=True)
        hosts.append(
            {
                "MEDIA_ROOT": str(tmp_path / name / "media"),
                "EXERCISE_CACHE_DIR": str(tmp_path / name / "exercise-cache"),
            }
        )
    with _celery_worker_session.paused():
        app.control.purge()  # messages earlier tests left behind point at rows their flush removed
        workers = [WorkerProcess(concurrency=1, extra_env=env).start() for env in hosts]
        try:
            wait_for(
                lambda: (
                    WorkerHeartbeat.objects.filter(hostname__in=[w.name for w in workers], grading_ready=True).count()
                    == 2
                ),
                timeout=120,
                message="both hosts' workers to prove they can grade",
            )
            submissions = []
            for n in range(20):
                candidate = candidate_get_or_create(name=f"Candidate {n}", email=f"c{n}@example.com")
                invitation, _ = invitation_create(assessment=assessment, candidate=candidate, invited_by=manager)
                invitation_start(invitation=invitation)
                submissions.append(submission_upload(invitation=invitation, archive=ECHO))
            run_ids = [s.grading_runs.get().pk for s in submissions]
            wait_for(
                lambda: GradingRun.objects.filter(pk__in=run_ids, state=GradingRun.DONE).count() == 20,
                timeout=600,
                interval=1,
                message="all twenty gradings",
            )
        finally:
            for worker in workers:
                worker.stop()

    for run in GradingRun.objects.filter(pk__in=run_ids):
        assert run.attempt == 1, (run.pk, run.attempt, run.infra_error)  # graded once, first time
        probes = sorted(ProbeResult.objects.filter(run=run).values_list("probe_id", flat=True))
        assert probes == ["echo-model", "echo-plain"]
    graded = [{int(n) for line in w.output for n in re.findall(r"grading run (\d+) graded:", line)} for w in workers]
    assert sorted(graded[0] | graded[1]) == sorted(run_ids) and not graded[0] & graded[1], graded  # by either
    assert graded[0] and graded[1], graded  # and each host took a share
    for env in hosts:  # neither host kept an upload on its disk
        assert not any(p.is_file() for p in Path(env["MEDIA_ROOT"]).rglob("*"))
