"""An exercise is synced: its rubric and its version, together."""

from django.db import transaction

from assessments.models import Exercise
from assessments.services import ExerciseSyncError, exercise_version_sync
from grader.package import ExercisePackage
from rubrics.services import RubricError, rubric_sync


def exercise_sync(*, package: ExercisePackage, force: bool = False) -> tuple[Exercise, str]:
    """Load one package version and its rubric. Returns (exercise, 'created'|'updated'|'unchanged')."""
    with transaction.atomic():
        if package.rubric is not None:
            try:
                rubric_sync(definition=package.rubric)
            except RubricError as exc:
                raise ExerciseSyncError(f"{package.slug}: {exc}") from exc
        return exercise_version_sync(package=package, force=force)
