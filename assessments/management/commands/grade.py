"""``manage.py grade PATH --exercise SLUG [--json] [--probe ID ...]``: run the hidden probes now.

PATH is a submission zip or an unpacked folder. Either goes through the same unpacking as an
upload (a folder is zipped in memory first): compiled Python and archives inside the archive are
dropped and listed, native code is refused. The table (or with ``--json`` exactly one JSON
object, with the dropped files under ``ignored_files``) reports every probe's outcome. The exit
status is 0 whenever grading completed, whatever the submission scored; it is non-zero only when
grading itself could not run (unknown exercise or probe, unreadable or rejected archive or
folder, no executor).
"""

import json
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from assessments.services import version_key
from grader.executors import ExecutorError, ForkServerExecutor, SubprocessExecutor
from grader.package import ExercisePackage, PackageError, discover_packages, load_package
from grader.runner import DEFAULT_WORKERS, GradeReport, GradingError, grade, load_exercise, points_text
from grader.sandbox import SandboxExecutor
from grader.unpack import ArchiveLimits, ArchiveRejected, Manifest, unpack_archive, zip_folder

EXECUTORS = ("sandbox", "forkserver", "subprocess")


class Command(BaseCommand):
    help = "Grade a submission (zip or folder) against an exercise's hidden probes and print the outcomes."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="A submission zip, or a folder holding its entry point's package")
        parser.add_argument(
            "--exercise",
            required=True,
            help="Exercise slug (its highest version in EXERCISE_DIRS; slug@1.3.0 for another) or a package folder",
        )
        parser.add_argument("--json", action="store_true", help="Print exactly one JSON object")
        parser.add_argument("--probe", action="append", dest="probes", metavar="ID", help="Run only these probes")
        parser.add_argument(
            "--executor",
            choices=EXECUTORS,
            default="sandbox",
            help="sandbox (bubblewrap, the default); forkserver or subprocess run UNSANDBOXED, for development",
        )
        parser.add_argument("--workers", type=int, default=getattr(settings, "GRADING_PARALLEL_PROBES", None))

    def handle(self, *args, path, exercise, json, probes, executor, workers, **options):
        package = self._find_exercise(exercise)
        exercise_dir, limits = package.path, package.limits.to_json()
        try:
            loaded = load_exercise(exercise_dir)
        except GradingError as exc:
            raise CommandError(str(exc)) from exc
        with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
            submission, manifest = self._submission(path, Path(tmp), limits)
            runner_executor = self._executor(executor, loaded.preload)
            try:
                report = grade(
                    submission,
                    exercise_dir,
                    probe_ids=probes,
                    executor=runner_executor,
                    workers=workers or DEFAULT_WORKERS,
                )
            except (GradingError, ExecutorError) as exc:
                raise CommandError(f"grading could not run: {exc}") from exc
            finally:
                runner_executor.close()
        ignored = [{"path": i.path, "size": i.size, "reason": i.reason} for i in manifest.ignored]
        if json:
            self.stdout.write(_dumps({**report.to_json(), "ignored_files": ignored}))
        else:
            self._ignored(ignored)
            self._table(report, package)

    def _find_exercise(self, slug: str) -> ExercisePackage:
        folder = Path(slug)
        if (folder / "exercise.toml").is_file():
            try:
                return load_package(folder)
            except PackageError as exc:
                raise CommandError(str(exc)) from exc
        packages, _ = discover_packages(settings.EXERCISE_DIRS)
        wanted, _, version = slug.partition("@")
        found = [p for p in packages if p.slug == wanted and (not version or p.version == version)]
        if found:  # the highest version, unless one was named (exercises/previous/ keeps earlier ones)
            return max(found, key=lambda p: version_key(p.version))
        known = ", ".join(sorted(f"{p.slug}@{p.version}" for p in packages)) or "none"
        raise CommandError(f"no exercise {slug!r} in EXERCISE_DIRS (known: {known})")

    def _submission(self, path: Path, tmp: Path, limits: dict) -> tuple[Path, Manifest]:
        """Unpack PATH as an upload would be; a folder is its own root, so no wrapper folder is stripped."""
        if not (path.is_dir() or path.is_file()):
            raise CommandError(f"{path} is neither a zip file nor a folder")
        what = "folder" if path.is_dir() else "archive"
        target = tmp / "submission"
        try:
            data = zip_folder(path) if path.is_dir() else path.read_bytes()
            manifest = unpack_archive(
                data, target, ArchiveLimits.from_exercise(limits), strip_single_root=not path.is_dir()
            )
        except ArchiveRejected as exc:
            raise CommandError(f"the {what} was rejected: {exc}") from exc
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        return target, manifest

    def _executor(self, name: str, preload: tuple[str, ...]):
        if name == "forkserver":
            return ForkServerExecutor(preload=preload)
        if name == "subprocess":
            return SubprocessExecutor()
        return SandboxExecutor.from_settings()

    def _table(self, report: GradeReport, package: ExercisePackage) -> None:
        width = max((len(o.id) for o in report.outcomes), default=10)
        mode_width = max([len(o.failure_mode) for o in report.outcomes] + [4])
        mode = "SANDBOXED" if report.sandboxed else "UNSANDBOXED (development only)"
        self.stdout.write(f"{report.exercise} {report.version}: executor {report.executor}, {mode}")
        self.stdout.write(f"{'probe':<{width}}  {'mode':<{mode_width}}  {'outcome':<7}  {'time':>6}  reason")
        for o in report.outcomes:
            style = {"pass": self.style.SUCCESS, "fail": self.style.ERROR}.get(o.outcome, self.style.WARNING)
            reason = o.reason if o.score is None else f"[score {o.score:.0%}] {o.reason}"
            line = f"{o.id:<{width}}  {o.failure_mode:<{mode_width}}  {o.outcome:<7}  {o.duration_s:5.1f}s  {reason}"
            self.stdout.write(style(line))
        self.stdout.write("")
        # Per failure mode in the package's order, under the title it gives the mode.
        titles = {m.slug: m.title for m in package.failure_modes}
        order = {slug: n for n, slug in enumerate(titles)}
        by_mode = report.by_failure_mode()
        points = report.points_by_failure_mode()
        title_width = max([len(titles.get(slug, slug)) for slug in by_mode] + [4])
        for slug in sorted(by_mode, key=lambda s: (order.get(s, len(order)), s)):
            counts = by_mode[slug]
            graded = f" passed, points {points_text(points[slug])}" if report.has_graded else ""
            self.stdout.write(f"  {titles.get(slug, slug):<{title_width}} {counts['passed']}/{counts['total']}{graded}")
        summary = f"{report.passed}/{report.total} passed, {report.infra_errors} infrastructure error(s)"
        if report.has_graded:  # a graded probe counts its score: points are the figure reports rate by
            summary += f", points {points_text(report.points)}/{report.total}"
        self.stdout.write(f"{summary}; {report.wall_s:.1f} s")

    def _ignored(self, ignored: list[dict]) -> None:
        if not ignored:
            return
        self.stdout.write(f"Ignored {len(ignored)} file(s), not run:")
        for item in ignored:
            self.stdout.write(f"  {item['path']} ({item['size']} bytes): {item['reason']}")


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
