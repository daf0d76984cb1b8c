"""Grade an exercise's reference solution once and store it as the comparison's anchor row."""

from django.core.management.base import BaseCommand, CommandError

from assessments.models import Exercise
from reports.services import reference_grade


class Command(BaseCommand):
    help = "Grade the reference/ solution of a take-home (current version unless --exercise-version) for the reports."

    def add_arguments(self, parser):
        parser.add_argument("slug", nargs="?", help="Take-home slug; all current take-homes when left out")
        parser.add_argument("--exercise-version", dest="exercise_version", help="A specific synced version")

    def handle(self, *args, slug=None, exercise_version=None, **options):
        qs = Exercise.objects.all()
        if slug:
            qs = qs.filter(slug=slug)
        qs = qs.filter(version=exercise_version) if exercise_version else qs.filter(is_current=True)
        exercises = list(qs)
        if not exercises:
            raise CommandError("No such take-home is loaded: run `manage.py sync_exercises` first.")
        for exercise in exercises:
            try:
                reference = reference_grade(exercise=exercise)
            except FileNotFoundError as exc:
                self.stderr.write(f"Skipped: {exc}")
                continue
            passed = sum(1 for r in reference.results if r["outcome"] == "pass")
            self.stdout.write(self.style.SUCCESS(f"{exercise}: reference passed {passed}/{len(reference.results)}."))
