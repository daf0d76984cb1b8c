"""Exercise versions on the worker: a run is graded with exactly the version it names.

A probe fix ships as a new version, and syncing it changes nothing for the runs already queued nor
for the assessments pinned to the old one (only making a trial regrade live moves an assessment).
The files of every synced version are stored by checksum, so a worker grades an old version's run
with that version's files even when the folder it was synced from now holds the new one. Files it
cannot have (the stored copy is damaged) are an infrastructure error, never the candidate's failure.
"""

import shutil
from pathlib import Path

import pytest
from django.conf import settings

from assessments.grading.pipeline import InfraError, grading_run_execute
from assessments.models import Exercise, GradingRun, PackageArchive
from assessments.packages import package_archive_store
from assessments.services import ExerciseSyncError
from candidates.models import Invitation
from candidates.services import invitation_create, invitation_start
from core.models import AuditEvent
from grader.package import load_package, package_checksum
from tests.builders import make_zip, probe_results
from tests.conftest import FIXTURES
from tests.workers import graded_by_the_worker
from workflows.exercises import exercise_sync
from workflows.uploads import submission_accept

TINY = FIXTURES / "exercises" / "tiny-echo"
GOOD = (TINY / "starter" / "echo" / "__init__.py").read_text()
# 0.2.0 renames its probes, so the results say which version graded a run.
RENAMED = {"echo-plain": "echo-plain-v2", "echo-model": "echo-model-v2"}


@pytest.fixture
def folder(tmp_path, exercise):
    """The deployment's checkout of tiny-echo, synced from there: the assessment's version (0.1.0)."""
    checkout = tmp_path / "exercises" / "tiny-echo"
    shutil.copytree(TINY, checkout, ignore=shutil.ignore_patterns("__pycache__"))
    synced, _ = exercise_sync(package=load_package(checkout))
    assert synced.pk == exercise.pk
    return checkout


def _deploy_version_two(folder: Path) -> Exercise:
    """The checkout now holds 0.2.0 (its probes renamed), synced as the current version."""
    manifest = folder / "exercise.toml"
    manifest.write_text(manifest.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    probes = folder / "hidden" / "probes.py"
    text = probes.read_text()
    for old, new in RENAMED.items():
        text = text.replace(f'id="{old}"', f'id="{new}"')
    probes.write_text(text)
    newer, outcome = exercise_sync(package=load_package(folder))
    assert outcome == "created" and newer.is_current
    return newer


def _forget_unpacked(exercise: Exercise) -> None:
    """This host's unpacked copy of the version goes, as on a fresh worker."""
    shutil.rmtree(Path(settings.EXERCISE_CACHE_DIR) / exercise.checksum, ignore_errors=True)


def _upload(invitation: Invitation) -> GradingRun:
    if invitation.state == Invitation.INVITED:
        invitation_start(invitation=invitation)
    return submission_accept(invitation=invitation, archive=make_zip({"echo/__init__.py": GOOD})).grading_runs.get()


def _started(invitation: Invitation) -> Invitation:
    invitation_start(invitation=invitation)
    return invitation


def _reads_the_package(seen: dict):
    """A grade_fn that notes the package folder it was given and what it holds."""

    def grade(submission_dir, exercise_dir, on_progress, *, cancel):
        seen["dir"] = exercise_dir
        seen["manifest"] = (exercise_dir / "exercise.toml").read_text()
        seen["checksum"] = package_checksum(exercise_dir)
        return probe_results([("input", "pass")]), {"sandboxed": True}

    return grade


def test_a_run_names_the_version_it_was_queued_on_and_a_newer_sync_changes_neither_it_nor_the_assessment(
    folder, invitation, candidate2, manager
):
    old = invitation.assessment.exercise
    queued = _upload(invitation)

    newer = _deploy_version_two(folder)

    queued.refresh_from_db()
    invitation.assessment.refresh_from_db()
    assert queued.exercise == old and invitation.assessment.exercise == old
    assert Exercise.objects.get(pk=old.pk).is_current is False
    # An upload after the sync is graded on the assessment's version too, not the newest one.
    later, _ = invitation_create(assessment=invitation.assessment, candidate=candidate2, invited_by=manager)
    assert _upload(later).exercise == old != newer


def test_the_worker_is_given_exactly_the_runs_version_from_the_stored_files(folder, invitation):
    """What the worker runs, called directly: the folder it gets holds 0.1.0 although the checkout holds 0.2.0."""
    old = invitation.assessment.exercise
    run = _upload(invitation)
    _deploy_version_two(folder)
    _forget_unpacked(old)
    seen: dict = {}

    done = grading_run_execute(run_id=run.pk, grade_fn=_reads_the_package(seen))

    assert done is not None and done.state == GradingRun.DONE and done.exercise == old
    assert seen["checksum"] == old.checksum and 'version = "0.1.0"' in seen["manifest"]
    assert seen["dir"].is_relative_to(Path(settings.EXERCISE_CACHE_DIR) / old.checksum)
    assert not AuditEvent.objects.filter(action__startswith="grading.version").exists()


@pytest.mark.worker
def test_a_real_worker_grades_an_old_versions_run_with_its_own_probes(celery_worker, folder, invitation):
    old = invitation.assessment.exercise
    newer = _deploy_version_two(folder)
    _forget_unpacked(old)

    submission = submission_accept(
        invitation=_started(invitation), archive=make_zip({"echo/__init__.py": GOOD})
    )  # queued on 0.1.0, the assessment's version, with 0.2.0 the current one and in the checkout
    run = graded_by_the_worker(submission, timeout=120)

    assert run.state == GradingRun.DONE and run.attempt == 1, run.infra_error
    assert run.exercise == old != newer
    assert dict(run.results.values_list("probe_id", "outcome")) == {"echo-plain": "pass", "echo-model": "pass"}
    assert Invitation.objects.get(pk=invitation.pk).state == Invitation.GRADED


@pytest.mark.parametrize("damage", ["other files", "not a tar"])
def test_a_damaged_stored_copy_is_an_infrastructure_error_and_the_run_is_queued_again(
    folder, invitation, tmp_path, damage
):
    old = invitation.assessment.exercise
    run = _upload(invitation)
    _deploy_version_two(folder)  # the checkout cannot stand in for the stored copy either
    _forget_unpacked(old)
    if damage == "other files":
        # Well-formed, but a probe file was edited: the checksum check catches it.
        copy = tmp_path / "copy" / "tiny-echo"
        shutil.copytree(TINY, copy, ignore=shutil.ignore_patterns("__pycache__"))
        (copy / "hidden" / "probes.py").write_text("PROBES = []\n")
        data = package_archive_store(root=copy, checksum=package_checksum(copy)).data
    else:
        data = b"\x1f\x8b this is not what was stored"
    PackageArchive.objects.filter(checksum=old.checksum).update(data=data)

    def never(*args, **kwargs):
        raise AssertionError("graded with files that are not the version's")

    with pytest.raises(InfraError, match=r"tiny-echo 0\.1\.0"):
        grading_run_execute(run_id=run.pk, grade_fn=never)

    run.refresh_from_db()
    assert run.state == GradingRun.QUEUED and run.attempt == 1  # retried later, never the candidate's failure
    assert "tiny-echo 0.1.0" in run.infra_error and run.results.count() == 0
    assert AuditEvent.objects.filter(action="grading.queued", target_id=str(run.pk)).exists()
    assert Invitation.objects.get(pk=invitation.pk).state == Invitation.SUBMITTED
    assert not (Path(settings.EXERCISE_CACHE_DIR) / old.checksum).exists()  # nothing half-unpacked is kept


def test_a_version_never_stored_whose_folder_changed_cannot_be_graded(folder, invitation):
    """Synced before versions were stored, and its checkout has moved on: an infrastructure error."""
    old = invitation.assessment.exercise
    run = _upload(invitation)
    _deploy_version_two(folder)
    _forget_unpacked(old)
    PackageArchive.objects.filter(checksum=old.checksum).delete()

    with pytest.raises(InfraError, match="never stored"):
        grading_run_execute(run_id=run.pk, grade_fn=_reads_the_package({}))

    run.refresh_from_db()
    assert run.state == GradingRun.QUEUED and run.results.count() == 0


def test_sync_refuses_changed_files_under_the_same_version_and_keeps_the_stored_ones(folder, exercise):
    stored = PackageArchive.objects.get(checksum=exercise.checksum)
    (folder / "hidden" / "probes.py").write_text((folder / "hidden" / "probes.py").read_text() + "\n# edited\n")

    with pytest.raises(ExerciseSyncError, match="files changed but the version did not"):
        exercise_sync(package=load_package(folder))

    assert Exercise.objects.get(pk=exercise.pk).checksum == exercise.checksum
    assert list(PackageArchive.objects.values_list("pk", flat=True)) == [stored.pk]
