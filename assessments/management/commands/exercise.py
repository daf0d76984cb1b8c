"""``manage.py exercise verify <slug-or-path>``: prove that an exercise package grades as it says.

The checks themselves live in :mod:`grader.verify` (no Django there; its docstring specifies them
and the ``submissions.toml`` format); this command finds the package, adds the one check that needs
the database (the files against the synced version's checksum) and prints the table, or with
``--json`` exactly one JSON object. Progress goes to stderr. The exit status is non-zero on any
mismatch or package error. ``exercise`` takes subcommands so that more can join ``verify``.
"""

import argparse
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from assessments.selectors import exercise_version_checksum
from grader.verify import DEFAULT_PARALLEL, DEFAULT_WORKERS_PER_GRADING, EXECUTORS, verify


class Command(BaseCommand):
    help = "Work with exercise packages. `exercise verify <slug-or-path>` grades its example submissions."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        check = actions.add_parser(
            "verify",
            help="Grade the package's example submissions and check the package (see grader/verify.py)",
            description=(__doc__ or "").split("\n\n")[0],
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        check.add_argument("package", help="A package folder, or the slug of a package in EXERCISE_DIRS")
        check.add_argument("--json", action="store_true", help="Print exactly one JSON object")
        check.add_argument(
            "--executor",
            choices=EXECUTORS,
            default="sandbox",
            help="sandbox (bubblewrap); forkserver runs candidate code UNSANDBOXED, for development only",
        )
        check.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL, help="Gradings at once")
        check.add_argument(
            "--workers", type=int, default=DEFAULT_WORKERS_PER_GRADING, help="Probes at once per grading"
        )
        check.add_argument(
            "--submission",
            action="append",
            dest="only",
            metavar="NAME",
            help="Grade only this submission (repeatable); the package's own checks still run",
        )
        check.add_argument(
            "--skip-kit-tests",
            action="store_true",
            help="Do not run the starter kit's own tests in a fresh virtualenv (quick local runs; never in CI)",
        )

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "verify":
            self._verify(**options)

    def _verify(
        self,
        *,
        package: str,
        json: bool,
        executor: str,
        parallel: int,
        workers: int,
        only: list[str] | None,
        skip_kit_tests: bool,
        **options: Any,
    ) -> None:
        folder = self._find(package)
        if executor != "sandbox":
            self.stderr.write(self.style.WARNING(f"executor {executor}: candidate code runs UNSANDBOXED"))
        result = verify(
            folder,
            executor=executor,
            parallel=parallel,
            workers=workers,
            kit_tests=not skip_kit_tests,
            only=only or (),
            synced_checksum=lambda slug, version: exercise_version_checksum(slug=slug, version=version),
            progress=lambda message: self.stderr.write(message),
        )
        self.stdout.write(_dumps(result.to_json()) if json else result.render())
        if not result.ok:
            raise CommandError(f"verify {result.slug}: {len(result.all_problems)} problem(s); see above", returncode=1)

    def _find(self, package: str) -> Path:
        path = Path(package)
        if (path / "exercise.toml").is_file():
            return path.resolve()
        if "/" not in package:
            for base in settings.EXERCISE_DIRS:
                if (Path(base) / package / "exercise.toml").is_file():
                    return (Path(base) / package).resolve()
        dirs = ", ".join(str(d) for d in settings.EXERCISE_DIRS)
        raise CommandError(f"{package!r} is neither a package folder nor a slug found in EXERCISE_DIRS ({dirs})")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
