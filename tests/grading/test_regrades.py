"""Trial regrades: the cohort's latest uploads graded again on another exercise version, apart,
then made live in one step or discarded without a trace.

Called through the services against the real database; a trial's runs are graded as the worker
grades them (``grading_run_execute``) by a grade_fn that reads the version it was handed, so every
result says which version's files graded it. The messages a workflow sends are recorded instead of
reaching the broker; the worker tests (test_grading_recovery) send them for real.
"""

import csv
import io
import shutil
import tomllib
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from assessments.grading.pipeline import grading_run_execute
from assessments.models import GradingRun, ProbeResult, Regrade
from assessments.services import LeaseLost, grading_run_claim, grading_run_fail_attempt, grading_run_finish
from candidates.models import Invitation
from candidates.services import (
    candidate_erase,
    candidate_get_or_create,
    decision_record,
    invitation_create,
    invitation_mark_reviewed,
    invitation_start,
    invitation_token_rotate,
    invitation_withdraw,
)
from core.models import AuditEvent
from grader.package import load_package
from reports.models import WebhookDelivery, WebhookEndpoint
from rubrics.models import Review
from rubrics.services import review_assign
from tests.builders import graded_submission, make_zip, probe_results
from tests.conftest import FIXTURES
from tests.workers import WorkerProcess, wait_for
from workflows.exercises import exercise_sync
from workflows.grading import grading_run_regrade, grading_runs_sweep
from workflows.regrades import (
    RegradeError,
    live_grading_pending,
    regrade_discard,
    regrade_make_live,
    regrade_readiness,
    regrade_rerun,
    regrade_retry_failed,
    regrade_start,
    trial_drive,
)
from workflows.tasks import grade_submission, grade_trial_run
from workflows.uploads import submission_accept

TINY = FIXTURES / "exercises" / "tiny-echo"
ARCHIVE = make_zip({"echo/__init__.py": (TINY / "starter" / "echo" / "__init__.py").read_text()})


# --- The cast --------------------------------------------------------------------------------------


@pytest.fixture
def sent(monkeypatch):
    """The task messages sent, by task name, instead of reaching the broker."""
    messages: dict[str, list] = {"grade_submission": [], "grade_trial_run": []}
    monkeypatch.setattr(grade_submission, "delay", lambda run_id: messages["grade_submission"].append(run_id))
    monkeypatch.setattr(grade_trial_run, "delay", lambda regrade_id: messages["grade_trial_run"].append(regrade_id))
    return messages


@pytest.fixture
def version_two(tmp_path, exercise):
    """tiny-echo 0.2.0 (a probe fix, say), synced: the current version, which no assessment uses yet."""
    folder = tmp_path / "exercises" / "tiny-echo"
    shutil.copytree(TINY, folder, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = folder / "exercise.toml"
    manifest.write_text(manifest.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    newer, _ = exercise_sync(package=load_package(folder))
    return newer


@dataclass
class Cohort:
    dana: Invitation  # two uploads, the latest graded and under review
    sam: Invitation  # graded
    wes: Invitation  # graded, then withdrew
    eli: Invitation  # graded, then erased
    ina: Invitation  # started, nothing uploaded yet

    def latest_run(self, invitation: Invitation) -> GradingRun:
        submission = invitation.submissions.order_by("-number").first()
        return submission.grading_runs.get(trial__isnull=True)


@pytest.fixture
def cohort(assessment, manager, reviewer, reviewer2, sent) -> Cohort:
    dana = graded_submission(assessment, results=[("grounding", "fail")]).invitation
    graded_submission(invitation=dana, results=[("grounding", "pass"), ("input", "fail")])
    review_assign(submission=dana.submissions.get(number=2), reviewer=reviewer, actor=manager)
    sam = graded_submission(assessment, name="Sam Candidate", email="sam@example.com").invitation
    wes = graded_submission(assessment, name="Wes Withdrawn", email="wes@example.com").invitation
    wes.refresh_from_db()
    invitation_withdraw(invitation=wes, actor=manager, reason="Took another offer.")
    eli = graded_submission(assessment, name="Eli Erased", email="eli@example.com").invitation
    candidate_erase(candidate=eli.candidate, actor=manager)
    ina, _ = invitation_create(
        assessment=assessment,
        candidate=candidate_get_or_create(name="Ina Late", email="ina@example.com"),
        invited_by=manager,
    )
    invitation_start(invitation=ina)
    sent["grade_submission"].clear()
    return Cohort(*(Invitation.objects.get(pk=i.pk) for i in (dana, sam, wes, eli, ina)))


def _by_version(submission_dir, exercise_dir, on_progress, *, cancel):
    """Results named after the version whose files the worker was given."""
    version = tomllib.loads((exercise_dir / "exercise.toml").read_text())["version"]
    result = {"probe_id": f"v{version}", "failure_mode": "grounding", "outcome": "pass", "reason": "echoed"}
    return probe_results([result]), {"sandboxed": True}


def _grade_trial(regrade: Regrade) -> list[GradingRun]:
    """Every queued run of the trial graded, as the worker grades it."""
    done = []
    for run_id in GradingRun.objects.filter(trial=regrade, state=GradingRun.QUEUED).values_list("pk", flat=True):
        run = grading_run_execute(run_id=run_id, grade_fn=_by_version)
        assert run is not None and run.state == GradingRun.DONE
        done.append(run)
    return done


def _live_picture(assessment) -> dict:
    """Everything a trial must leave alone: the live runs, their results, the invitations, the reviews."""
    runs = GradingRun.objects.filter(submission__invitation__assessment=assessment, trial__isnull=True)
    assessment.refresh_from_db()
    return {
        "exercise": assessment.exercise_id,
        "runs": sorted(runs.values_list("pk", "state", "live", "exercise_id", "attempt")),
        "results": sorted(ProbeResult.objects.filter(run__in=runs).values_list("pk", "run_id", "outcome")),
        "invitations": sorted(assessment.invitations.values_list("pk", "state")),
        "reviews": sorted(Review.objects.values_list("pk", "submission_id", "reviewer_id", "state")),
    }


def _started_trial(assessment, version_two, manager, *, graded=False) -> Regrade:
    regrade = regrade_start(assessment=assessment, exercise=version_two, actor=manager)
    if graded:
        _grade_trial(regrade)
    return regrade


# --- Starting a trial ------------------------------------------------------------------------------


def test_a_trial_queues_one_run_per_latest_upload_on_its_version_apart_from_the_live_results(
    assessment, cohort, version_two, manager, sent, django_capture_on_commit_callbacks
):
    before = _live_picture(assessment)

    with django_capture_on_commit_callbacks(execute=True):
        regrade = regrade_start(assessment=assessment, exercise=version_two, actor=manager)

    runs = GradingRun.objects.filter(trial=regrade)
    latest = {cohort.dana.submissions.get(number=2).pk, cohort.sam.submissions.get().pk}
    # Not the withdrawn candidate, not the erased upload, not Dana's older upload, nobody twice.
    assert sorted(runs.values_list("submission_id", flat=True)) == sorted(latest)
    queued_apart = (version_two.pk, False, GradingRun.QUEUED, 0)
    assert {(r.exercise_id, r.live, r.state, r.attempt) for r in runs} == {queued_apart}
    assert (regrade.state, regrade.from_exercise, regrade.exercise) == (Regrade.OPEN, assessment.exercise, version_two)
    assert _live_picture(assessment) == before
    assert not live_grading_pending()  # a trial never holds a candidate's grading up
    # A few drivers on the regrade queue, never a message per run; no candidate grading is sent.
    assert sent == {"grade_submission": [], "grade_trial_run": [regrade.pk] * min(settings.REGRADE_PARALLEL, 2)}
    event = AuditEvent.objects.get(action="regrade.started")
    assert event.actor == manager and event.data == {"from": "0.1.0", "to": "0.2.0", "submissions": 2}


def test_while_a_trial_is_graded_every_page_shows_the_live_results(
    client, assessment, cohort, version_two, manager, reviewer
):
    dana_live, sam_live = cohort.latest_run(cohort.dana), cohort.latest_run(cohort.sam)
    regrade = _started_trial(assessment, version_two, manager)
    dana_trial = GradingRun.objects.get(trial=regrade, submission=dana_live.submission)
    grading_run_execute(run_id=dana_trial.pk, grade_fn=_by_version)
    sam_trial = GradingRun.objects.get(trial=regrade, submission=sam_live.submission)
    grading_run_claim(run=sam_trial)  # Sam's is being graded right now

    # The candidate: checked, not re-checked, and nothing to poll for.
    token = invitation_token_rotate(invitation=cohort.sam, actor=manager)
    client.get(f"/t/{token}/")
    status = client.get(reverse("candidates:status", args=[cohort.sam.pk])).content.decode()
    assert "<strong>Checked.</strong>" in status and "hx-trigger" not in status
    client.logout()

    # The reviewer: the live run's evidence, on the live version.
    client.force_login(reviewer)
    review = Review.objects.get(reviewer=reviewer, submission=dana_live.submission)
    page = client.get(reverse("rubrics:review", args=[review.pk])).content.decode()
    assert f"run {dana_live.pk} · exercise v0.1.0" in page and "v0.2.0" not in page
    client.logout()

    # The manager: the scorecard, the comparison and the assessment's page.
    client.force_login(manager)
    card = client.get(reverse("reports:scorecard", args=[assessment.pk, cohort.dana.pk])).content.decode()
    assert "against exercise v0.1.0" in card and "v0.2.0" not in card
    exported = client.get(reverse("reports:comparison_csv", args=[assessment.pk])).content.decode()
    rows = {row["candidate"]: row for row in csv.DictReader(io.StringIO(exported))}
    assert (rows["Dana Candidate"]["probes_passed"], rows["Dana Candidate"]["probes_failed"]) == ("1", "1")
    assert {rows[name]["exercise_version"] for name in ("Dana Candidate", "Sam Candidate")} == {"0.1.0"}
    detail = client.get(reverse("assessments:detail", args=[assessment.pk])).content.decode()
    assert "state-running" not in detail and "state-queued" not in detail
    assert not live_grading_pending()


# --- What a trial may be ----------------------------------------------------------------------------


def test_only_one_trial_is_open_per_assessment(assessment, cohort, version_two, manager, exercise):
    first = _started_trial(assessment, version_two, manager)

    with pytest.raises(RegradeError, match="already open"):
        regrade_start(assessment=assessment, exercise=exercise, actor=manager)
    with pytest.raises(IntegrityError), transaction.atomic():  # the database refuses it too
        Regrade.objects.create(assessment=assessment, exercise=exercise, from_exercise=exercise, started_by=manager)

    regrade_discard(regrade=first, actor=manager)
    second = regrade_start(assessment=assessment, exercise=exercise, actor=manager)  # the same version again is fine
    assert second.state == Regrade.OPEN and GradingRun.objects.filter(trial=second).count() == 2


def test_a_version_of_another_exercise_is_refused(assessment, cohort, custom_exercise, manager):
    with pytest.raises(RegradeError, match=r"ledger-sync 2\.0\.0 is not a version of tiny-echo"):
        regrade_start(assessment=assessment, exercise=custom_exercise, actor=manager)

    assert not Regrade.objects.exists() and not GradingRun.objects.filter(trial__isnull=False).exists()


def test_there_is_nothing_to_try_before_anybody_uploaded(assessment, invitation, version_two, manager):
    with pytest.raises(RegradeError, match="Nobody has uploaded yet"):
        regrade_start(assessment=assessment, exercise=version_two, actor=manager)

    assert not Regrade.objects.exists()


# --- Discard and rerun -------------------------------------------------------------------------------


def test_discarding_deletes_the_trials_runs_and_results_and_nothing_else(assessment, cohort, version_two, manager):
    before = _live_picture(assessment)
    regrade = _started_trial(assessment, version_two, manager, graded=True)
    trial_runs = list(GradingRun.objects.filter(trial=regrade).values_list("pk", flat=True))
    assert ProbeResult.objects.filter(run__in=trial_runs).count() == 2

    regrade_discard(regrade=regrade, actor=manager)

    regrade.refresh_from_db()
    assert (regrade.state, regrade.decided_by) == (Regrade.DISCARDED, manager) and regrade.decided_at
    assert not GradingRun.objects.filter(pk__in=trial_runs).exists()
    assert not ProbeResult.objects.filter(run__in=trial_runs).exists()
    assert _live_picture(assessment) == before
    assert AuditEvent.objects.get(action="regrade.discarded").data == {"runs_deleted": 2}
    with pytest.raises(RegradeError, match="discarded already"):
        regrade_make_live(regrade=regrade, actor=manager)


def test_a_worker_grading_a_discarded_trials_run_writes_nothing(assessment, cohort, version_two, manager):
    regrade = _started_trial(assessment, version_two, manager)
    run = GradingRun.objects.filter(trial=regrade).first()
    lease = grading_run_claim(run=run)

    regrade_discard(regrade=regrade, actor=manager)

    with pytest.raises(LeaseLost):
        grading_run_finish(run=run, lease_token=lease, results=probe_results([("grounding", "pass")]), isolation={})
    assert not ProbeResult.objects.filter(run_id=run.pk).exists()
    assert trial_drive(regrade_id=regrade.pk) == "idle"  # its drivers stop


def test_a_rerun_replaces_the_trials_runs(assessment, cohort, version_two, manager, sent):
    regrade = _started_trial(assessment, version_two, manager, graded=True)
    first = set(GradingRun.objects.filter(trial=regrade).values_list("pk", flat=True))
    sent["grade_trial_run"].clear()

    regrade_rerun(regrade=regrade, actor=manager)

    runs = GradingRun.objects.filter(trial=regrade)
    assert not first & set(runs.values_list("pk", flat=True))
    assert not ProbeResult.objects.filter(run__in=first).exists()
    assert sorted(runs.values_list("state", flat=True)) == [GradingRun.QUEUED] * 2
    regrade.refresh_from_db()
    assert regrade.reruns == 1 and regrade.state == Regrade.OPEN
    assert not regrade_readiness(regrade=regrade).complete
    assert AuditEvent.objects.filter(action="regrade.rerun", actor=manager).exists()


def _fail_for_good(run: GradingRun) -> None:
    for _ in range(GradingRun.MAX_ATTEMPTS):
        run.refresh_from_db()
        grading_run_fail_attempt(run=run, lease_token=grading_run_claim(run=run), error="sandbox did not start")
    assert run.state == GradingRun.FAILED_INFRA


def test_the_trials_failed_gradings_are_sent_back_to_its_own_queue(
    assessment, cohort, version_two, manager, sent, django_capture_on_commit_callbacks
):
    regrade = _started_trial(assessment, version_two, manager)
    failed = GradingRun.objects.filter(trial=regrade).first()
    _fail_for_good(failed)
    with pytest.raises(RegradeError, match="1 of the trial's gradings failed on our side: grade them again first"):
        regrade_make_live(regrade=regrade, actor=manager)
    sent["grade_trial_run"].clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert regrade_retry_failed(regrade=regrade, actor=manager) == 1
    failed.refresh_from_db()
    assert (failed.state, failed.attempt, failed.live) == (GradingRun.QUEUED, 0, False)
    _fail_for_good(failed)
    with django_capture_on_commit_callbacks(execute=True):
        grading_run_regrade(run=failed, actor=manager)  # "Grade again" on the assessment's page

    failed.refresh_from_db()
    assert (failed.state, failed.trial, failed.live) == (GradingRun.QUEUED, regrade, False)
    # Each time the trial's driver, never the live grading task with a trial's run.
    assert sent == {"grade_submission": [], "grade_trial_run": [regrade.pk, regrade.pk]}


# --- Making it live ------------------------------------------------------------------------------------


def test_make_live_is_refused_until_every_latest_upload_is_graded_on_the_trials_version(
    assessment, cohort, version_two, manager
):
    before = _live_picture(assessment)
    regrade = _started_trial(assessment, version_two, manager)
    first = GradingRun.objects.filter(trial=regrade).order_by("pk").first()
    grading_run_execute(run_id=first.pk, grade_fn=_by_version)

    with pytest.raises(RegradeError, match="1 of 2 uploads are still being graded on the trial's version"):
        regrade_make_live(regrade=regrade, actor=manager)

    regrade.refresh_from_db()
    assert regrade.state == Regrade.OPEN and _live_picture(assessment) == before
    assert not AuditEvent.objects.filter(action="regrade.made_live").exists()


def test_make_live_switches_the_version_and_the_results_and_keeps_the_old_ones_as_history(
    client, assessment, cohort, version_two, manager, reviewer, exercise
):
    WebhookEndpoint.objects.create(owner=manager, name="ATS", url="https://ats.example/hooks", secret="whsec-x")
    invitation_mark_reviewed(invitation=cohort.sam)
    decision_record(invitation=cohort.sam, outcome="advance", reason="Strong.", actor=manager)
    old_runs = {cohort.dana: cohort.latest_run(cohort.dana), cohort.sam: cohort.latest_run(cohort.sam)}
    untouched = {key: value for key, value in _live_picture(assessment).items() if key in ("invitations", "reviews")}
    regrade = _started_trial(assessment, version_two, manager, graded=True)

    regrade_make_live(regrade=regrade, actor=manager)

    assessment.refresh_from_db()
    regrade.refresh_from_db()
    assert assessment.exercise == version_two
    assert (regrade.state, regrade.decided_by) == (Regrade.LIVE, manager)
    for old in old_runs.values():
        old.refresh_from_db()
        new = GradingRun.objects.get(trial=regrade, submission=old.submission)
        assert (old.live, old.state, old.results.count() > 0) == (False, GradingRun.DONE, True)  # history
        assert (new.live, new.exercise) == (True, version_two)
        assert list(new.results.values_list("probe_id", flat=True)) == ["v0.2.0"]
    # The withdrawn and the erased keep what they had.
    assert cohort.latest_run(cohort.wes).live and cohort.latest_run(cohort.eli).live
    # Reviews and decisions as they were: nobody is told anything.
    picture = _live_picture(assessment)
    assert {key: picture[key] for key in untouched} == untouched
    assert WebhookDelivery.objects.count() == 0
    event = AuditEvent.objects.get(action="regrade.made_live")
    assert event.actor == manager and event.target_id == str(regrade.pk)
    assert event.data["from_exercise"] == exercise.pk and event.data["to"] == "0.2.0"
    assert (event.data["runs_live"], event.data["runs_replaced"], event.data["gradings_superseded"]) == (2, 2, 0)
    # The pages read the new results now.
    client.force_login(manager)
    card = client.get(reverse("reports:scorecard", args=[assessment.pk, cohort.dana.pk])).content.decode()
    assert "against exercise v0.2.0" in card
    client.force_login(reviewer)
    review = Review.objects.get(reviewer=reviewer, submission=old_runs[cohort.dana].submission)
    page = client.get(reverse("rubrics:review", args=[review.pk])).content.decode()
    new_dana = GradingRun.objects.get(trial=regrade, submission=old_runs[cohort.dana].submission)
    assert f"run {new_dana.pk} · exercise v0.2.0" in page
    with pytest.raises(RegradeError, match="made live already"):
        regrade_discard(regrade=regrade, actor=manager)


def test_make_live_supersedes_an_old_version_grading_in_flight_and_grades_the_waiting_upload(
    assessment, cohort, version_two, manager, reviewer, reviewer2
):
    regrade = _started_trial(assessment, version_two, manager)
    upload = submission_accept(invitation=cohort.ina, archive=ARCHIVE)  # during the trial
    in_flight = upload.grading_runs.get(trial__isnull=True)
    lease = grading_run_claim(run=in_flight)  # a worker is grading it on 0.1.0
    _grade_trial(regrade)

    regrade_make_live(regrade=regrade, actor=manager)

    in_flight.refresh_from_db()
    assert (in_flight.state, in_flight.live, in_flight.lease_token) == (GradingRun.SUPERSEDED, False, None)
    with pytest.raises(LeaseLost):  # the worker's results are not wanted any more
        grading_run_finish(run=in_flight, lease_token=lease, results=[], isolation={})
    graded = upload.grading_runs.get(trial=regrade)
    assert (graded.state, graded.live, graded.exercise) == (GradingRun.DONE, True, version_two)
    assert Invitation.objects.get(pk=cohort.ina.pk).state == Invitation.GRADED
    assert set(Review.objects.filter(submission=upload).values_list("reviewer", flat=True)) == {
        reviewer.pk,
        reviewer2.pk,
    }
    assert AuditEvent.objects.get(action="regrade.made_live").data["gradings_superseded"] == 1
    assert not live_grading_pending()


def test_after_make_live_an_upload_is_graded_on_the_new_version(assessment, cohort, version_two, manager):
    regrade_make_live(regrade=_started_trial(assessment, version_two, manager, graded=True), actor=manager)

    upload = submission_accept(invitation=cohort.ina, archive=ARCHIVE)

    assert [(run.exercise, run.live, run.trial) for run in upload.grading_runs.all()] == [(version_two, True, None)]


# --- Uploads during a trial ------------------------------------------------------------------------------


def test_an_upload_during_an_open_trial_gets_a_trial_run_too(
    assessment, cohort, version_two, manager, sent, django_capture_on_commit_callbacks
):
    regrade = _started_trial(assessment, version_two, manager, graded=True)
    assert regrade_readiness(regrade=regrade).complete
    sent["grade_trial_run"].clear()

    with django_capture_on_commit_callbacks(execute=True):
        upload = submission_accept(invitation=cohort.ina, archive=ARCHIVE)

    live = upload.grading_runs.get(trial__isnull=True)
    trial = upload.grading_runs.get(trial=regrade)
    assert (live.exercise, live.live, live.state) == (assessment.exercise, True, GradingRun.QUEUED)
    assert (trial.exercise, trial.live, trial.state) == (version_two, False, GradingRun.QUEUED)
    assert sent == {"grade_submission": [live.pk], "grade_trial_run": [regrade.pk]}
    assert live_grading_pending()  # the candidate's own grading comes first
    readiness = regrade_readiness(regrade=regrade)
    assert (readiness.total, readiness.done, readiness.queued, readiness.complete) == (3, 2, 1, False)


def test_an_upload_joins_a_trial_still_at_work_without_another_driver(
    assessment, cohort, version_two, manager, sent, django_capture_on_commit_callbacks
):
    """Its drivers take the new run with the others: one message per upload would outgrow REGRADE_PARALLEL."""
    regrade = _started_trial(assessment, version_two, manager)  # both runs still queued
    sent["grade_trial_run"].clear()

    with django_capture_on_commit_callbacks(execute=True):
        upload = submission_accept(invitation=cohort.ina, archive=ARCHIVE)

    assert upload.grading_runs.get(trial=regrade).state == GradingRun.QUEUED
    assert sent["grade_trial_run"] == []


def test_a_new_upload_during_a_trial_replaces_the_older_ones_trial_run(assessment, cohort, version_two, manager):
    regrade = _started_trial(assessment, version_two, manager)
    older = GradingRun.objects.get(trial=regrade, submission__invitation=cohort.sam)

    newer = graded_submission(invitation=cohort.sam)

    older.refresh_from_db()
    assert older.state == GradingRun.SUPERSEDED
    assert newer.grading_runs.get(trial=regrade).state == GradingRun.QUEUED
    readiness = regrade_readiness(regrade=regrade)
    assert (readiness.total, readiness.queued, readiness.missing) == (2, 2, 0)


# --- Driving a trial ----------------------------------------------------------------------------------------


def test_a_trial_waits_while_a_candidates_grading_is_queued(assessment, cohort, version_two, manager):
    regrade = _started_trial(assessment, version_two, manager)
    submission_accept(invitation=cohort.ina, archive=ARCHIVE)

    assert trial_drive(regrade_id=regrade.pk) == "waiting"

    assert set(GradingRun.objects.filter(trial=regrade).values_list("state", flat=True)) == {GradingRun.QUEUED}
    regrade.refresh_from_db()
    assert regrade.driven_at is not None  # it looked: the sweeper leaves it be


@pytest.mark.django_db(transaction=True)
def test_a_trial_run_in_progress_gives_its_slot_back_to_a_candidates_grading(
    assessment, cohort, version_two, manager, sent
):
    """The heartbeat asks every second; once told to yield, the run is queued again, attempt not counted."""
    regrade = _started_trial(assessment, version_two, manager)
    run = GradingRun.objects.filter(trial=regrade).first()
    asked = []

    def until_cancelled(submission_dir, exercise_dir, on_progress, *, cancel):
        assert cancel.wait(30), "never told to stop"
        from grader.runner import GradingCancelled

        raise GradingCancelled(0, 1)

    def candidate_waiting():
        asked.append(True)
        return len(asked) >= 2

    assert grading_run_execute(run_id=run.pk, grade_fn=until_cancelled, should_yield=candidate_waiting) is None

    run.refresh_from_db()
    assert (run.state, run.attempt, run.lease_token, run.results.count()) == (GradingRun.QUEUED, 0, None, 0)
    assert AuditEvent.objects.filter(action="grading.yielded", target_id=str(run.pk)).count() == 1


# --- The sweeper ------------------------------------------------------------------------------------------------


def test_the_sweeper_revives_a_quiet_trial_with_one_driver_and_never_sends_its_runs_one_by_one(
    assessment, cohort, version_two, manager, sent
):
    regrade = _started_trial(assessment, version_two, manager)
    sent["grade_trial_run"].clear()
    long_ago = timezone.now() - timedelta(seconds=settings.GRADING_REQUEUE_AFTER_S + 60)
    Regrade.objects.filter(pk=regrade.pk).update(started_at=long_ago, driven_at=long_ago)
    GradingRun.objects.filter(trial=regrade).update(queued_at=long_ago)

    grading_runs_sweep()
    grading_runs_sweep()  # a second sweep right after: it was just revived

    assert sent == {"grade_submission": [], "grade_trial_run": [regrade.pk]}
    regrade.refresh_from_db()
    assert regrade.driven_at > long_ago


def test_the_sweeper_leaves_a_trial_being_driven_alone(assessment, cohort, version_two, manager, sent):
    """Its runs have waited long, but a driver looked for work a moment ago (it is waiting its turn)."""
    driven = _started_trial(assessment, version_two, manager)
    long_ago = timezone.now() - timedelta(seconds=settings.GRADING_REQUEUE_AFTER_S + 60)
    GradingRun.objects.filter(trial=driven).update(queued_at=long_ago)
    Regrade.objects.filter(pk=driven.pk).update(started_at=long_ago, driven_at=timezone.now())
    sent["grade_trial_run"].clear()

    grading_runs_sweep()

    assert sent == {"grade_submission": [], "grade_trial_run": []}


def test_a_reclaimed_trial_run_is_queued_again_and_its_trial_revived_not_the_run(
    assessment, cohort, version_two, manager, sent
):
    regrade = _started_trial(assessment, version_two, manager)
    run = GradingRun.objects.filter(trial=regrade).first()
    grading_run_claim(run=run)
    stale = timezone.now() - timedelta(seconds=settings.GRADING_STALE_AFTER_S + 30)
    GradingRun.objects.filter(pk=run.pk).update(heartbeat_at=stale)
    Regrade.objects.filter(pk=regrade.pk).update(driven_at=timezone.now())  # not quiet: the reclaim revives it
    sent["grade_trial_run"].clear()

    grading_runs_sweep()

    run.refresh_from_db()
    assert (run.state, run.live, run.lease_token) == (GradingRun.QUEUED, False, None)
    assert sent == {"grade_submission": [], "grade_trial_run": [regrade.pk]}


def test_a_trial_whose_drivers_are_all_busy_grading_is_not_revived(
    assessment, cohort, version_two, manager, sent, settings
):
    settings.REGRADE_PARALLEL = 2
    regrade = _started_trial(assessment, version_two, manager)
    submission_accept(invitation=cohort.ina, archive=ARCHIVE)  # a third run for the trial
    for run in GradingRun.objects.filter(trial=regrade).order_by("pk")[:2]:
        grading_run_claim(run=run)  # both drivers at work, their heartbeats fresh
    long_ago = timezone.now() - timedelta(seconds=settings.GRADING_REQUEUE_AFTER_S + 60)
    Regrade.objects.filter(pk=regrade.pk).update(started_at=long_ago, driven_at=long_ago)
    sent["grade_trial_run"].clear()

    grading_runs_sweep()

    assert sent["grade_trial_run"] == []


# --- With a real worker --------------------------------------------------------------------------------------------

# Each call spins until the runner stops it at the 4 s call limit: a trial run lasts several seconds.
SLOW_ARCHIVE = make_zip({"echo/__init__.py": "def answer(question):\n    while True:\n        pass\n"})


@pytest.mark.worker
@pytest.mark.slow
def test_a_trial_run_in_progress_yields_to_a_candidates_upload_on_a_real_worker(
    _celery_worker_session, transactional_db, assessment, manager
):
    invitations = []
    for n in range(3):
        candidate = candidate_get_or_create(name=f"Candidate {n}", email=f"c{n}@example.com")
        invitation, _ = invitation_create(assessment=assessment, candidate=candidate, invited_by=manager)
        invitation_start(invitation=invitation)
        invitations.append(invitation)
    *cohort_invitations, late = invitations
    with _celery_worker_session.paused():
        # Graded before any worker listens: their (now pointless) messages find the runs done.
        for invitation in cohort_invitations:
            graded_submission(invitation=invitation, archive=SLOW_ARCHIVE)
        worker = WorkerProcess(queues="default,grading,regrade", extra_env={"REGRADE_YIELD_DELAY_S": "1"}).start()
        try:
            regrade = regrade_start(assessment=assessment, exercise=assessment.exercise, actor=manager)
            trial = GradingRun.objects.filter(trial=regrade)
            wait_for(lambda: trial.filter(state=GradingRun.RUNNING).exists(), timeout=60, message="a trial run")
            interrupted = set(trial.filter(state=GradingRun.RUNNING).values_list("pk", flat=True))

            upload = submission_accept(invitation=late, archive=ARCHIVE)
            live = upload.grading_runs.get(trial__isnull=True)
            wait_for(
                lambda: GradingRun.objects.filter(pk=live.pk, state=GradingRun.DONE).exists(),
                timeout=120,
                message="the candidate's grading",
            )
            wait_for(
                lambda: not trial.exclude(state=GradingRun.DONE).exists(),
                timeout=180,
                interval=1,
                message="the trial to finish after it",
            )
        finally:
            worker.stop()

    live.refresh_from_db()
    assert live.attempt == 1 and live.results.count() == 2
    yielded = set(AuditEvent.objects.filter(action="grading.yielded").values_list("target_id", flat=True))
    assert {str(pk) for pk in interrupted} <= yielded
    for run in trial:
        assert run.finished_at > live.finished_at  # the candidate's grading came first
        assert run.attempt == 1  # giving a slot back is not a failed attempt
        assert AuditEvent.objects.filter(action="grading.done", target_id=str(run.pk)).count() == 1
    assert trial.count() == 3  # the late upload is in the trial too
