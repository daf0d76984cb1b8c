"""Hostile archives are refused with a message that names the problem, and nothing escapes."""

import stat
import zipfile

import pytest

from assessments.grading.unpack import ArchiveLimits, ArchiveRejected, unpack_archive
from tests.builders import make_zip


def test_it_unpacks_a_normal_submission(tmp_path):
    data = make_zip({"helpdesk/__init__.py": b"def answer(q): ...\n", "NOTES.md": b"# Notes\n", "tests/test_a.py": b""})
    manifest = unpack_archive(data, tmp_path / "out")
    assert sorted(manifest.files) == ["NOTES.md", "helpdesk/__init__.py", "tests/test_a.py"]
    assert (tmp_path / "out" / "helpdesk" / "__init__.py").read_bytes() == b"def answer(q): ...\n"


def test_a_zip_of_just_the_package_keeps_the_package_folder(tmp_path):
    data = make_zip({"helpdesk/__init__.py": b"x", "helpdesk/retrieval.py": b"y"})
    manifest = unpack_archive(data, tmp_path / "out")
    assert manifest.stripped_prefix == ""
    assert (tmp_path / "out" / "helpdesk" / "__init__.py").exists()


def test_it_unpacks_from_inside_a_single_top_folder(tmp_path):
    data = make_zip({"my-solution/helpdesk/__init__.py": b"x", "my-solution/NOTES.md": b"n"})
    manifest = unpack_archive(data, tmp_path / "out")
    assert manifest.stripped_prefix == "my-solution"
    assert (tmp_path / "out" / "helpdesk" / "__init__.py").exists()


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"../evil.py": b"x"}, "climbs out of the archive with '..'"),
        ({"helpdesk/../../evil.py": b"x"}, "climbs out"),
        ({"/etc/cron.d/evil": b"x"}, "is an absolute path"),
        ({"C:/evil": b"x"}, "is an absolute path"),
        ({"helpdesk\\evil.py": b"x"}, "uses backslashes"),
        ([("helpdesk/link", b"/etc/passwd", stat.S_IFLNK | 0o777)], "is a symbolic link"),
        ([("helpdesk/dev", b"", stat.S_IFCHR | 0o666)], "is a device, pipe or socket"),
        ([("helpdesk/fifo", b"", stat.S_IFIFO | 0o666)], "is a device, pipe or socket"),
        ({"/".join(["d"] * 25) + "/f.py": b"x"}, "is nested 26 folders deep; the limit is 20"),
        ({"a/x.py": b"1", "a/X.py": b"2"}, "appears twice"),
        ({}, "The archive is empty"),
    ],
)
def test_it_rejects_hostile_paths_and_entries(tmp_path, entries, message):
    with pytest.raises(ArchiveRejected, match=message):
        unpack_archive(make_zip(entries), tmp_path / "out")
    assert not (tmp_path / "evil.py").exists() and not (tmp_path.parent / "evil.py").exists()
    assert list((tmp_path / "out").rglob("*")) == [] if (tmp_path / "out").exists() else True


def test_it_rejects_too_many_files(tmp_path):
    data = make_zip({f"helpdesk/f{i}.py": b"" for i in range(501)})
    with pytest.raises(ArchiveRejected, match="holds 501 files; the limit is 500"):
        unpack_archive(data, tmp_path / "out")


def test_it_rejects_an_archive_over_the_compressed_limit(tmp_path):
    data = make_zip({"helpdesk/big.bin": bytes(range(256)) * 30000}, compression=zipfile.ZIP_STORED)
    with pytest.raises(ArchiveRejected, match="the limit is 5 MB compressed"):
        unpack_archive(data, tmp_path / "out")


def test_it_stops_a_zip_bomb_early_and_leaves_nothing(tmp_path):
    # 60 MB of zeros compresses to ~60 KB: the declared size gives it away before any write.
    data = make_zip({"helpdesk/bomb.txt": b"\0" * (60 * 1024 * 1024)})
    assert len(data) < 200_000
    with pytest.raises(ArchiveRejected, match="unpacks to 60 MB; the limit is 50 MB"):
        unpack_archive(data, tmp_path / "out")
    assert list((tmp_path / "out").rglob("*")) == []


def test_it_counts_while_reading_when_the_header_lies(tmp_path):
    # Headers claim 1 byte per member but each inflates to 2 MB: the running count must stop it.
    limits = ArchiveLimits(max_uncompressed_bytes=3 * 1024 * 1024)
    data = bytearray(make_zip({f"helpdesk/b{i}.txt": b"\0" * (2 * 1024 * 1024) for i in range(3)}))
    forged = _forge_sizes(bytes(data))
    with pytest.raises(ArchiveRejected):
        unpack_archive(forged, tmp_path / "out", limits)
    total = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert total == 0


def _forge_sizes(data: bytes) -> bytes:
    """Rewrite every central-directory uncompressed size to 1 byte."""
    out = bytearray(data)
    sig = b"PK\x01\x02"
    pos = out.find(sig)
    while pos != -1:
        out[pos + 24 : pos + 28] = (1).to_bytes(4, "little")
        pos = out.find(sig, pos + 4)
    return bytes(out)


def test_it_refuses_a_file_that_is_not_a_zip(tmp_path):
    with pytest.raises(ArchiveRejected, match="not a zip archive"):
        unpack_archive(b"#!/bin/sh\nrm -rf /\n", tmp_path / "out")


def test_it_refuses_a_damaged_member(tmp_path):
    data = bytearray(make_zip({"helpdesk/__init__.py": b"print('hello world')\n" * 200}))
    start = data.find(b"helpdesk/__init__.py") + len("helpdesk/__init__.py") + 10
    data[start : start + 20] = b"\xff" * 20
    with pytest.raises(ArchiveRejected, match="cannot be read"):
        unpack_archive(bytes(data), tmp_path / "out")
    assert list((tmp_path / "out").rglob("*")) == []


def test_limits_come_from_the_exercise(tmp_path):
    limits = ArchiveLimits.from_exercise({"max_files": 2})
    with pytest.raises(ArchiveRejected, match="limit is 2"):
        unpack_archive(make_zip({"a": b"", "b": b"", "c": b""}), tmp_path / "out", limits)
