"""A real Celery worker on the real broker picks up work enqueued on commit and writes to the DB."""

import pytest
from django.db import transaction

from assessments.models import WorkerHeartbeat
from assessments.tasks import record_worker_heartbeat
from tests.workers import WorkerProcess, wait_for


@pytest.fixture
def default_queue_worker(celery_worker):
    """A worker of its own on the default queue: gradings other tests left running cannot delay it."""
    worker = WorkerProcess(queues="default", concurrency=1).start()
    yield worker
    worker.stop()


@pytest.mark.worker
def test_a_task_enqueued_on_commit_is_run_by_a_real_worker(default_queue_worker):
    with transaction.atomic():
        record_worker_heartbeat.delay_on_commit()
        # Nothing is sent while the transaction is open: a rollback would send nothing at all.
    heartbeat = wait_for(lambda: WorkerHeartbeat.objects.first(), timeout=60, message="the worker's heartbeat row")
    assert heartbeat.hostname.startswith("test-")
    assert heartbeat.pid > 0


@pytest.mark.worker
def test_a_rolled_back_transaction_enqueues_nothing(default_queue_worker):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        record_worker_heartbeat.delay_on_commit()
        raise Boom
    # Prove the worker is alive and would have written, by sending one that commits.
    with transaction.atomic():
        record_worker_heartbeat.delay_on_commit()
    wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=60, message="the committed heartbeat")
    assert WorkerHeartbeat.objects.count() == 1
