"""A real Celery worker on the real broker picks up work enqueued on commit and writes to the DB."""

import time

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


def _heartbeat_tasks_received(*workers) -> int:
    return sum(
        "assessments.tasks.record_worker_heartbeat[" in line and "received" in line
        for worker in workers
        for line in worker.output
    )


@pytest.mark.worker
def test_a_rolled_back_transaction_enqueues_nothing(default_queue_worker, celery_worker):
    class Boom(Exception):
        pass

    before = _heartbeat_tasks_received(default_queue_worker, celery_worker)
    with pytest.raises(Boom), transaction.atomic():
        record_worker_heartbeat.delay_on_commit()
        raise Boom
    # Prove the workers are alive and would have run it, by sending one that commits: exactly one
    # heartbeat task reaches them (either may take it; both log what they receive).
    with transaction.atomic():
        record_worker_heartbeat.delay_on_commit()
    wait_for(
        lambda: _heartbeat_tasks_received(default_queue_worker, celery_worker) > before,
        timeout=60,
        message="the committed heartbeat",
    )
    time.sleep(1)  # room for a second one to arrive, were the rolled-back one sent after all
    assert _heartbeat_tasks_received(default_queue_worker, celery_worker) == before + 1
