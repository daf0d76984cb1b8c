"""Reading exercise packages from disk (no database here).

A package is a folder with `exercise.toml`; see DESIGN.md for the layout. The checksum
covers every file in the folder, so changing a probe or an article without bumping the
version is caught by `sync_exercises`.
"""

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".git"}
REQUIRED = ("slug", "title", "version", "time_limit_minutes", "entry_point", "rubric")


class PackageError(Exception):
    """A package that cannot be loaded; the message names the file and the problem."""


@dataclass(frozen=True)
class ExercisePackage:
    path: Path
    slug: str
    title: str
    version: str
    summary: str
    time_limit_minutes: int
    entry_point: str
    rubric_slug: str
    limits: dict = field(default_factory=dict)
    rubric: dict | None = None
    checksum: str = ""


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


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise PackageError(f"{path}: not valid TOML ({exc})") from exc


def load_package(root: Path) -> ExercisePackage:
    manifest_path = root / "exercise.toml"
    if not manifest_path.is_file():
        raise PackageError(f"{root}: no exercise.toml")
    data = _read_toml(manifest_path)
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise PackageError(f"{manifest_path}: missing {', '.join(missing)}")
    if not isinstance(data["time_limit_minutes"], int) or data["time_limit_minutes"] <= 0:
        raise PackageError(f"{manifest_path}: time_limit_minutes must be a positive integer")
    if root.name != data["slug"]:
        raise PackageError(f"{manifest_path}: slug '{data['slug']}' does not match the folder name '{root.name}'")
    if not (root / "brief.md").is_file():
        raise PackageError(f"{root}: no brief.md (what the candidate reads)")
    rubric = None
    rubric_path = root / "rubric.toml"
    if rubric_path.is_file():
        rubric = _read_toml(rubric_path)
        if rubric.get("slug") != data["rubric"]:
            raise PackageError(
                f"{rubric_path}: slug '{rubric.get('slug')}' is not the rubric "
                f"'{data['rubric']}' named in exercise.toml"
            )
    return ExercisePackage(
        path=root.resolve(),
        slug=data["slug"],
        title=data["title"],
        version=str(data["version"]),
        summary=data.get("summary", ""),
        time_limit_minutes=data["time_limit_minutes"],
        entry_point=data["entry_point"],
        rubric_slug=data["rubric"],
        limits=dict(data.get("limits", {})),
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
