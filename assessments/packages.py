"""Every synced exercise version's files, kept by checksum where every host can read them.

``sync_exercises`` stores a version's files in the database (``PackageArchive``) beside its row;
any host that needs them (a worker grading a run of that version, the web building its starter
kit) unpacks them once into its local cache, ``EXERCISE_CACHE_DIR/<checksum>/<folder>``, and
checks them against the checksum before the first use. A run is therefore graded with exactly the
version it names, whatever the folder it was synced from holds today, on whichever host it runs.
"""

import gzip
import io
import logging
import os
import shutil
import tarfile
import tempfile
import time
import zlib
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from assessments.models import Exercise, PackageArchive
from grader.package import package_checksum, package_files

COMPLETE = ".complete"
# Every file's time in the archive (and so in a host's cache): fixed, for the same bytes every time,
# and after 1980, since tools zip these folders again (a zip cannot hold an earlier date).
FILE_MTIME = 946_684_800  # 2000-01-01

log = logging.getLogger(__name__)


class PackageUnavailable(Exception):
    """This host cannot get the files of an exercise version: an infrastructure fault, never the candidate's."""


def _archive_bytes(root: Path) -> tuple[bytes, int]:
    """A gzipped tar of the package's files (those its checksum covers), the same bytes every time."""
    raw = io.BytesIO()
    files = package_files(root)
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            info = tarfile.TarInfo(path.relative_to(root).as_posix())
            content = path.read_bytes()
            info.size = len(content)
            info.mtime = FILE_MTIME
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0), len(files)


def package_archive_store(*, root: Path, checksum: str) -> PackageArchive:
    """Keep the files of the package at ``root`` under ``checksum`` (once: the same checksum is the same files)."""
    existing = PackageArchive.objects.filter(checksum=checksum).first()
    if existing is not None:
        return existing
    if package_checksum(root) != checksum:
        raise PackageUnavailable(f"{root} no longer holds the files of checksum {checksum[:12]}")
    data, files = _archive_bytes(root)
    try:
        with transaction.atomic():
            return PackageArchive.objects.create(checksum=checksum, data=data, size_bytes=len(data), files=files)
    except IntegrityError:  # another host stored the same files first
        return PackageArchive.objects.get(checksum=checksum)


def _cache_root() -> Path:
    return Path(settings.EXERCISE_CACHE_DIR)


def exercise_dir(exercise: Exercise) -> Path:
    """A local folder holding exactly the files of this exercise version (unpacked on first use).

    Raises PackageUnavailable when they cannot be had: never stored and the synced folder now
    holds other files, or the stored bytes do not match their checksum.
    """
    name = Path(exercise.package_path).name or exercise.slug
    slot = _cache_root() / exercise.checksum
    if (slot / COMPLETE).is_file():
        return slot / name
    archive = PackageArchive.objects.filter(checksum=exercise.checksum).first()
    if archive is None:
        source = Path(exercise.package_path)
        # Synced before versions were kept: store them now if the folder still holds those files.
        if not (source.is_dir() and package_checksum(source) == exercise.checksum):
            raise PackageUnavailable(
                f"The files of {exercise.slug} {exercise.version} were never stored and {source} holds other "
                "files (or is not on this host); run sync_exercises where that version's folder is."
            )
        archive = package_archive_store(root=source, checksum=exercise.checksum)
    return _unpack(archive, slot, name, exercise)


def _unpack(archive: PackageArchive, slot: Path, name: str, exercise: Exercise) -> Path:
    slot.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{exercise.checksum[:12]}-", dir=slot.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(bytes(archive.data)), mode="r:gz") as tar:
            tar.extractall(scratch / name, filter="data")
        if package_checksum(scratch / name) != exercise.checksum:
            raise PackageUnavailable(
                f"The stored files of {exercise.slug} {exercise.version} do not match their checksum."
            )
        (scratch / COMPLETE).write_text(f"{exercise.slug} {exercise.version}\n")
        try:
            scratch.rename(slot)
        except OSError:
            # Another process unpacked the same version meanwhile (the rename is atomic: one wins).
            if not (slot / COMPLETE).is_file():
                # Or a slot was left half deleted (the cache is safe to delete): set it aside, retry once.
                stale = slot.with_name(f".stale-{slot.name}-{os.getpid()}-{time.monotonic_ns()}")
                slot.rename(stale)
                shutil.rmtree(stale, ignore_errors=True)
                scratch.rename(slot)
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        raise PackageUnavailable(f"The files of {exercise.slug} {exercise.version} cannot be unpacked: {exc}") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return slot / name


def exercise_dir_for_display(exercise: Exercise) -> Path | None:
    """For pages that show a version's files (the starter to diff against, a ``call.html``): the
    folder, or None when this host cannot get them, so the page shows less instead of failing."""
    try:
        return exercise_dir(exercise)
    except PackageUnavailable as exc:
        log.warning("%s", exc)
        return None
