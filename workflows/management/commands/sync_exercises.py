from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from assessments.services import ExerciseSyncError
from grader.package import discover_packages
from workflows.exercises import exercise_sync


class Command(BaseCommand):
    help = "Load the exercise packages found in EXERCISE_DIRS (or the given folders) into the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dirs", nargs="*", type=Path, help="Folders holding packages (default: EXERCISE_DIRS)")
        parser.add_argument("--force", action="store_true", help="Accept changed files under an existing version")

    def handle(self, *args: Any, dirs: list[Path], force: bool, **options: Any) -> None:
        packages, errors = discover_packages(dirs or settings.EXERCISE_DIRS)
        for package in packages:
            try:
                exercise, outcome = exercise_sync(package=package, force=force)
            except ExerciseSyncError as exc:
                errors.append(str(exc))
                continue
            self.stdout.write(f"{outcome:9} {exercise.slug} {exercise.version}  ({exercise.checksum[:12]})")
        if not packages and not errors:
            self.stdout.write(self.style.WARNING("No exercise package found."))
        if errors:
            for line in errors:
                self.stderr.write(self.style.ERROR(line))
            raise CommandError(f"{len(errors)} package(s) could not be synced.")
