"""Hostile archives are refused with a message that names the problem, and nothing escapes."""

import stat
import zipfile

import pytest

from grader.unpack import ArchiveLimits, ArchiveRejected, unpack_archive
from tests.builders import DAMAGES, damaged_zip, make_zip


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


@pytest.mark.parametrize("damage", DAMAGES)
def test_every_kind_of_damage_is_a_refusal_not_a_crash(tmp_path, damage):
    with pytest.raises(ArchiveRejected, match=r"cannot be read|not a zip archive") as refused:
        unpack_archive(damaged_zip(damage), tmp_path / "out")
    assert list((tmp_path / "out").rglob("*")) == [] if (tmp_path / "out").exists() else True
    assert len(str(refused.value)) < 300


def test_limits_come_from_the_exercise(tmp_path):
    limits = ArchiveLimits.from_exercise({"max_files": 2})
    with pytest.raises(ArchiveRejected, match="limit is 2"):
        unpack_archive(make_zip({"a": b"", "b": b"", "c": b""}), tmp_path / "out", limits)


# --- Graded code is reviewed code: compiled Python is dropped, native code refused ---------------

ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56
MACH_O_64 = b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + b"\x00" * 56
MACH_O_FAT = b"\xca\xfe\xba\xbe\x00\x00\x00\x02" + b"\x00" * 56
WINDOWS_PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 50 + b"\x80\x00\x00\x00"
PYC = b"\xcb\r\r\n\x01\x00\x00\x00" + b"\x00" * 40  # 3.12's magic, unchecked-hash flag


def test_it_drops_compiled_python_and_lists_it_with_size_and_reason(tmp_path):
    data = make_zip(
        {
            "my-solution/helpdesk/__init__.py": b"from helpdesk import model\n",
            "my-solution/helpdesk/__pycache__/__init__.cpython-312.pyc": PYC,
            "my-solution/helpdesk/__pycache__/notes.txt": b"anything under __pycache__",
            "my-solution/helpdesk/model.pyc": PYC + b"sourceless",
            "my-solution/helpdesk/old.pyo": PYC,
        }
    )
    manifest = unpack_archive(data, tmp_path / "out")

    assert manifest.files == ["helpdesk/__init__.py"]
    assert [(i.path, i.size) for i in manifest.ignored] == [
        ("helpdesk/__pycache__/__init__.cpython-312.pyc", len(PYC)),
        ("helpdesk/__pycache__/notes.txt", 26),
        ("helpdesk/model.pyc", len(PYC) + 10),
        ("helpdesk/old.pyo", len(PYC)),
    ]
    assert {i.reason for i in manifest.ignored} == {"compiled Python: we run your source files"}
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*"))
    assert written == ["helpdesk", "helpdesk/__init__.py"]


def test_it_drops_archives_inside_the_archive(tmp_path):
    nested = make_zip({"sneaky/__init__.py": b"answer = None\n"})
    data = make_zip(
        {"helpdesk/__init__.py": b"", "vendor/lib.zip": nested, "vendor/x.whl": nested, "vendor/y.EGG": nested}
    )
    manifest = unpack_archive(data, tmp_path / "out")

    assert [(i.path, i.reason) for i in manifest.ignored] == [
        (path, "an archive inside the archive: not unpacked or run")
        for path in ("vendor/lib.zip", "vendor/x.whl", "vendor/y.EGG")
    ]
    assert not (tmp_path / "out" / "vendor").exists()


def test_dropped_files_count_toward_the_size_limit_and_a_count_of_their_own_not_the_file_limit(tmp_path):
    limits = ArchiveLimits(max_files=2, max_uncompressed_bytes=1024 * 1024)
    two_sources = {"helpdesk/__init__.py": b"", "helpdesk/model.py": b""}
    pycs = {f"helpdesk/__pycache__/m{i}.cpython-312.pyc": PYC for i in range(2)}

    assert len(unpack_archive(make_zip(two_sources | pycs), tmp_path / "a", limits).ignored) == 2
    with pytest.raises(ArchiveRejected, match="holds 3 compiled Python files or archives, which we would ignore"):
        unpack_archive(make_zip(two_sources | pycs | {"x.pyc": PYC}), tmp_path / "b", limits)
    with pytest.raises(ArchiveRejected, match="unpacks to 2 MB; the limit is 1 MB"):
        unpack_archive(make_zip(two_sources | {"big.pyc": b"\0" * (2 * 1024 * 1024)}), tmp_path / "c", limits)


def test_an_archive_of_nothing_but_compiled_python_is_refused(tmp_path):
    with pytest.raises(ArchiveRejected, match="holds only compiled Python or archives, which we do not run"):
        unpack_archive(make_zip({"helpdesk/__pycache__/__init__.cpython-312.pyc": PYC}), tmp_path / "out")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("helpdesk/_fast.so", b"", "'helpdesk/_fast.so' is a compiled native extension; upload source files only."),
        ("helpdesk/_fast.cpython-312-x86_64-linux-gnu.so", b"", "is a compiled native extension"),
        ("helpdesk/libfast.so.1", b"", "'helpdesk/libfast.so.1' is a compiled native extension"),
        ("helpdesk/libfast.SO.1.2", b"", "is a compiled native extension"),
        ("helpdesk/_fast.pyd", b"", "is a compiled native extension"),
        ("helpdesk/fast.dll", b"", "is a compiled native extension"),
        ("helpdesk/fast.dylib", b"", "is a compiled native extension"),
        ("helpdesk/run.exe", b"", "'helpdesk/run.exe' is a compiled program; upload source files only."),
        ("helpdesk/fast.o", b"", "is compiled object code"),
        ("helpdesk/libfast.a", b"", "is compiled object code"),
        ("helpdesk/data", ELF, "'helpdesk/data' is a compiled program or library \\(ELF\\); upload source files only."),
        ("helpdesk/model.py", ELF, "'helpdesk/model.py' is a compiled program or library \\(ELF\\)"),
        ("helpdesk/blob", MACH_O_64, "'helpdesk/blob' is a compiled program or library \\(Mach-O\\)"),
        ("helpdesk/blob", MACH_O_FAT, "'helpdesk/blob' is a compiled program or library \\(Mach-O\\)"),
        ("helpdesk/blob.txt", WINDOWS_PE, "'helpdesk/blob.txt' is a compiled program or library \\(Windows PE\\)"),
    ],
)
def test_it_refuses_native_code_naming_the_file_and_leaves_nothing(tmp_path, name, content, message):
    # A file written before the refused one proves the folder is emptied, not just left alone.
    data = make_zip([("helpdesk/__init__.py", b"x = 1\n" * 1000), (name, content), ("helpdesk/z.py", b"")])
    with pytest.raises(ArchiveRejected, match=message):
        unpack_archive(data, tmp_path / "out")
    assert list((tmp_path / "out").rglob("*")) == [] if (tmp_path / "out").exists() else True


@pytest.mark.parametrize(
    "content",
    [
        b"MZ is how this note starts, and it is only text.\n",
        b"MZ" + b"\xc3\xa9t\xc3\xa9 " * 20,
        b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + b"\x00" * 56,  # a Java class (version 52), not a fat Mach-O
        b"ELF is a file format.\n",
        b"",
    ],
)
def test_text_and_other_files_that_merely_start_alike_are_accepted(tmp_path, content):
    manifest = unpack_archive(make_zip({"helpdesk/__init__.py": b"", "helpdesk/notes.txt": content}), tmp_path / "out")
    assert (tmp_path / "out" / "helpdesk" / "notes.txt").read_bytes() == content
    assert manifest.ignored == []


# --- Names: every limit of a file system and every trick of Unicode is a refusal, never a crash ---

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "invoice\u202egnp.py" shows as "invoiceyp.png"


def _refused(tmp_path, entries) -> str:
    """The message of the refusal of ``entries`` (a package beside them), after checking nothing is left."""
    with pytest.raises(ArchiveRejected) as refused:
        unpack_archive(make_zip({"helpdesk/__init__.py": b"", **entries}), tmp_path / "out")
    assert list((tmp_path / "out").rglob("*")) == [] if (tmp_path / "out").exists() else True
    return str(refused.value)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("helpdesk/" + "a" * 300 + ".py", "is 303 bytes long; a file or folder name may be at most 255 bytes"),
        ("helpdesk/" + "€" * 86 + ".py", "is 261 bytes long; a file or folder name may be at most 255 bytes"),
        ("helpdesk/" + "d" * 256 + "/x.py", "is 256 bytes long; a file or folder name may be at most 255 bytes"),
        ("/".join(["helpdesk", *["f" * 200] * 6, "x.py"]), "path is 1219 bytes long; the limit is 1024"),
    ],
)
def test_it_refuses_names_and_paths_too_long_for_a_file_system(tmp_path, name, message):
    assert message in _refused(tmp_path, {name: b"x = 1\n"})


def test_a_long_name_in_the_message_is_cut_to_its_start_and_end(tmp_path):
    message = _refused(tmp_path, {"helpdesk/" + "a" * 5000 + "_the_end.py": b""})
    assert len(message) < 300 and "'helpdesk/aaa" in message and "a_the_end.py'" in message and "…" in message


@pytest.mark.parametrize(
    ("name", "shown", "character"),
    [
        (f"helpdesk/invoice{RLO}gnp.py", r"'helpdesk/invoice\u202egnp.py'", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("helpdesk/\u2066isolate\u2069.py", r"'helpdesk/\u2066isolate\u2069.py'", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("helpdesk/retry\u200b.py", r"'helpdesk/retry\u200b.py'", "U+200B ZERO WIDTH SPACE"),
        ("helpdesk/\ufeffbom.py", r"'helpdesk/\ufeffbom.py'", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("helpdesk/arabic\u061cmark.py", r"'helpdesk/arabic\u061cmark.py'", "U+061C ARABIC LETTER MARK"),
        ("helpdesk/line\nbreak.py", r"'helpdesk/line\x0abreak.py'", "character in its name (U+000A)"),
        ("helpdesk/\x1b[2Jclear.py", r"'helpdesk/\x1b[2Jclear.py'", "character in its name (U+001B)"),
        ("helpdesk/para\u2029graph.py", r"'helpdesk/para\u2029graph.py'", "U+2029 PARAGRAPH SEPARATOR"),
        (f"helpdesk{RLO}/x.py", r"'helpdesk\u202e/x.py'", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ],
)
def test_it_refuses_invisible_and_control_characters_naming_them_escaped(tmp_path, name, shown, character):
    message = _refused(tmp_path, {name: b""})
    assert shown in message and character in message
    assert not any(ch in message for ch in (RLO, "\u2066", "\u200b", "\ufeff", "\u061c", "\n", "\x1b", "\u2029"))


@pytest.mark.parametrize(
    ("entries", "first", "second"),
    [
        ({"helpdesk/caf\u00e9.py": b"1", "helpdesk/cafe\u0301.py": b"2"}, "caf\\xe9.py", "cafe\\u0301.py"),
        ({"helpdesk/caf\u00e9/a.py": b"1", "helpdesk/cafe\u0301/b.py": b"2"}, "caf\\xe9", "cafe\\u0301"),
        ({"helpdesk/retry.py": b"1", "helpdesk/Retry.py": b"2"}, "retry.py", "Retry.py"),
        ({"helpdesk/docs/a.md": b"1", "helpdesk/Docs/b.md": b"2"}, "helpdesk/docs", "helpdesk/Docs"),
        ({"helpdesk/\ufb01le.py": b"1", "helpdesk/file.py": b"2"}, "\\ufb01le.py", "file.py"),
    ],
)
def test_it_refuses_two_names_that_look_the_same_showing_how_they_differ(tmp_path, entries, first, second):
    message = _refused(tmp_path, entries)
    assert "appears twice in the archive" in message and first in message and second in message


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_an_exact_duplicate_is_refused_too(tmp_path):
    data = make_zip([("helpdesk/__init__.py", b""), ("helpdesk/x.py", b"1"), ("helpdesk/x.py", b"2")])
    with pytest.raises(ArchiveRejected, match=r"^'helpdesk/x\.py' appears twice in the archive\.$"):
        unpack_archive(data, tmp_path / "out")


def test_names_in_any_script_and_decomposed_accents_alone_are_accepted(tmp_path):
    # macOS zips names decomposed (NFD): alone, a decomposed name is just a name.
    names = ["helpdesk/cafe\u0301.py", "helpdesk/données/ré.md", "helpdesk/日本語.txt", "helpdesk/emoji_🙂.md"]
    manifest = unpack_archive(make_zip({"helpdesk/__init__.py": b"", **dict.fromkeys(names, b"x")}), tmp_path / "out")
    assert sorted(manifest.files) == sorted(["helpdesk/__init__.py", *names])
    assert all((tmp_path / "out" / name).read_bytes() == b"x" for name in names)
