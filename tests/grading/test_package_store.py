"""The stored files of every exercise version: kept once per checksum, unpacked once per host, checked.

``package_archive_store`` keeps a package's files in the database under their checksum;
``exercise_dir`` gives a host a folder holding exactly those files, unpacking them into its cache on
first use. Damaged bytes are refused rather than graded with, and two processes unpacking the same
version at once both end with the one good folder.
"""

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from assessments import packages
from assessments.models import Exercise, PackageArchive
from assessments.packages import PackageUnavailable, exercise_dir, package_archive_store
from grader.package import package_checksum
from tests.conftest import FIXTURES

TINY = FIXTURES / "exercises" / "tiny-echo"


@pytest.fixture(autouse=True)
def cache(settings, tmp_path):
    """An empty cache of this test's own: what is unpacked where is what the test did."""
    settings.EXERCISE_CACHE_DIR = tmp_path / "cache"
    return settings.EXERCISE_CACHE_DIR


@pytest.fixture
def checkout(tmp_path):
    folder = tmp_path / "checkout" / "tiny-echo"
    shutil.copytree(TINY, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


@pytest.fixture
def version(db, checkout):
    """A synced version row of the checkout, its files stored."""
    checksum = package_checksum(checkout)
    package_archive_store(root=checkout, checksum=checksum)
    return Exercise.objects.create(
        slug="tiny-echo",
        version="0.1.0",
        title="Tiny echo",
        checksum=checksum,
        package_path=str(checkout),
        entry_point="echo:answer",
        time_limit_minutes=60,
        rubric_slug="tiny-echo",
    )


def _tar_gz(members: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return raw.getvalue()


def _leftovers(cache: Path) -> list[str]:
    """What the cache holds besides the finished slots: half-unpacked scratch folders."""
    return sorted(p.name for p in cache.iterdir() if p.name.startswith(".")) if cache.exists() else []


# --- Storing -------------------------------------------------------------------------------------


def test_storing_is_idempotent_by_checksum(db, checkout, tmp_path):
    checksum = package_checksum(checkout)
    first = package_archive_store(root=checkout, checksum=checksum)
    again = package_archive_store(root=checkout, checksum=checksum)
    elsewhere = tmp_path / "another-host" / "tiny-echo"
    shutil.copytree(checkout, elsewhere)
    from_a_copy = package_archive_store(root=elsewhere, checksum=checksum)

    assert first.pk == again.pk == from_a_copy.pk and PackageArchive.objects.count() == 1
    assert first.files == len(list(p for p in checkout.rglob("*") if p.is_file()))
    assert first.size_bytes == len(bytes(first.data))


def test_the_same_files_are_stored_as_the_same_bytes(db, checkout, tmp_path):
    """The archive is reproducible (no times, no owners): a copy made elsewhere, later, is byte-identical."""
    checksum = package_checksum(checkout)
    first = bytes(package_archive_store(root=checkout, checksum=checksum).data)
    PackageArchive.objects.all().delete()
    elsewhere = tmp_path / "later" / "tiny-echo"
    shutil.copytree(checkout, elsewhere)
    (elsewhere / "brief.md").touch()  # a newer mtime, the same content

    assert bytes(package_archive_store(root=elsewhere, checksum=checksum).data) == first


def test_a_folder_that_does_not_hold_the_checksums_files_is_not_stored(db, checkout):
    checksum = package_checksum(checkout)
    (checkout / "brief.md").write_text("# Edited after the sync\n")

    with pytest.raises(PackageUnavailable, match="no longer holds the files"):
        package_archive_store(root=checkout, checksum=checksum)

    assert not PackageArchive.objects.exists()


# --- Unpacking -----------------------------------------------------------------------------------


def test_exercise_dir_unpacks_the_stored_files_once_and_they_match_the_checksum(
    version, checkout, cache, django_assert_num_queries
):
    shutil.rmtree(checkout)  # not on this host: the stored copy is all there is

    folder = exercise_dir(version)

    assert folder == cache / version.checksum / "tiny-echo"
    assert package_checksum(folder) == version.checksum
    assert (folder / "hidden" / "probes.py").read_text() == (TINY / "hidden" / "probes.py").read_text()
    with django_assert_num_queries(0):  # the second time it is a look at the disk
        assert exercise_dir(version) == folder
    assert _leftovers(cache) == []


def test_a_version_synced_before_files_were_stored_is_stored_from_its_folder_on_first_use(version, checkout):
    PackageArchive.objects.all().delete()

    folder = exercise_dir(version)

    assert package_checksum(folder) == version.checksum
    assert PackageArchive.objects.filter(checksum=version.checksum).exists()


def test_a_version_never_stored_whose_folder_holds_other_files_is_unavailable(version, checkout, cache):
    PackageArchive.objects.all().delete()
    (checkout / "hidden" / "probes.py").write_text("PROBES = []\n")  # the checkout moved on

    with pytest.raises(PackageUnavailable, match="never stored"):
        exercise_dir(version)

    assert not PackageArchive.objects.exists() and not (cache / version.checksum).exists()


@pytest.mark.parametrize(
    ("stored", "why"),
    [
        pytest.param(_tar_gz({"exercise.toml": b'slug = "tiny-echo"\n'}), "do not match their checksum", id="other"),
        pytest.param(b"PK\x03\x04 not a gzipped tar", "cannot be unpacked", id="not-gzip"),
        pytest.param(
            _tar_gz({"exercise.toml": b"x" * 4096})[:60],
            "cannot be unpacked",
            id="truncated",
        ),
        # A member that climbs out of the cache: refused by the unpacking filter, written nowhere.
        pytest.param(_tar_gz({"../../escaped.txt": b"outside"}), "cannot be unpacked", id="escapes"),
    ],
)
def test_a_tampered_stored_copy_is_refused_and_nothing_of_it_is_kept(version, checkout, cache, stored, why):
    shutil.rmtree(checkout)
    PackageArchive.objects.filter(checksum=version.checksum).update(data=stored)

    with pytest.raises(PackageUnavailable, match=why):
        exercise_dir(version)

    assert not (cache / version.checksum).exists() and _leftovers(cache) == []
    assert not list(cache.parent.rglob("escaped.txt"))


def test_a_tampered_copy_is_refused_every_time_not_only_the_first(version, checkout):
    shutil.rmtree(checkout)
    PackageArchive.objects.filter(checksum=version.checksum).update(
        data=_tar_gz({"exercise.toml": b"# not the synced manifest\n"})
    )
    for _ in range(2):
        with pytest.raises(PackageUnavailable):
            exercise_dir(version)


# --- Two processes at once -----------------------------------------------------------------------


def test_two_racing_unpacks_both_end_with_the_one_good_folder(version, checkout, cache, monkeypatch):
    """The second process finishes first (between the first one's unpacking and its rename): the first
    finds the slot taken by the same files and uses it."""
    shutil.rmtree(checkout)
    verify = packages.package_checksum
    raced = []

    def verify_while_another_process_finishes(root):
        if not raced:
            raced.append(None)
            raced[0] = exercise_dir(version)  # the other process, start to end
        return verify(root)

    monkeypatch.setattr(packages, "package_checksum", verify_while_another_process_finishes)

    folder = exercise_dir(version)

    assert folder == raced[0] == cache / version.checksum / "tiny-echo"
    assert verify(folder) == version.checksum
    assert [p.name for p in cache.iterdir()] == [version.checksum]  # one slot, no scratch left behind


def test_a_slot_already_unpacked_by_another_process_is_used_as_it_is(version, cache):
    first = exercise_dir(version)
    marker = cache / version.checksum / ".complete"
    before = marker.stat().st_mtime_ns

    assert exercise_dir(version) == first and marker.stat().st_mtime_ns == before
    assert package_checksum(first) == version.checksum


def test_a_half_deleted_slot_is_unpacked_again(version, cache):
    folder = exercise_dir(version)
    (cache / version.checksum / ".complete").unlink()
    (folder / "brief.md").unlink()

    assert package_checksum(exercise_dir(version)) == version.checksum
