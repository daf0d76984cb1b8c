"""Reading exercise packages from disk: the one typed loader of ``exercise.toml`` (no Django here).

A package is a folder with ``exercise.toml``; ``exercises/README.md`` is the authoring guide and
the specification of every key read here. The checksum covers every file in the folder, so
changing a probe or an article without bumping the version is caught by ``sync_exercises``.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.schema import schema_problems

IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".git"}
REQUIRED = ("slug", "title", "version", "time_limit_minutes", "rubric", "contract", "failure_modes")
OPTIONAL = ("summary", "limits")
_SLUG = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_ENTRY_POINT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
MAX_CONCURRENCY = 64
MAX_CALL_TIMEOUT_S = 300.0


class PackageError(Exception):
    """A package that cannot be loaded; the message names the file and the problem."""


@dataclass(frozen=True)
class FailureMode:
    """One failure mode a package probes: ``hint`` is shown to candidates, ``description`` to staff."""

    slug: str
    title: str
    hint: str
    description: str

    def to_json(self) -> dict[str, str]:
        return {"slug": self.slug, "title": self.title, "hint": self.hint, "description": self.description}


@dataclass(frozen=True)
class Contract:
    """What the entry point takes and returns, and how it is called.

    ``input`` and ``output`` are JSON Schemas (the subset in :mod:`grader.schema`). Each call gets
    one JSON value valid against ``input``; whatever it returns is kept as plain JSON and checked
    against ``output`` by the runner, outside the candidate's process.
    """

    entry_point: str
    input: dict[str, Any]
    output: dict[str, Any]
    call_timeout_s: float = 20.0
    concurrency: int = 32  # the most calls a probe may make at once

    def to_json(self) -> dict[str, Any]:
        return {
            "entry_point": self.entry_point,
            "input": self.input,
            "output": self.output,
            "call_timeout_s": self.call_timeout_s,
            "concurrency": self.concurrency,
        }


@dataclass(frozen=True)
class Limits:
    """What an upload may be (checked when it is received and again when it is unpacked)."""

    max_compressed_bytes: int = 5 * 1024 * 1024
    max_uncompressed_bytes: int = 50 * 1024 * 1024
    max_files: int = 500
    max_depth: int = 20

    @classmethod
    def from_exercise(cls, limits: dict[str, Any] | None) -> Limits:
        """From the JSON an exercise version stored at sync (``to_json``); missing keys take the defaults."""
        limits = limits or {}
        default = cls()
        return cls(
            max_compressed_bytes=int(limits.get("max_compressed_bytes", default.max_compressed_bytes)),
            max_uncompressed_bytes=int(limits.get("max_uncompressed_bytes", default.max_uncompressed_bytes)),
            max_files=int(limits.get("max_files", default.max_files)),
            max_depth=int(limits.get("max_depth", default.max_depth)),
        )

    def to_json(self) -> dict[str, int]:
        return {
            "max_compressed_bytes": self.max_compressed_bytes,
            "max_uncompressed_bytes": self.max_uncompressed_bytes,
            "max_files": self.max_files,
            "max_depth": self.max_depth,
        }


@dataclass(frozen=True)
class ExercisePackage:
    path: Path
    slug: str
    title: str
    version: str
    summary: str
    time_limit_minutes: int
    rubric_slug: str
    contract: Contract
    failure_modes: tuple[FailureMode, ...]
    limits: Limits = field(default_factory=Limits)
    rubric: dict[str, Any] | None = None
    checksum: str = ""

    @property
    def entry_point(self) -> str:
        return self.contract.entry_point

    @property
    def mode_slugs(self) -> tuple[str, ...]:
        return tuple(m.slug for m in self.failure_modes)


def package_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in IGNORED_PARTS for part in rel.parts) or path.suffix == ".pyc":
            continue
        if path.is_file():
            files.append(path)
    return files


def package_checksum(root: Path) -> str:
    digest = hashlib.sha256()
    for path in package_files(root):
        rel = path.relative_to(root).as_posix().encode()
        digest.update(len(rel).to_bytes(4, "big") + rel)
        content = path.read_bytes()
        digest.update(len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise PackageError(f"{path}: not valid TOML ({exc})") from exc


def _schema(root: Path, manifest: Path, value: object, where: str) -> dict[str, Any]:
    """An inline table, or the path (inside the package) of a ``.json`` file holding the schema."""
    if isinstance(value, str):
        path = (root / value).resolve()
        if not path.is_relative_to(root.resolve()) or not path.is_file():
            raise PackageError(f"{manifest}: {where} names {value!r}, which is not a file in the package")
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise PackageError(f"{path}: not valid JSON ({exc})") from exc
    problems = schema_problems(value, where)
    if problems:
        raise PackageError(f"{manifest}: {'; '.join(problems[:5])}")
    assert isinstance(value, dict)
    return value


def _contract(root: Path, manifest: Path, data: object) -> Contract:
    if not isinstance(data, dict):
        raise PackageError(f"{manifest}: [contract] must be a table")
    missing = [key for key in ("entry_point", "input", "output") if key not in data]
    if missing:
        raise PackageError(f"{manifest}: [contract] lacks {', '.join(missing)}")
    unknown = sorted(set(data) - {"entry_point", "input", "output", "call_timeout_s", "concurrency"})
    if unknown:
        raise PackageError(f"{manifest}: [contract] has unknown keys {', '.join(unknown)}")
    entry_point = data["entry_point"]
    if not isinstance(entry_point, str) or not _ENTRY_POINT.match(entry_point):
        raise PackageError(f"{manifest}: contract.entry_point must look like 'package.module:function'")
    timeout = data.get("call_timeout_s", 20)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_CALL_TIMEOUT_S:
        raise PackageError(f"{manifest}: contract.call_timeout_s must be a number of seconds in (0, 300]")
    concurrency = data.get("concurrency", 32)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise PackageError(f"{manifest}: contract.concurrency must be an integer from 1 to {MAX_CONCURRENCY}")
    return Contract(
        entry_point=entry_point,
        input=_schema(root, manifest, data["input"], "contract.input"),
        output=_schema(root, manifest, data["output"], "contract.output"),
        call_timeout_s=float(timeout),
        concurrency=concurrency,
    )


def _failure_modes(manifest: Path, data: object) -> tuple[FailureMode, ...]:
    if not isinstance(data, list) or not data:
        raise PackageError(f"{manifest}: [[failure_modes]] must declare at least one failure mode")
    modes: list[FailureMode] = []
    for n, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise PackageError(f"{manifest}: failure mode {n} must be a table")
        missing = [key for key in ("slug", "title", "hint", "description") if not str(item.get(key, "")).strip()]
        if missing:
            raise PackageError(f"{manifest}: failure mode {n} lacks {', '.join(missing)}")
        unknown = sorted(set(item) - {"slug", "title", "hint", "description"})
        if unknown:
            raise PackageError(f"{manifest}: failure mode {n} has unknown keys {', '.join(unknown)}")
        slug = str(item["slug"])
        if not _SLUG.match(slug):
            raise PackageError(
                f"{manifest}: failure mode slug {slug!r} must be lower-case letters, digits and hyphens (at most 20)"
            )
        if any(m.slug == slug for m in modes):
            raise PackageError(f"{manifest}: failure mode {slug!r} is declared twice")
        hint = " ".join(str(item["hint"]).split())
        if len(hint) > 200:
            raise PackageError(f"{manifest}: failure mode {slug!r}: the hint is one line of at most 200 characters")
        modes.append(FailureMode(slug, str(item["title"]).strip(), hint, str(item["description"]).strip()))
    return tuple(modes)


def _limits(manifest: Path, data: object) -> Limits:
    if not isinstance(data, dict):
        raise PackageError(f"{manifest}: [limits] must be a table")
    default = Limits()
    values: dict[str, int] = {}
    for key in default.to_json():
        value = data.get(key, getattr(default, key))
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise PackageError(f"{manifest}: limits.{key} must be a positive integer")
        values[key] = value
    unknown = sorted(set(data) - set(values))
    if unknown:
        raise PackageError(
            f"{manifest}: [limits] has unknown keys {', '.join(unknown)} (call limits live in [contract])"
        )
    return Limits(**values)


def load_package(root: Path) -> ExercisePackage:
    """Read and check ``exercise.toml`` (and ``rubric.toml``): the one place a package is parsed."""
    root = Path(root)
    manifest_path = root / "exercise.toml"
    if not manifest_path.is_file():
        raise PackageError(f"{root}: no exercise.toml")
    data = _read_toml(manifest_path)
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        moved = " (entry_point now lives in [contract])" if "entry_point" in data and "contract" in missing else ""
        raise PackageError(f"{manifest_path}: missing {', '.join(missing)}{moved}")
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise PackageError(f"{manifest_path}: unknown keys {', '.join(unknown)}")
    if not isinstance(data["time_limit_minutes"], int) or data["time_limit_minutes"] <= 0:
        raise PackageError(f"{manifest_path}: time_limit_minutes must be a positive integer")
    if root.name != data["slug"]:
        raise PackageError(f"{manifest_path}: slug '{data['slug']}' does not match the folder name '{root.name}'")
    if not (root / "brief.md").is_file():
        raise PackageError(f"{root}: no brief.md (what the candidate reads)")
    contract = _contract(root, manifest_path, data["contract"])
    modes = _failure_modes(manifest_path, data["failure_modes"])
    rubric = None
    rubric_path = root / "rubric.toml"
    if rubric_path.is_file():
        rubric = _read_toml(rubric_path)
        if rubric.get("slug") != data["rubric"]:
            raise PackageError(
                f"{rubric_path}: slug '{rubric.get('slug')}' is not the rubric "
                f"'{data['rubric']}' named in exercise.toml"
            )
        declared = {m.slug for m in modes}
        for criterion in rubric.get("criteria", []):
            unknown = sorted(set(criterion.get("failure_modes", [])) - declared)
            if unknown:
                raise PackageError(
                    f"{rubric_path}: criterion {criterion.get('slug')!r} names failure modes "
                    f"{', '.join(unknown)} that exercise.toml does not declare"
                )
    return ExercisePackage(
        path=root.resolve(),
        slug=data["slug"],
        title=data["title"],
        version=str(data["version"]),
        summary=data.get("summary", ""),
        time_limit_minutes=data["time_limit_minutes"],
        rubric_slug=data["rubric"],
        contract=contract,
        failure_modes=modes,
        limits=_limits(manifest_path, data.get("limits", {})),
        rubric=rubric,
        checksum=package_checksum(root),
    )


def discover_packages(dirs: list[Path]) -> tuple[list[ExercisePackage], list[str]]:
    """Every package under the given folders, plus one error line per folder that failed to load."""
    packages, errors = [], []
    for base in dirs:
        if not base.is_dir():
            errors.append(f"{base}: not a folder (check EXERCISE_DIRS)")
            continue
        for candidate in sorted(p for p in base.iterdir() if p.is_dir() and (p / "exercise.toml").exists()):
            try:
                packages.append(load_package(candidate))
            except PackageError as exc:
                errors.append(str(exc))
    return packages, errors
