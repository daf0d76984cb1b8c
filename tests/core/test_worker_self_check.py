"""A grading worker proves it can grade before it takes grading work, says why when it cannot, and
starts by itself (resuming the gradings that failed meanwhile) once it can.

A real worker with the sandbox runtime missing, on the real broker and database; the runtime then
appears, as when an operator builds it.
"""

import pytest
from django.db import transaction
from django.utils import timezone

from assessments.models import GradingRun, WorkerHeartbeat
from candidates.services import invitation_start
from config.celery import app
from grader.sandbox import SandboxExecutor
from tests.builders import DEFAULT_FILES, make_zip
from tests.workers import WorkerProcess, graded_by_the_worker, wait_for
from workflows.uploads import submission_upload

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def _queues(worker: WorkerProcess) -> set[str]:
    replies = app.control.inspect(destination=[worker.name], timeout=5).active_queues() or {}
    return {queue["name"] for queue in replies.get(worker.name, [])}


def test_a_worker_without_its_runtime_takes_no_grading_work_and_starts_once_the_runtime_is_built(
    celery_worker, client, manager, invitation, tmp_path
):
    runtime = tmp_path / "sandbox-runtime"  # not built yet
    worker = WorkerProcess(
        concurrency=1,
        extra_env={
            "SANDBOX_RUNTIME_DIR": str(runtime),
            "GRADING_SELF_CHECK_RETRY_S": "1",
            "GRADING_SELF_CHECK_BEAT_S": "1",
        },
    ).start()
    try:
        row = wait_for(
            lambda: WorkerHeartbeat.objects.filter(hostname=worker.name, grading_ready=False).first(),
            timeout=60,
            message="the worker's failed self-check",
        )
        assert f"the sandbox runtime is missing at {runtime}" in row.grading_problem
        # It still serves the default queue, not the grading ones.
        assert _queues(worker) == {"default"}
        assert "grading unavailable on this worker, not taking grading work" in "\n".join(worker.output)

        client.force_login(manager)
        html = client.get("/").content.decode()
        assert "Grading unavailable" in html and worker.name in html and "sandbox runtime is missing" in html

        # A candidate's grading that used up its attempts while nothing could grade.
        invitation_start(invitation=invitation)
        with transaction.atomic():
            submission = submission_upload(invitation=invitation, archive=make_zip(DEFAULT_FILES))
            run = submission.grading_runs.get()
            GradingRun.objects.filter(pk=run.pk).update(
                state=GradingRun.FAILED_INFRA,
                attempt=GradingRun.MAX_ATTEMPTS,
                infra_error="SandboxUnavailable: the sandbox runtime is missing",
                finished_at=timezone.now(),
            )
        assert "Uploads we could not check" in client.get("/").content.decode()

        runtime.symlink_to(SandboxExecutor.from_settings().runtime_dir)  # the operator builds it

        wait_for(
            lambda: WorkerHeartbeat.objects.filter(hostname=worker.name, grading_ready=True).exists(),
            timeout=60,
            message="the worker's passing self-check",
        )
        wait_for(lambda: {"grading", "regrade"} <= _queues(worker), timeout=30, message="the grading consumers")
        # Nobody pressed anything: the failed grading went back to the queue and is graded.
        wait_for(
            lambda: GradingRun.objects.get(pk=run.pk).state != GradingRun.FAILED_INFRA,
            timeout=30,
            message="the failed run sent back to the queue",
        )
        graded = graded_by_the_worker(submission, timeout=120)
        assert graded.state == GradingRun.DONE, graded.infra_error

        html = client.get("/").content.decode()
        assert "Grading unavailable" not in html and "Uploads we could not check" not in html
        assert "grading worker" in html and "online" in html
    finally:
        worker.stop()
