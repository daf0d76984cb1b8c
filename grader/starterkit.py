"""Build the starter-kit zip that candidates download, from an exercise package.

The kit is the package's ``starter/`` folder (the flaky feature, its public tests, the public
corpus in ``docs/``, the public responder, launcher and fault scripts in ``devtools/``) plus the
fake model: every ``.py`` of the ``grader/fakemodel/`` package, copied to ``devtools/fakemodel/``
at build time so that the kit always ships the fake the platform grades with. The package imports
nothing outside itself, so it runs there as ``python devtools/fakemodel`` or ``import fakemodel``.
Nothing else from ``grader/``, and nothing from ``hidden/`` or ``reference/``, goes in.

The zip is deterministic (sorted entries, fixed timestamps and permissions), so the same package
always gives the same bytes and the portal can cache it by checksum.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

FAKEMODEL = Path(__file__).resolve().parent / "fakemodel"
BUNDLED_FAKEMODEL = "devtools/fakemodel"
_EPOCH = (2025, 1, 1, 0, 0, 0)
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".venv", ".git"}


def kit_files(exercise_dir: Path | str) -> dict[str, bytes]:
    """Archive path -> content for every file of the kit (the root folder is ``<slug>-starter/``)."""
    exercise_dir = Path(exercise_dir)
    starter = exercise_dir / "starter"
    if not starter.is_dir():
        raise FileNotFoundError(f"{starter} does not exist")
    files: dict[str, bytes] = {}
    for path in sorted(starter.rglob("*")):
        rel = path.relative_to(starter)
        if any(part in _SKIP_PARTS for part in rel.parts) or path.suffix == ".pyc" or not path.is_file():
            continue
        if path.is_symlink():
            raise ValueError(f"{path} is a symlink; the kit must hold plain files")
        files[rel.as_posix()] = path.read_bytes()
    # Nor the single file older kits shipped: beside the bundled package it would only mislead.
    clashing = [rel for rel in files if rel == f"{BUNDLED_FAKEMODEL}.py" or rel.startswith(f"{BUNDLED_FAKEMODEL}/")]
    if clashing:
        raise ValueError(f"{starter / clashing[0]} must not exist: the fake is bundled at build time")
    files.update(fakemodel_files())
    return dict(sorted(files.items()))


def fakemodel_files() -> dict[str, bytes]:
    """Kit path -> content for each module of the fake (``devtools/fakemodel/*.py``)."""
    return {f"{BUNDLED_FAKEMODEL}/{path.name}": path.read_bytes() for path in sorted(FAKEMODEL.glob("*.py"))}


def build_starter_kit(exercise_dir: Path | str, root: str | None = None) -> bytes:
    """The kit as zip bytes; entries live under ``root`` (default ``<exercise folder name>-starter``)."""
    exercise_dir = Path(exercise_dir)
    root = root if root is not None else f"{exercise_dir.name}-starter"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for rel, content in kit_files(exercise_dir).items():
            info = zipfile.ZipInfo(f"{root}/{rel}" if root else rel, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buffer.getvalue()
