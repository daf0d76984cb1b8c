"""Exercise versions on the worker: a probe fix ships as a version bump, and no run is stranded by it.

Only the current version's files are on disk. A run recorded under a version whose files were
replaced is graded with the current version and says so; files changed under the same version
remain an infrastructure error (never the candidate's failure).
"""

import pytest

from assessments.models import Exercise, GradingRun
from candidates.models import Invitation
from candidates.services import invitation_start
from core.models import AuditEvent
from tests.builders import make_zip
from tests.workers import graded_by_the_worker
from workflows.uploads import submission_accept

GOOD = "tests/fixtures/exercises/tiny-echo/starter/echo/__init__.py"


def _replace_files_with(exercise: Exercise, version: str | None) -> Exercise | None:
    """The deployment of a new version: the files on disk now belong to ``version`` (None: same version)."""
    real = exercise.checksum
    Exercise.objects.filter(pk=exercise.pk).update(checksum="0" * 64, is_current=version is None)
    if version is None:
        return None
    newer = Exercise.objects.get(pk=exercise.pk)
    newer.pk, newer.version, newer.checksum, newer.is_current = None, version, real, True
    newer.save()
    return newer


@pytest.mark.worker
def test_a_run_recorded_under_a_replaced_version_is_graded_with_the_current_one(celery_worker, invitation):
    invitation_start(invitation=invitation)
    old_version = invitation.assessment.exercise.version
    _replace_files_with(invitation.assessment.exercise, "0.2.0")
    with open(GOOD) as fh:
        submission = submission_accept(invitation=invitation, archive=make_zip({"echo/__init__.py": fh.read()}))
    assert submission.grading_runs.get().exercise_version == old_version

    run = graded_by_the_worker(submission, timeout=120)

    assert run.state == GradingRun.DONE and run.attempt == 1
    assert run.exercise_version == "0.2.0"
    assert dict(run.results.values_list("probe_id", "outcome")) == {"echo-plain": "pass", "echo-model": "pass"}
    event = AuditEvent.objects.get(action="grading.version_upgraded")
    assert (event.data["from"], event.data["to"]) == (old_version, "0.2.0")
    assert Invitation.objects.get(pk=invitation.pk).state == Invitation.GRADED


def test_files_changed_under_the_same_version_are_an_infrastructure_error(invitation):
    """What the worker runs, called directly: the version check comes before any grading."""
    from assessments.grading.engine import grade_in_sandbox
    from assessments.grading.pipeline import InfraError, grading_run_execute

    invitation_start(invitation=invitation)
    _replace_files_with(invitation.assessment.exercise, None)
    with open(GOOD) as fh:
        submission = submission_accept(invitation=invitation, archive=make_zip({"echo/__init__.py": fh.read()}))
    run = submission.grading_runs.get()

    with pytest.raises(InfraError, match="differs from"):
        grading_run_execute(run_id=run.pk, grade_fn=grade_in_sandbox)

    run.refresh_from_db()
    assert run.state == GradingRun.QUEUED and run.attempt == 1  # retried later, never the candidate's failure
    assert "differs from" in run.infra_error and run.results.count() == 0
    assert not AuditEvent.objects.filter(action="grading.version_upgraded").exists()
