"""Verify an exercise package, in the spirit of Kattis's ``verifyproblem``: it grades the way it says.

``manage.py exercise verify <slug-or-path>`` is the command; everything but the database lookup
lives here, free of Django. One verification runs these checks and reports every failure, not
only the first:

1. **The reference passes every probe**, three runs in a row with identical outcomes per probe (a
   probe whose outcome differs between runs is reported as flaky).
2. **The starter kit stays at or under its ceiling**: the kit as a candidate downloads it (built by
   :func:`grader.starterkit.build_starter_kit`, unpacked as an upload) is graded, and its score is
   held to the ``max_score`` declared for it.
3. **Every example submission gets what ``submissions.toml`` says** (format below).
4. **The starter kit passes its own tests, alone**: unpacked in a temporary folder, a fresh
   virtualenv, ``pip install -r requirements.txt`` (the kit's own) and ``python -m pytest -q``.
5. **The brief, rubric and failure modes agree**: each declared failure mode has a probe and a rubric
   criterion naming it and is mentioned (slug or title) in ``brief.md``; probes and criteria name
   only declared modes.
6. **The files match the synced version's checksum**: the caller passes a lookup of the checksum
   recorded for (slug, version); the management command reads it from the database.

Every submission is unpacked through :func:`grader.unpack.unpack_archive` with the package's
limits, as an upload is, and graded with the executor chosen (the bubblewrap sandbox by default).
An outcome ``error`` is the platform's: it never counts as a pass or a fail, and the verification
fails with "infrastructure error, re-run" so that a flaky machine is not taken for a broken package.

Scheduling, to keep a full verification within minutes on two cores: the timing-sensitive probes
(``exclusive``) of every grading run first, one grading at a time and nothing else beside them;
then the other probes of all gradings, ``parallel`` gradings at once, each with ``workers`` probes
at once. The kit's own tests run beside the second phase. Last, a ``long`` (timing) probe that did
not pass in the second phase while the machine was short of CPU (:mod:`grader.load`) is run again,
alone, where a pass could change the verdict (a ``must_pass`` probe, or a submission with a
``min_score``); the second run's result stands. A submission whose score is not bounded
(no ``min_score`` or ``max_score``: a mutant) is graded only on the probes its ``must_pass`` and
``must_fail`` name.

``submissions.toml``
--------------------
At the package root, next to ``exercise.toml``::

    [[submission]]
    name = "reference"          # unique; shown in the table
    path = "reference"          # a folder of the package holding a submission (relative)
    runs = 3                    # optional (default 1): every run must give identical outcomes
    must_pass = ["*"]           # optional: probe-id globs (fnmatch) whose probes must all pass
    must_fail = []              # optional: probe-id globs whose probes must all fail
    min_score = 0.0             # optional: points over probes, at least (a pass is 1, a graded probe its score)
    max_score = 1.0             # optional: at most (the starter's ceiling goes here)
    description = "..."         # optional, one line

    [[submission]]
    name = "mutants/no-retry"
    base = "reference"          # instead of path: a copy of another submission's folder, with edits
    description = "One attempt per request: the retry loop is gone."
    must_fail = ["transient-overloaded-then-ok", "transient-server-error-then-ok"]
    must_pass = ["output-*", "grounding-*"]
    [[submission.edit]]
    file = "helpdesk/model.py"  # relative to the submission root
    find = "exact text"         # must occur exactly once in the file, else the package is broken
    replace = "new text"

Rules, each a package error when broken: every submission has exactly one of ``path`` and
``base``; ``base`` names another submission (chains are fine, cycles are not) and ``edit`` is only
allowed with it, applied in order; ``path`` stays inside the package; every glob matches at least
one probe, and no probe is matched by both ``must_pass`` and ``must_fail``; ``0 <= min_score <=
max_score <= 1``; unknown keys are refused (a misspelt ``must_fial`` would silently check nothing).
``path = "starter"`` is graded as the built kit, never as the raw folder. The file must declare
``name = "reference"`` (``path = "reference"``, ``runs`` at least 3, ``must_pass`` covering every
probe) and ``name = "starter"`` (``path = "starter"`` with an explicit ``max_score``: its ceiling).
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from grader.executors import Executor, ExecutorError, ForkServerExecutor
from grader.package import ExercisePackage
from grader.runner import (
    Exercise,
    GradeReport,
    GradingError,
    ProbeOutcome,
    busy_note,
    grade,
    load_exercise,
    points_text,
    timing_failure_on_a_busy_machine,
)
from grader.sandbox import SandboxExecutor
from grader.starterkit import build_starter_kit
from grader.unpack import ArchiveLimits, ArchiveRejected, unpack_archive, zip_folder

SUBMISSIONS_FILE = "submissions.toml"
REFERENCE = "reference"
STARTER = "starter"
REFERENCE_RUNS = 3
DEFAULT_PARALLEL = 2
DEFAULT_WORKERS_PER_GRADING = 4
KIT_VENV_TIMEOUT_S = 180
KIT_INSTALL_TIMEOUT_S = 600
KIT_PYTEST_TIMEOUT_S = 300
OUTPUT_TAIL = 3_000
EXECUTORS = ("sandbox", "forkserver")
INFRA = "infrastructure error, re-run"
MARK = "!"

_KEYS = {"name", "path", "base", "runs", "must_pass", "must_fail", "min_score", "max_score", "description", "edit"}
_EDIT_KEYS = {"file", "find", "replace"}
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv", ".git"}


# --------------------------------------------------------------------------------------------
# submissions.toml
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    file: str
    find: str
    replace: str


@dataclass(frozen=True)
class SubmissionSpec:
    """One ``[[submission]]`` of ``submissions.toml``."""

    name: str
    path: str | None = None
    base: str | None = None
    runs: int = 1
    must_pass: tuple[str, ...] = ()
    must_fail: tuple[str, ...] = ()
    min_score: float = 0.0
    max_score: float = 1.0
    description: str = ""
    edits: tuple[Edit, ...] = ()
    declared: frozenset[str] = frozenset()  # the keys the file set (a ceiling must be explicit)

    def matched(self, globs: Sequence[str], probe_ids: Sequence[str]) -> list[str]:
        """The probe ids any of ``globs`` matches, in the package's order."""
        return [p for p in probe_ids if any(fnmatch.fnmatchcase(p, g) for g in globs)]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "base": self.base,
            "runs": self.runs,
            "must_pass": list(self.must_pass),
            "must_fail": list(self.must_fail),
            "min_score": self.min_score,
            "max_score": self.max_score,
            "description": self.description,
            "edits": len(self.edits),
        }


def _strings(value: object) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    return None


def _score(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        return None
    return float(value)


def _edits(where: str, data: object, problems: list[str]) -> tuple[Edit, ...]:
    if not isinstance(data, list):
        problems.append(f"{where}: [[submission.edit]] must be a list of tables")
        return ()
    edits = []
    for n, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            problems.append(f"{where}: edit {n} must be a table")
            continue
        unknown = sorted(set(item) - _EDIT_KEYS)
        if unknown:
            problems.append(f"{where}: edit {n} has unknown keys {', '.join(unknown)}")
        file, find, replace = item.get("file"), item.get("find"), item.get("replace")
        if not isinstance(file, str) or not file or not isinstance(find, str) or not find:
            problems.append(f"{where}: edit {n} needs a 'file' and a non-empty 'find'")
            continue
        if not isinstance(replace, str):
            problems.append(f"{where}: edit {n} needs a 'replace' (a string, possibly empty)")
            continue
        edits.append(Edit(file, find, replace))
    return tuple(edits)


def _spec(n: int, item: object, problems: list[str]) -> SubmissionSpec | None:
    if not isinstance(item, dict):
        problems.append(f"{SUBMISSIONS_FILE}: submission {n} must be a table")
        return None
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{SUBMISSIONS_FILE}: submission {n} has no name")
        return None
    where = f"{SUBMISSIONS_FILE}: submission {name!r}"
    before = len(problems)
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        problems.append(f"{where} has unknown keys {', '.join(unknown)}")
    path, base = item.get("path"), item.get("base")
    if (path is None) == (base is None):
        problems.append(f"{where} needs exactly one of 'path' and 'base'")
    for key, value in (("path", path), ("base", base), ("description", item.get("description", ""))):
        if value is not None and not isinstance(value, str):
            problems.append(f"{where}: {key} must be a string")
    runs = item.get("runs", 1)
    if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= 10:
        problems.append(f"{where}: runs must be an integer from 1 to 10")
    globs: dict[str, tuple[str, ...]] = {}
    for key in ("must_pass", "must_fail"):
        value = _strings(item.get(key, []))
        if value is None:
            problems.append(f"{where}: {key} must be a list of probe-id globs")
        globs[key] = value or ()
    scores: dict[str, float] = {}
    for key, default in (("min_score", 0.0), ("max_score", 1.0)):
        score = _score(item.get(key, default))
        if score is None:
            problems.append(f"{where}: {key} must be a number from 0 to 1 (a fraction of the probes)")
        scores[key] = default if score is None else score
    if scores["min_score"] > scores["max_score"]:
        problems.append(f"{where}: min_score {scores['min_score']} is above max_score {scores['max_score']}")
    edits = _edits(where, item.get("edit", []), problems)
    if edits and base is None:
        problems.append(f"{where}: edits apply to a copy of a base submission; set 'base', not 'path'")
    description = item.get("description", "")
    if isinstance(description, str) and "\n" in description.strip():
        problems.append(f"{where}: the description is one line")
    if len(problems) > before:
        return None
    assert isinstance(runs, int)
    return SubmissionSpec(
        name=name,
        path=path if isinstance(path, str) else None,
        base=base if isinstance(base, str) else None,
        runs=runs,
        must_pass=globs["must_pass"],
        must_fail=globs["must_fail"],
        min_score=scores["min_score"],
        max_score=scores["max_score"],
        description=" ".join(str(description).split()),
        edits=edits,
        declared=frozenset(item),
    )


def read_submissions(package_dir: Path) -> tuple[list[SubmissionSpec], list[str]]:
    """The submissions the package declares, and every problem with the file (empty when sound).

    Checks what the file alone can tell: keys and types, unique names, ``path`` inside the package,
    ``base`` naming another submission without a cycle. See :func:`expectation_problems` for what
    needs the probes.
    """
    path = package_dir / SUBMISSIONS_FILE
    if not path.is_file():
        return [], [
            f'no {SUBMISSIONS_FILE}: declare at least the reference (runs = 3, must_pass = ["*"]) '
            "and the starter with its ceiling (max_score)"
        ]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return [], [f"{SUBMISSIONS_FILE}: not valid TOML ({exc})"]
    problems: list[str] = []
    unknown = sorted(set(data) - {"submission"})
    if unknown:
        problems.append(f"{SUBMISSIONS_FILE}: unknown top-level keys {', '.join(unknown)} (use [[submission]])")
    items = data.get("submission", [])
    if not isinstance(items, list) or not items:
        problems.append(f"{SUBMISSIONS_FILE}: declares no [[submission]]")
        return [], problems
    specs: list[SubmissionSpec] = []
    names: set[str] = set()
    for n, item in enumerate(items, start=1):
        spec = _spec(n, item, problems)
        if spec is None:
            continue
        if spec.name in names:
            problems.append(f"{SUBMISSIONS_FILE}: submission {spec.name!r} is declared twice")
            continue
        names.add(spec.name)
        specs.append(spec)
    root = package_dir.resolve()
    for spec in specs:
        where = f"{SUBMISSIONS_FILE}: submission {spec.name!r}"
        if spec.path is not None:
            target = (root / spec.path).resolve()
            if PurePosixPath(spec.path).is_absolute() or not target.is_relative_to(root) or target == root:
                problems.append(f"{where}: path {spec.path!r} must be a folder inside the package")
            elif not target.is_dir():
                problems.append(f"{where}: path {spec.path!r} is not a folder of the package")
        if spec.base is not None and spec.base not in names:
            problems.append(f"{where}: base {spec.base!r} is not a submission of this file")
    by_name = {s.name: s for s in specs}
    broken: set[str] = set()
    for spec in specs:
        chain = [spec.name]
        current = spec
        while current.base is not None:
            if current.base not in by_name or current.base in broken:
                broken.add(spec.name)
                break
            if current.base in chain:
                problems.append(f"{SUBMISSIONS_FILE}: bases form a cycle: {' -> '.join([*chain, current.base])}")
                broken.update(chain)
                break
            chain.append(current.base)
            current = by_name[current.base]
    # A submission that cannot be built is left out; the problems above say why.
    return [s for s in specs if s.name not in broken], problems


def expectation_problems(specs: Sequence[SubmissionSpec], probe_ids: Sequence[str]) -> dict[str, list[str]]:
    """Per submission name ("" for the file as a whole): expectations that cannot be checked as written."""
    problems: dict[str, list[str]] = {}
    for spec in specs:
        mine = problems.setdefault(spec.name, [])
        for key, globs in (("must_pass", spec.must_pass), ("must_fail", spec.must_fail)):
            for glob in globs:
                if not spec.matched([glob], probe_ids):
                    mine.append(f"{key} glob {glob!r} matches no probe")
        both = set(spec.matched(spec.must_pass, probe_ids)) & set(spec.matched(spec.must_fail, probe_ids))
        if both:
            mine.append(f"probes both in must_pass and must_fail: {', '.join(sorted(both))}")
    names = {s.name: s for s in specs}
    general = problems.setdefault("", [])
    reference = names.get(REFERENCE)
    if reference is None:
        general.append(
            f'{SUBMISSIONS_FILE} has no submission named "reference" (path = "reference", runs = 3, must_pass = ["*"])'
        )
    else:
        mine = problems[REFERENCE]
        if reference.path != REFERENCE:
            mine.append('the reference is graded from path = "reference"')
        if reference.runs < REFERENCE_RUNS:
            mine.append(f"the reference runs at least {REFERENCE_RUNS} times in a row (runs = {REFERENCE_RUNS})")
        missing = set(probe_ids) - set(reference.matched(reference.must_pass, probe_ids))
        if missing:
            mine.append(
                f'the reference must pass every probe (must_pass = ["*"]); not covered: {", ".join(sorted(missing))}'
            )
    starter = names.get(STARTER)
    if starter is None:
        general.append(
            f'{SUBMISSIONS_FILE} has no submission named "starter" (path = "starter", max_score = its ceiling)'
        )
    else:
        mine = problems[STARTER]
        if starter.path != STARTER:
            mine.append('the starter is graded from path = "starter" (the built kit)')
        if "max_score" not in starter.declared:
            mine.append("the starter declares no ceiling: set max_score")
    return {name: found for name, found in problems.items() if found}


# --------------------------------------------------------------------------------------------
# Turning a declared submission into a folder graded as an upload
# --------------------------------------------------------------------------------------------


class SubmissionError(Exception):
    """A declared submission cannot be built (an edit that does not apply, an archive refused)."""


class _Builder:
    """Source folders of the declared submissions, built once each, under ``tmp``."""

    def __init__(self, package: ExercisePackage, specs: Sequence[SubmissionSpec], tmp: Path) -> None:
        self.package, self.tmp = package, tmp
        self.by_name = {s.name: s for s in specs}
        self._sources: dict[str, Path] = {}
        self._count = 0

    def _fresh(self, kind: str) -> Path:
        self._count += 1
        return self.tmp / f"{kind}-{self._count}"

    def source(self, name: str) -> Path:
        """The submission's files as a folder (the package's own folder for ``path``, never written to)."""
        if name in self._sources:
            return self._sources[name]
        spec = self.by_name[name]
        if spec.path == STARTER:
            folder = self._fresh("kit")
            try:
                unpack_archive(build_starter_kit(self.package.path), folder, self._limits())
            except (ArchiveRejected, OSError, ValueError) as exc:
                raise SubmissionError(f"the starter kit cannot be built and unpacked as a download: {exc}") from exc
        elif spec.path is not None:
            folder = self.package.path / spec.path
        else:
            assert spec.base is not None
            folder = self._fresh("edited")
            shutil.copytree(self.source(spec.base), folder, ignore=shutil.ignore_patterns(*_SKIP_PARTS, "*.pyc"))
            for edit in spec.edits:
                _apply(folder, edit)
        self._sources[name] = folder
        return folder

    def _limits(self) -> ArchiveLimits:
        return ArchiveLimits.from_exercise(self.package.limits.to_json())

    def graded_folder(self, name: str) -> Path:
        """The submission zipped and unpacked exactly as an upload is, in a folder of its own."""
        source = self.source(name)
        target = self._fresh("graded")
        try:
            unpack_archive(zip_folder(source), target, self._limits(), strip_single_root=False)
        except ArchiveRejected as exc:
            raise SubmissionError(f"refused as an upload: {exc}") from exc
        return target


def _apply(root: Path, edit: Edit) -> None:
    rel = PurePosixPath(edit.file)
    target = (root / edit.file).resolve()
    if rel.is_absolute() or ".." in rel.parts or not target.is_relative_to(root.resolve()):
        raise SubmissionError(f"edit of {edit.file!r}: the file must be inside the submission")
    if not target.is_file():
        raise SubmissionError(f"edit of {edit.file!r}: no such file in the base submission")
    text = target.read_text(encoding="utf-8")
    count = text.count(edit.find)
    if count != 1:
        raise SubmissionError(
            f"edit of {edit.file!r}: the 'find' text occurs {count} times (it must occur exactly once): "
            f"{_one_line(edit.find, 80)!r}"
        )
    target.write_text(text.replace(edit.find, edit.replace), encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Check 5: the brief, the rubric and the failure modes agree
# --------------------------------------------------------------------------------------------


def consistency_problems(exercise: Exercise) -> list[str]:
    """Every declared failure mode is probed, scored by a rubric criterion and named in the brief."""
    package = exercise.package
    declared = package.mode_slugs
    problems: list[str] = []
    probed = {p.failure_mode for p in exercise.probes}
    for probe in exercise.probes:
        if probe.failure_mode not in declared:
            problems.append(f"probe {probe.id} names the undeclared failure mode {probe.failure_mode!r}")
    criteria = (package.rubric or {}).get("criteria", [])
    if package.rubric is None:
        problems.append("no rubric.toml in the package: no criterion can be checked against the failure modes")
    scored: set[str] = set()
    for criterion in criteria if isinstance(criteria, list) else []:
        modes = criterion.get("failure_modes", []) if isinstance(criterion, dict) else []
        for mode in modes:
            if mode not in declared:
                problems.append(
                    f"rubric criterion {criterion.get('slug')!r} names the undeclared failure mode {mode!r}"
                )
        scored.update(modes)
    brief_path = package.path / "brief.md"
    brief = brief_path.read_text(encoding="utf-8") if brief_path.is_file() else ""
    for mode in package.failure_modes:
        if mode.slug not in probed:
            problems.append(f"failure mode {mode.slug!r} has no probe")
        if package.rubric is not None and mode.slug not in scored:
            problems.append(f"failure mode {mode.slug!r} is named by no rubric criterion")
        if not any(_mentions(brief, words) for words in (mode.slug, mode.title)):
            problems.append(f"brief.md mentions failure mode {mode.slug!r} neither by slug nor by title {mode.title!r}")
    return problems


def _mentions(text: str, words: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(words)}(?!\w)", text, re.IGNORECASE) is not None


# --------------------------------------------------------------------------------------------
# Check 4: the starter kit, alone in a fresh virtualenv, passes its own tests
# --------------------------------------------------------------------------------------------


@dataclass
class KitTests:
    passed: bool
    summary: str  # one line: what ran, or why it failed
    detail: str = ""  # the tail of what failed (pip's or pytest's output)
    seconds: dict[str, float] = field(default_factory=dict)  # venv, install, pytest

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "summary": self.summary, "detail": self.detail, "seconds": self.seconds}


def _tail(*outputs: str | bytes | None, limit: int = OUTPUT_TAIL) -> str:
    text = "\n".join(o.decode("utf-8", "replace") if isinstance(o, bytes) else o for o in outputs if o)
    return text.strip()[-limit:]


def run_kit_tests(package_dir: Path, python: str | None = None) -> KitTests:
    """Unpack the kit alone, make a fresh virtualenv, install its requirements and run its tests.

    Nothing of this project is visible to it: a venv without system site-packages, and an
    environment of PATH and HOME only.
    """
    python = python or sys.executable
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="kit-tests-") as tmp:
        home = Path(tmp)
        with zipfile.ZipFile(io.BytesIO(build_starter_kit(package_dir, root=""))) as kit:
            kit.extractall(home / "kit")
        root, venv = home / "kit", home / "venv"
        if not (root / "requirements.txt").is_file():
            return KitTests(False, "the kit has no requirements.txt: a candidate cannot set it up")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "PIP_NO_INPUT": "1"}
        steps: list[tuple[str, list[str], int]] = [
            ("venv", [python, "-m", "venv", str(venv)], KIT_VENV_TIMEOUT_S),
            (
                "install",
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "-q",
                    "-r",
                    str(root / "requirements.txt"),
                ],
                KIT_INSTALL_TIMEOUT_S,
            ),
            (
                "pytest",
                [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                KIT_PYTEST_TIMEOUT_S,
            ),
        ]
        what = {"venv": "creating the virtualenv", "install": "pip install -r requirements.txt", "pytest": "pytest"}
        output = ""
        for step, argv, timeout in steps:
            started = time.monotonic()
            # pip keeps its cache in the real HOME (downloads are shared between runs); the tests get the empty one.
            step_env = {**env, "HOME": os.environ.get("HOME", str(home))} if step == "install" else env
            try:
                done = subprocess.run(
                    argv, cwd=root, env=step_env, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL
                )
            except subprocess.TimeoutExpired as exc:
                seconds[step] = round(time.monotonic() - started, 1)
                return KitTests(
                    False, f"{what[step]} took more than {timeout} s", _tail(exc.stdout, exc.stderr), seconds
                )
            except OSError as exc:
                return KitTests(False, f"{what[step]} could not start: {exc}", "", seconds)
            seconds[step] = round(time.monotonic() - started, 1)
            if done.returncode != 0:
                summary = f"{what[step]} failed (exit {done.returncode})"
                if step == "pytest" and done.returncode == 5:
                    summary = "the kit's tests: pytest collected no tests"
                return KitTests(False, summary, _tail(done.stdout, done.stderr), seconds)
            output = _tail(done.stdout)
        last = _one_line(output.splitlines()[-1] if output else "", 120)
        return KitTests(True, f"the kit's own tests pass in a fresh virtualenv: {last}", "", seconds)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One reason the verification fails: a mismatch of one submission, or a problem of the package."""

    kind: str  # expectation | score | flaky | infra | submission | package | kit | consistency | checksum
    message: str
    submission: str = ""
    probe: str = ""
    mode: str = ""  # the failure mode of the probe, for the table's mark
    expected: str = ""
    got: str = ""

    def line(self) -> str:
        return f"{self.submission}: {self.message}" if self.submission else f"{self.kind}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "submission": self.submission,
            "probe": self.probe,
            "failure_mode": self.mode,
            "expected": self.expected,
            "got": self.got,
            "message": self.line(),
        }


@dataclass
class SubmissionResult:
    spec: SubmissionSpec
    reports: list[GradeReport] = field(default_factory=list)  # one per run
    problems: list[Problem] = field(default_factory=list)
    not_graded: str = ""  # why it was not graded, when it was not

    @property
    def ok(self) -> bool:
        return not self.problems and not self.not_graded

    @property
    def first(self) -> GradeReport | None:
        return self.reports[0] if self.reports else None

    def to_json(self) -> dict[str, Any]:
        first = self.first
        return {
            **self.spec.to_json(),
            "ok": self.ok,
            "not_graded": self.not_graded,
            "passed": first.passed if first else None,
            "total": first.total if first else None,
            "score": round(first.points / first.total, 4) if first and first.total else None,
            "by_failure_mode": first.by_failure_mode() if first else {},
            "outcomes": [{o.id: o.outcome for o in report.outcomes} for report in self.reports],
            "wall_s": [round(report.wall_s, 1) for report in self.reports],
            "problems": [p.to_json() for p in self.problems],
        }


@dataclass
class Verification:
    slug: str
    version: str
    path: Path
    checksum: str
    executor: str = ""
    sandboxed: bool = False
    failure_modes: tuple[str, ...] = ()
    submissions: list[SubmissionResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # the package's, not one submission's
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kit: KitTests | None = None
    wall_s: float = 0.0

    @property
    def all_problems(self) -> list[Problem]:
        """Every problem, a submission's first; one that was not graded without a problem saying why gets one."""
        found = []
        for sub in self.submissions:
            found += sub.problems
            if sub.not_graded and not sub.problems:
                found.append(Problem("submission", f"not graded: {sub.not_graded}", sub.spec.name))
        return found + self.problems

    @property
    def ok(self) -> bool:
        return not self.all_problems

    def to_json(self) -> dict[str, Any]:
        return {
            "exercise": self.slug,
            "version": self.version,
            "path": str(self.path),
            "checksum": self.checksum,
            "executor": self.executor,
            "sandboxed": self.sandboxed,
            "ok": self.ok,
            "wall_s": round(self.wall_s, 1),
            "failure_modes": list(self.failure_modes),
            "submissions": [s.to_json() for s in self.submissions],
            "problems": [p.to_json() for p in self.all_problems],
            "warnings": self.warnings,
            "notes": self.notes,
            "kit_tests": self.kit.to_json() if self.kit else None,
        }

    def render(self) -> str:
        """The table (rows: submissions; columns: failure modes), then one line per problem."""
        mode = "SANDBOXED" if self.sandboxed else "UNSANDBOXED (development only: candidate code ran without a sandbox)"
        lines = [
            f"{self.slug} {self.version} (checksum {self.checksum[:12]}): executor {self.executor or '-'}, {mode}; "
            f"{_duration(self.wall_s)}"
        ]
        lines += _table(self)
        problems = self.all_problems
        lines.append("")
        if problems:
            lines.append(f"Problems ({len(problems)}):")
            lines += [f"  {p.line()}" for p in problems]
            if self.kit is not None and not self.kit.passed and self.kit.detail:
                lines.append("  the kit's output, its tail:")
                lines += [f"    {line}" for line in self.kit.detail.splitlines()]
        for title, items in (("Warnings", self.warnings), ("Notes", self.notes)):
            if items:
                lines.append(f"{title}:")
                lines += [f"  {item}" for item in items]
        verdict = "OK" if self.ok else f"FAIL ({len(problems)} problem{'s' if len(problems) != 1 else ''})"
        lines.append(f"verify {self.slug} {self.version}: {verdict}")
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _table(result: Verification) -> list[str]:
    modes = list(result.failure_modes)
    rows: list[list[str]] = []
    for sub in result.submissions:
        name = sub.spec.name + (f" x{sub.spec.runs}" if sub.spec.runs > 1 else "")
        first = sub.first
        if first is None:
            rows.append([name, *["-" for _ in modes], "not graded", "FAIL"])
            continue
        counts = first.by_failure_mode()
        points = first.points_by_failure_mode()
        marked = {p.mode for p in sub.problems if p.mode}
        cells = []
        for mode in modes:
            c = counts.get(mode)
            cell = f"{points_text(points[mode])}/{c['total']}" if c else "-"
            cells.append(cell + (MARK if mode in marked else ""))
        score_mark = MARK if any(p.kind == "score" for p in sub.problems) else ""
        score = f"{_score_text(first)} {first.points / first.total:.2f}{score_mark}" if first.total else "-"
        rows.append([name, *cells, score, "OK" if sub.ok else "FAIL"])
    header = ["submission", *modes, "score", ""]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    out.append(
        f"({MARK}: an expectation on this cell failed; cells count the first run's points/total: "
        "a pass is 1, a graded probe its score)"
    )
    return out


def _score_text(report: GradeReport) -> str:
    return f"{points_text(report.points)}/{report.total}"


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# Judging the gradings against the expectations
# --------------------------------------------------------------------------------------------


def judge(spec: SubmissionSpec, reports: Sequence[GradeReport], probe_ids: Sequence[str]) -> list[Problem]:
    """Every way the runs of one submission differ from what ``spec`` says, errors apart."""
    problems: list[Problem] = []
    must = [(pid, "pass") for pid in spec.matched(spec.must_pass, probe_ids)]
    must += [(pid, "fail") for pid in spec.matched(spec.must_fail, probe_ids)]
    seen: dict[tuple[str, str, str], list[int]] = {}
    details: dict[tuple[str, str, str], ProbeOutcome] = {}
    for run, report in enumerate(reports, start=1):
        outcomes = {o.id: o for o in report.outcomes}
        errors = [o for o in report.outcomes if o.outcome == "error"]
        for o in errors:
            key = ("error", o.id, "")
            seen.setdefault(key, []).append(run)
            details.setdefault(key, o)
        for pid, expected in must:
            got = outcomes.get(pid)
            if got is None or got.outcome in ("error", expected):
                continue
            key = ("expectation", pid, expected)
            seen.setdefault(key, []).append(run)
            details.setdefault(key, got)
        if errors or not report.total:
            continue
        score = report.points / report.total
        runs = f" in run {run}" if len(reports) > 1 else ""
        if score < spec.min_score - 1e-9:
            problems.append(
                Problem(
                    "score",
                    f"score {score:.2f} ({_score_text(report)}) is below min_score {spec.min_score:g}{runs}",
                    spec.name,
                    expected=f">= {spec.min_score:g}",
                    got=f"{score:.4f}",
                )
            )
        if score > spec.max_score + 1e-9:
            problems.append(
                Problem(
                    "score",
                    f"score {score:.2f} ({_score_text(report)}) is above max_score {spec.max_score:g}{runs}",
                    spec.name,
                    expected=f"<= {spec.max_score:g}",
                    got=f"{score:.4f}",
                )
            )
    for (kind, pid, expected), runs_seen in seen.items():
        o = details[(kind, pid, expected)]
        where = f" (run {', '.join(map(str, runs_seen))} of {len(reports)})" if len(reports) > 1 else ""
        if kind == "error":
            problems.append(
                Problem(
                    "infra",
                    f"{pid}: {INFRA}{where}: {_one_line(o.reason)}",
                    spec.name,
                    pid,
                    o.failure_mode,
                    got="error",
                )
            )
        else:
            problems.append(
                Problem(
                    "expectation",
                    f"{pid} expected {expected}, got {o.outcome}{where} ({_one_line(o.reason)})",
                    spec.name,
                    pid,
                    o.failure_mode,
                    expected,
                    o.outcome,
                )
            )
    problems += _flaky(spec, reports)
    return problems


def _flaky(spec: SubmissionSpec, reports: Sequence[GradeReport]) -> list[Problem]:
    if len(reports) < 2:
        return []
    problems = []
    for first in reports[0].outcomes:
        runs = [next((o for o in r.outcomes if o.id == first.id), None) for r in reports]
        judged = [o.outcome for o in runs if o is not None and o.outcome != "error"]
        if len(set(judged)) > 1:
            sequence = ", ".join(o.outcome if o else "-" for o in runs)
            odd = next(o for o in runs if o is not None and o.outcome not in ("error", judged[0]))
            problems.append(
                Problem(
                    "flaky",
                    f"{first.id} is flaky: {sequence} in {len(reports)} runs ({_one_line(odd.reason)})",
                    spec.name,
                    first.id,
                    first.failure_mode,
                    "identical outcomes",
                    sequence,
                )
            )
    return problems


# --------------------------------------------------------------------------------------------
# The verification
# --------------------------------------------------------------------------------------------


@dataclass
class _Job:
    result: SubmissionResult
    run: int
    folder: Path
    parts: list[GradeReport] = field(default_factory=list)
    failed: str = ""


def _merge(exercise: Exercise, parts: Sequence[GradeReport]) -> GradeReport:
    by_id = {o.id: o for part in parts for o in part.outcomes}
    first = parts[0]
    return GradeReport(
        exercise=first.exercise,
        version=first.version,
        executor=first.executor,
        sandboxed=all(p.sandboxed for p in parts),
        outcomes=[by_id[p.id] for p in exercise.probes if p.id in by_id],
        wall_s=sum(p.wall_s for p in parts),
        retried_alone=[pid for part in parts for pid in part.retried_alone],
    )


def make_executor(name: str, preload: tuple[str, ...]) -> Executor:
    if name == "forkserver":
        return ForkServerExecutor(preload=preload)
    if name == "sandbox":
        return SandboxExecutor.from_settings()
    raise ValueError(f"unknown executor {name!r} (choose from {', '.join(EXECUTORS)})")


def verify(
    package_dir: Path | str,
    *,
    executor: str | Executor = "sandbox",
    parallel: int = DEFAULT_PARALLEL,
    workers: int = DEFAULT_WORKERS_PER_GRADING,
    kit_tests: bool = True,
    only: Sequence[str] = (),
    synced_checksum: Callable[[str, str], str | None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Verification:
    """Run every check on the package at ``package_dir`` and return what was found (never raises for a bad package).

    ``executor``: "sandbox" (bubblewrap, the default), "forkserver" (unsandboxed, development) or an
    executor to share (a test's). ``only`` grades just those submissions (the checks of the whole
    package still run). ``synced_checksum(slug, version)`` returns the checksum recorded when that
    version was synced, or None when it was not; leave it out where there is no database.
    """
    started = time.monotonic()
    say = progress or (lambda _message: None)
    root = Path(package_dir).resolve()
    try:
        exercise = load_exercise(root)
    except GradingError as exc:
        result = Verification(slug=root.name, version="?", path=root, checksum="")
        result.problems.append(Problem("package", str(exc)))
        result.wall_s = time.monotonic() - started
        return result
    package = exercise.package
    result = Verification(
        slug=package.slug,
        version=package.version,
        path=root,
        checksum=package.checksum,
        failure_modes=package.mode_slugs,
    )
    _check_checksum(result, synced_checksum)
    result.problems += [Problem("consistency", p) for p in consistency_problems(exercise)]

    probe_ids = [p.id for p in exercise.probes]
    specs, file_problems = read_submissions(root)
    result.problems += [Problem("package", p) for p in file_problems]
    per_spec = expectation_problems(specs, probe_ids)
    result.problems += [Problem("package", p) for p in per_spec.pop("", [])]
    unknown = sorted(set(only) - {s.name for s in specs})
    if unknown:
        result.problems.append(Problem("package", f"no submission named {', '.join(map(repr, unknown))} to grade"))
    chosen = [s for s in specs if not only or s.name in only]
    result.submissions = [SubmissionResult(spec) for spec in chosen]
    for sub in result.submissions:
        for message in per_spec.get(sub.spec.name, []):
            sub.problems.append(Problem("submission", f"package error: {message}", sub.spec.name))
            sub.not_graded = sub.not_graded or "its declaration in submissions.toml is broken"

    name = executor if isinstance(executor, str) else getattr(executor, "name", type(executor).__name__)
    try:
        runner = make_executor(executor, exercise.preload) if isinstance(executor, str) else executor
        runner.start()
    except (ExecutorError, ValueError) as exc:
        result.executor = str(name)
        result.problems.append(Problem("infra", f"grading could not start ({name}): {exc}; {INFRA}"))
        for sub in result.submissions:
            sub.not_graded = sub.not_graded or "the executor could not start"
        result.wall_s = time.monotonic() - started
        return result
    result.executor = str(getattr(runner, "name", name))
    result.sandboxed = bool(getattr(runner, "sandboxed", False))
    try:
        with tempfile.TemporaryDirectory(prefix=f"verify-{package.slug}-") as tmp:
            jobs = _jobs(package, specs, result.submissions, Path(tmp))
            _run(exercise, jobs, runner, parallel, workers, kit_tests, result, say)
    finally:
        if isinstance(executor, str):
            runner.close()
    for sub in result.submissions:
        if sub.not_graded:
            continue
        sub.problems += judge(sub.spec, sub.reports, probe_ids)
    result.wall_s = time.monotonic() - started
    return result


def _check_checksum(result: Verification, lookup: Callable[[str, str], str | None] | None) -> None:
    if lookup is None:
        result.notes.append("checksum: not compared with a synced version (no database)")
        return
    try:
        recorded = lookup(result.slug, result.version)
    except Exception as exc:  # the lookup is the caller's (a database): its failure is a note, not a verdict
        result.notes.append(
            f"checksum: not compared with a synced version ({type(exc).__name__}: {_one_line(str(exc))})"
        )
        return
    if recorded is None:
        result.notes.append(f"checksum: {result.slug} {result.version} is not synced yet")
    elif recorded != result.checksum:
        result.problems.append(
            Problem(
                "checksum",
                f"files changed under version {result.version}: bump the version "
                f"(synced {recorded[:12]}, the files now {result.checksum[:12]})",
            )
        )
    else:
        result.notes.append(f"checksum: the files are those synced as {result.slug} {result.version}")


def _jobs(
    package: ExercisePackage, specs: Sequence[SubmissionSpec], subs: Sequence[SubmissionResult], tmp: Path
) -> list[_Job]:
    builder = _Builder(package, specs, tmp)
    jobs = []
    for sub in subs:
        if sub.not_graded:
            continue
        try:
            folders = [builder.graded_folder(sub.spec.name) for _ in range(sub.spec.runs)]
        except SubmissionError as exc:
            sub.problems.append(Problem("submission", f"package error: {exc}", sub.spec.name))
            sub.not_graded = "it cannot be built"
            continue
        jobs += [_Job(sub, run, folder) for run, folder in enumerate(folders, start=1)]
    return jobs


def _label(job: _Job) -> str:
    runs = job.result.spec.runs
    return job.result.spec.name + (f" (run {job.run} of {runs})" if runs > 1 else "")


def probes_needed(spec: SubmissionSpec, probe_ids: Sequence[str]) -> set[str]:
    """The probes a submission must be graded on: all of them when its score is bounded (a score is
    over every probe), else only those its ``must_pass`` and ``must_fail`` name. A mutant that
    names its few probes costs those, not the whole package (verify stays within minutes)."""
    if {"min_score", "max_score"} & spec.declared:
        return set(probe_ids)
    return set(spec.matched((*spec.must_pass, *spec.must_fail), probe_ids))


def _run(
    exercise: Exercise,
    jobs: list[_Job],
    executor: Executor,
    parallel: int,
    workers: int,
    kit_tests: bool,
    result: Verification,
    say: Callable[[str], None],
) -> None:
    exclusive = [p.id for p in exercise.probes if p.exclusive]
    rest = [p.id for p in exercise.probes if not p.exclusive]
    say(
        f"verify {exercise.slug} {exercise.version}: {len(jobs)} grading(s) of {len({id(j.result) for j in jobs})} "
        f"submission(s), {len(exercise.probes)} probes each, executor {result.executor}"
        f"{'' if result.sandboxed else ' (UNSANDBOXED)'}"
    )

    done = 0
    lock = threading.Lock()
    all_ids = [p.id for p in exercise.probes]
    needed = {id(job): probes_needed(job.result.spec, all_ids) for job in jobs}

    def phase(probe_ids: list[str]) -> list[_Job]:
        return [job for job in jobs if needed[id(job)] & set(probe_ids)]

    def grade_part(job: _Job, probe_ids: list[str], alone: bool, of: int, rerun_starved: bool = True) -> None:
        nonlocal done
        probe_ids = [pid for pid in probe_ids if pid in needed[id(job)]]
        if job.failed or not probe_ids:
            return
        started = time.monotonic()
        try:
            report = grade(
                job.folder,
                exercise.path,
                probe_ids=probe_ids,
                executor=executor,
                workers=1 if alone else max(1, workers),
                rerun_starved=alone and rerun_starved,  # beside other gradings a rerun is as busy: see below
            )
        except (GradingError, ExecutorError) as exc:
            job.failed = f"grading could not run: {exc}"
            say(f"  {_label(job)}: {job.failed}")
            return
        job.parts.append(report)
        errors = f", {report.infra_errors} infrastructure error(s)" if report.infra_errors else ""
        busy = sum("run again alone: the first run" in o.reason for o in report.outcomes)
        errors += f", {busy} run again on a busy machine" if busy else ""
        with lock:
            done += 1
            count = f"[{done}/{of}]"
        took = time.monotonic() - started
        points = f" (points {_score_text(report)})" if report.has_graded else ""
        say(f"  {count} {_label(job)}: {report.passed}/{report.total} passed{points} in {took:.0f} s{errors}")

    if exclusive:
        say(f"timing-sensitive probes ({', '.join(exclusive)}), one grading at a time, nothing beside them:")
        for job in phase(exclusive):
            grade_part(job, exclusive, alone=True, of=len(phase(exclusive)))

    kit_thread: threading.Thread | None = None
    if kit_tests:

        def kit() -> None:
            try:
                result.kit = run_kit_tests(exercise.path)
            except Exception as exc:  # a bug here must fail the verification, not vanish with the thread
                result.kit = KitTests(False, f"the kit tests could not run: {type(exc).__name__}: {exc}")
            verdict = "passed" if result.kit.passed else "FAILED"
            say(f"  kit tests: {verdict} ({result.kit.summary}; {_seconds(result.kit.seconds)})")

        say("the starter kit's own tests, in a fresh virtualenv (beside the gradings):")
        kit_thread = threading.Thread(target=kit, name="kit-tests", daemon=True)
        kit_thread.start()
    else:
        result.warnings.append("the starter kit's own tests were skipped (--skip-kit-tests): CI must not skip them")

    done = 0
    say(f"the other probes, {max(1, parallel)} grading(s) at a time, {max(1, workers)} probes each:")
    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="verify") as pool:
        list(pool.map(lambda job: grade_part(job, rest, alone=False, of=len(phase(rest))), phase(rest)))
    if kit_thread is not None:
        kit_thread.join()
        if result.kit is not None and not result.kit.passed:
            result.problems.append(Problem("kit", result.kit.summary))
        elif result.kit is not None:
            result.notes.append(f"kit tests: {result.kit.summary} ({_seconds(result.kit.seconds)})")

    # A timing probe that did not pass while the machine was short of CPU (three gradings and the kit's
    # virtualenv beside it) is run again here, one at a time with nothing beside it, as the runner
    # does in production; the second run's result stands. Only where a pass could change the verdict:
    # a probe the submission must pass, or any when its score has a floor. A failure can only lower a
    # score, so a ceiling or a must_fail is checked as well by the busy run (and the reruns of a
    # starter's long probes would cost minutes).
    by_id = {p.id: p for p in exercise.probes}

    def matters(job: _Job, outcome: ProbeOutcome) -> bool:
        spec = job.result.spec
        return "min_score" in spec.declared or outcome.id in spec.matched(spec.must_pass, [outcome.id])

    busy = [
        (
            job,
            [o for o in job.parts[-1].outcomes if timing_failure_on_a_busy_machine(by_id[o.id], o) and matters(job, o)],
        )
        for job in phase(rest)
        if not job.failed and job.parts
    ]
    busy = [(job, outcomes) for job, outcomes in busy if outcomes]
    if busy:
        say(f"timing probes that did not pass on a busy machine, again with nothing beside them ({len(busy)}):")
        done = 0
        for job, outcomes in busy:
            before = len(job.parts)
            grade_part(job, [o.id for o in outcomes], alone=True, of=len(busy), rerun_starved=False)
            if len(job.parts) > before:
                first = {o.id: o for o in outcomes}
                for outcome in job.parts[-1].outcomes:
                    outcome.reason = f"{outcome.reason} ({busy_note(first[outcome.id])})"[:2_000]
                job.parts[-1].retried_alone.extend(first)

    for job in jobs:
        if job.failed:
            job.result.problems.append(Problem("infra", f"{job.failed}; {INFRA}", job.result.spec.name))
            continue
        job.result.reports.append(_merge(exercise, job.parts))


def _seconds(seconds: dict[str, float]) -> str:
    return ", ".join(f"{step} {value:.0f} s" for step, value in seconds.items())


def dumps(result: Verification) -> str:
    return json.dumps(result.to_json(), ensure_ascii=False)
