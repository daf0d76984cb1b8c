"""Nothing is lost when a worker dies mid-run or the broker goes away: the database is the truth.

These start their own workers and a real `celery beat` (the sweeper), with short sweep
thresholds, and pause the suite's shared worker so that theirs get every message.
"""

import time
from collections import Counter

import pytest

from assessments.models import GradingRun, ProbeResult, Regrade
from candidates.services import candidate_get_or_create, invitation_create, invitation_start
from core.models import AuditEvent
from tests.builders import graded_submission, make_zip
from tests.workers import RedisServer, WorkerProcess, wait_for
from workflows.regrades import regrade_readiness, regrade_start
from workflows.uploads import submission_accept

pytestmark = [pytest.mark.worker, pytest.mark.slow]

# Each call spins until the runner kills it at the 4 s call limit: a run lasts several seconds.
SLOW = """
def answer(question):
    while True:
        pass
"""
SLOW_ARCHIVE = make_zip({"echo/__init__.py": SLOW})
FAST_SWEEP = {"GRADING_SWEEP_INTERVAL_S": "2", "GRADING_STALE_AFTER_S": "8", "GRADING_REQUEUE_AFTER_S": "3"}


@pytest.fixture
def started_invitation(invitation):
    invitation_start(invitation=invitation)
    return invitation


def _state(run_id):
    return GradingRun.objects.values_list("state", flat=True).get(pk=run_id)


def _assert_one_result_set(run_id):
    run = GradingRun.objects.get(pk=run_id)
    assert run.state == GradingRun.DONE, run.infra_error
    assert sorted(ProbeResult.objects.filter(run=run).values_list("probe_id", flat=True)) == [
        "echo-model",
        "echo-plain",
    ]
    return run


def test_a_run_survives_its_worker_being_killed(_celery_worker_session, transactional_db, started_invitation):
    with _celery_worker_session.paused():
        doomed = WorkerProcess(extra_env=FAST_SWEEP).start()
        beat = None
        survivor = None
        try:
            submission = submission_accept(invitation=started_invitation, archive=SLOW_ARCHIVE)
            run_id = submission.grading_runs.get().pk
            wait_for(lambda: _state(run_id) == GradingRun.RUNNING, timeout=60, message="the run to start")
            time.sleep(1.5)
            doomed.kill()
            assert _state(run_id) == GradingRun.RUNNING  # the database still says a worker holds it

            # The sweeper task runs on a worker, so the worker too needs the short thresholds.
            survivor = WorkerProcess(extra_env=FAST_SWEEP).start()
            beat = WorkerProcess(beat=True, extra_env=FAST_SWEEP).start()
            wait_for(lambda: _state(run_id) == GradingRun.DONE, timeout=120, message="the run to finish elsewhere")
        finally:
            for process in (doomed, survivor, beat):
                if process:
                    process.stop()
    run = _assert_one_result_set(run_id)
    assert run.attempt == 2


@pytest.fixture
def three_started_invitations(assessment, manager):
    """Three candidates' uploads: one candidate's second upload would supersede their first."""
    invitations = []
    for n in range(3):
        candidate = candidate_get_or_create(name=f"Candidate {n}", email=f"c{n}@example.com")
        invitation, _ = invitation_create(assessment=assessment, candidate=candidate, invited_by=manager)
        invitation_start(invitation=invitation)
        invitations.append(invitation)
    return invitations


def test_runs_end_done_when_the_broker_is_down_for_ten_seconds(
    _celery_worker_session, transactional_db, three_started_invitations
):
    redis = RedisServer().start()
    env = {"CELERY_BROKER_URL": redis.url, **FAST_SWEEP}
    with _celery_worker_session.paused():
        worker = WorkerProcess(extra_env=env).start()
        beat = WorkerProcess(beat=True, extra_env=env).start()
        try:
            # Enqueued on commit to the suite's broker, which nobody reads now: the sweeper
            # must notice the runs waiting and send them through the private Redis.
            run_ids = [
                submission_accept(invitation=invitation, archive=SLOW_ARCHIVE).grading_runs.get().pk
                for invitation in three_started_invitations
            ]
            wait_for(
                lambda: GradingRun.objects.filter(pk__in=run_ids, state=GradingRun.RUNNING).exists(),
                timeout=60,
                message="a run to start",
            )
            assert GradingRun.objects.filter(pk__in=run_ids, state=GradingRun.QUEUED).exists()
            redis.stop()
            time.sleep(10)
            redis.start()
            wait_for(
                lambda: all(_state(pk) == GradingRun.DONE for pk in run_ids),
                timeout=240,
                interval=1,
                message="every run to end done after the outage",
            )
        finally:
            worker.stop()
            beat.stop()
            redis.stop()
    for pk in run_ids:
        _assert_one_result_set(pk)


def test_a_trial_survives_its_worker_being_killed(
    _celery_worker_session, transactional_db, assessment, manager, three_started_invitations
):
    """Killed mid-trial: the sweeper takes its runs back and revives the trial; a fresh worker grades
    every run once, and the live results never move."""
    with _celery_worker_session.paused():
        # Graded before any worker listens: their (now pointless) messages find the runs done.
        live = {
            graded_submission(invitation=invitation, archive=SLOW_ARCHIVE).grading_runs.get().pk
            for invitation in three_started_invitations
        }
        doomed = WorkerProcess(queues="default,grading,regrade", extra_env=FAST_SWEEP).start()
        beat = None
        survivor = None
        try:
            regrade = regrade_start(assessment=assessment, exercise=assessment.exercise, actor=manager)
            trial = GradingRun.objects.filter(trial=regrade)
            wait_for(
                lambda: trial.filter(state=GradingRun.RUNNING).exists(), timeout=60, message="a trial run to start"
            )
            time.sleep(1.5)
            doomed.kill()
            killed = set(trial.filter(state=GradingRun.RUNNING).values_list("pk", flat=True))
            assert killed  # the database still says a worker holds them

            survivor = WorkerProcess(queues="default,grading,regrade", extra_env=FAST_SWEEP).start()
            beat = WorkerProcess(beat=True, extra_env=FAST_SWEEP).start()
            wait_for(
                lambda: not trial.exclude(state=GradingRun.DONE).exists(),
                timeout=180,
                interval=1,
                message="every trial run to finish elsewhere",
            )
        finally:
            for process in (doomed, survivor, beat):
                if process:
                    process.stop()

    runs = list(trial)
    assert len(runs) == 3 and regrade_readiness(regrade=regrade).complete
    done = Counter(
        AuditEvent.objects.filter(action="grading.done", target_type="assessments.gradingrun").values_list(
            "target_id", flat=True
        )
    )
    for run in runs:
        _assert_one_result_set(run.pk)
        assert done[str(run.pk)] == 1, f"run {run.pk} was finished {done[str(run.pk)]} times"
        assert run.attempt == (2 if run.pk in killed else 1) and not run.live
    reclaimed = AuditEvent.objects.filter(action="grading.reclaimed.queued").values_list("target_id", flat=True)
    assert set(reclaimed) == {str(pk) for pk in killed}
    # The live results as they were: the trial is still only a trial.
    assert set(GradingRun.objects.filter(live=True).values_list("pk", flat=True)) == live
    assert Regrade.objects.get(pk=regrade.pk).state == Regrade.OPEN
