"""Safe unpacking of candidate archives, shared by uploads, the worker, `manage.py grade` and the code pane.

The archive is hostile. It is read member by member (never ``extractall``); only regular
files and folders are accepted; every size is counted while decompressing, so a zip bomb
stops at the limit instead of after filling the disk; and each refusal says what was wrong
in words a candidate can act on.

What is graded must be what reviewers read, and reviewers read source. So compiled Python
(``*.pyc``, ``*.pyo``, anything under ``__pycache__/``) and archives inside the archive
(``*.whl``, ``*.egg``, ``*.zip``, ``*.pyz``: Python imports from them once they are on
``sys.path``) are dropped, never written, and listed in ``Manifest.ignored``: many people zip
their working folder with these in it, so dropping them is kinder than refusing. Native code
(shared libraries, executables, object files) cannot be read at all and is refused, by name
and by the magic bytes at the start of every member.

Dropped files count toward the compressed and unpacked size limits (they are in the archive
the candidate sent, and their declared size is checked before anything is read) but not
toward the file count, which is about what lands in the box and in the reviewers' list: a
working folder has about one pyc per module, and counting them would halve the limit for
files that are never written. They have a count of their own, with the same limit, so the
list of what was ignored stays bounded too.

Names are what reviewers read to know what they are looking at, so a name that could mislead
them is refused: one that holds an invisible or control character (U+202E RIGHT-TO-LEFT OVERRIDE
between ``invoice`` and ``gnp.py`` shows "invoiceyp.png" on screen), and two entries whose names
differ only in letter case or in how their characters are encoded (``café`` composed and
decomposed, the U+FB01 ligature and ``fi``), which look like one. A name a file system could not hold (a name over
255 bytes, a path over MAX_PATH_BYTES, or deeper than the limit) is refused in words too, never a
crash. Every message shows a name escaped (``_shown``): it cannot play the trick it refuses.

A candidate's git history (a ``.git`` folder, or a ``*.bundle`` made with ``git bundle``) is
optional evidence of how the work was done: it is dropped like compiled Python, never written where
the grader runs or reviewers browse (its hooks and config must never meet a ``git`` command there),
and read apart by ``grader.githistory``. Its files count toward the size limits but not the file
count (a young repository holds hundreds of loose objects), with a bound of their own, and are
listed as one entry per ``.git`` folder, not one per object.
"""

import io
import lzma
import os
import re
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.package import Limits

CHUNK = 64 * 1024
# What zipfile raises on a damaged or unsupported archive besides BadZipFile: a bad header's
# UnicodeDecodeError and negative seek are ValueErrors, a version or method it lacks is
# NotImplementedError, a broken stream is zlib.error, LZMAError or (bzip2) OSError.
_DAMAGED = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    OSError,
)
# What Linux (ext4, tmpfs, overlayfs) stores in one name, in bytes of UTF-8: longer is ENAMETOOLONG.
MAX_NAME_BYTES = 255
# A whole path inside the archive: far below PATH_MAX (4096) wherever it is unpacked, and more than
# any real project needs.
MAX_PATH_BYTES = 1024
# Characters that show as nothing, or move or hide what follows: controls (newline, ESC), format
# characters (bidirectional overrides and isolates, zero-width spaces and joiners, the BOM), and
# the line and paragraph separators.
_HIDING_CATEGORIES = {"Cc", "Cf", "Zl", "Zp"}
_SHOWN_HEAD, _SHOWN_TAIL = 60, 20


class ArchiveRejected(ValueError):
    """The archive breaks a rule; the message is meant for the person who uploaded it."""


# What an upload may be: the package's [limits], one class for the loader and the unpacker.
ArchiveLimits = Limits


@dataclass(frozen=True)
class IgnoredFile:
    """A member that was dropped, never written: its path after the wrapper folder is stripped."""

    path: str
    size: int
    reason: str


@dataclass
class Manifest:
    files: list[str] = field(default_factory=list)
    total_bytes: int = 0
    stripped_prefix: str = ""
    ignored: list[IgnoredFile] = field(default_factory=list)


COMPILED_PYTHON = "compiled Python: we run your source files"
GIT_HISTORY = "git history: read for the commit timeline, never run"
# A .git folder's own bound: loose objects are many small files (``git gc`` packs them into two).
MAX_GIT_FILES = 5000
NESTED_ARCHIVE = "an archive inside the archive: not unpacked or run"
_NESTED_ARCHIVE_SUFFIXES = (".whl", ".egg", ".zip", ".pyz")
_NATIVE_BY_NAME = [
    (re.compile(r"\.(so(\.\d+)*|pyd|dll|dylib)$"), "is a compiled native extension"),
    (re.compile(r"\.exe$"), "is a compiled program"),
    (re.compile(r"\.(o|a)$"), "is compiled object code"),
]
# The first bytes of native code: ELF (Linux), Mach-O thin 32/64-bit in both byte orders (macOS).
_NATIVE_MAGIC = {
    b"\x7fELF": "ELF",
    b"\xfe\xed\xfa\xce": "Mach-O",
    b"\xce\xfa\xed\xfe": "Mach-O",
    b"\xfe\xed\xfa\xcf": "Mach-O",
    b"\xcf\xfa\xed\xfe": "Mach-O",
}
_FAT_MAGIC = (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf")


def git_folder_index(path: PurePosixPath) -> int:
    """Where ``.git`` is among the path's folders (-1 when it is not in one); case-blind, as git is on macOS."""
    for index, part in enumerate(path.parts[:-1]):
        if part.lower() == ".git":
            return index
    return -1


def is_git_history(path: PurePosixPath) -> bool:
    """A member of a ``.git`` folder, a ``.git`` file (a worktree's pointer) or a git bundle."""
    name = path.name.lower()
    return name == ".git" or name.endswith(".bundle") or git_folder_index(path) >= 0


def _why_dropped(path: PurePosixPath) -> str:
    """The reason a member is not written, or "" to write it. Case-blind: dropping more costs nothing."""
    if is_git_history(path):
        return GIT_HISTORY
    name = path.name.lower()
    if name.endswith((".pyc", ".pyo")) or "__pycache__" in (part.lower() for part in path.parts[:-1]):
        return COMPILED_PYTHON
    if name.endswith(_NESTED_ARCHIVE_SUFFIXES):
        return NESTED_ARCHIVE
    return ""


def _refuse_native_name(info: zipfile.ZipInfo, path: PurePosixPath) -> None:
    for pattern, what in _NATIVE_BY_NAME:
        if pattern.search(path.name.lower()):
            raise ArchiveRejected(f"{_shown(info.filename)} {what}; upload source files only.")


def native_kind(head: bytes) -> str:
    """Which native code ``head`` (a file's first 64 bytes or more) starts: ELF, Mach-O, Windows PE or "".

    Kept narrow so that text is never refused: ``MZ`` starts some words and a text file never
    holds a NUL, while a real DOS/PE header has NULs among its first 64 bytes; ``CAFEBABE`` is
    also a Java class, whose version field is far above the handful of architectures a fat
    Mach-O lists there.
    """
    if head[:4] in _NATIVE_MAGIC:
        return _NATIVE_MAGIC[head[:4]]
    if head[:4] in _FAT_MAGIC and len(head) >= 8 and 0 < int.from_bytes(head[4:8], "big") < 20:
        return "Mach-O"
    if head[:2] == b"MZ" and b"\0" in head[2:64]:
        return "Windows PE"
    return ""


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


def _escaped(ch: str, ascii_only: bool, quote: str) -> str:
    code = ord(ch)
    if ch == "\\" or ch == quote:
        return "\\" + ch
    if 32 <= code < 127 or (not ascii_only and unicodedata.category(ch)[0] not in "CZM"):
        return ch
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _shown(name: str, *, ascii_only: bool = False) -> str:
    """``name`` quoted for a message, safe to show: every character that could hide or disguise it
    (controls, format characters, separators other than the space, combining marks; with
    ``ascii_only``, everything not ASCII) as a ``\\x``/``\\u`` escape, and a long name cut to its
    start and end. A message must not play the trick it refuses, nor fill the page."""
    return "'" + _safe_text(name, ascii_only=ascii_only, quote="'") + "'"


def _safe_text(text: str, *, ascii_only: bool = False, quote: str = "") -> str:
    pieces = [_escaped(ch, ascii_only, quote) for ch in text]
    if len(pieces) > _SHOWN_HEAD + _SHOWN_TAIL:
        pieces = [*pieces[:_SHOWN_HEAD], "…", *pieces[-_SHOWN_TAIL:]]
    return "".join(pieces)


def _hiding_character(name: str) -> str:
    """The first character of ``name`` that can hide or disguise it, as "U+202E RIGHT-TO-LEFT OVERRIDE";
    "" when there is none."""
    for ch in name:
        if unicodedata.category(ch) in _HIDING_CATEGORIES:
            return f"U+{ord(ch):04X} {unicodedata.name(ch, '')}".rstrip()  # controls have no name
    return ""


def _refuse_unwritable(name: str, parts: list[str], limits: ArchiveLimits) -> None:
    """Refuse what no file system here could hold, before anything is written."""
    if len(parts) > limits.max_depth:
        raise ArchiveRejected(f"{_shown(name)} is nested {len(parts)} folders deep; the limit is {limits.max_depth}.")
    for depth, part in enumerate(parts, start=1):
        size = len(part.encode("utf-8"))
        if size > MAX_NAME_BYTES:
            which = "the file name" if depth == len(parts) else f"the folder name {_shown(part)}"
            raise ArchiveRejected(
                f"{_shown(name)}: {which} is {size} bytes long; a file or folder name may be at most "
                f"{MAX_NAME_BYTES} bytes (in UTF-8). Shorten it."
            )
    size = len("/".join(parts).encode("utf-8"))
    if size > MAX_PATH_BYTES:
        raise ArchiveRejected(
            f"{_shown(name)}: its path is {size} bytes long; the limit is {MAX_PATH_BYTES} bytes (in UTF-8)."
        )


def _member_path(info: zipfile.ZipInfo, limits: ArchiveLimits) -> PurePosixPath | None:
    """The member's validated relative path, or None for a folder entry."""
    name = info.filename
    if "\x00" in name:
        raise ArchiveRejected(f"{_shown(name)} has a NUL character in its name.")
    if hiding := _hiding_character(name):
        raise ArchiveRejected(
            f"{_shown(name)} has an invisible or control character in its name ({hiding}), which can "
            "disguise what the name says. Rename it."
        )
    if "\\" in name:
        raise ArchiveRejected(f"{_shown(name)} uses backslashes; zip paths must use '/'.")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveRejected(f"{_shown(name)} is an absolute path; paths must be relative to the archive's root.")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveRejected(f"{_shown(name)} climbs out of the archive with '..'.")
    _refuse_unwritable(name, parts, limits)
    mode = info.external_attr >> 16
    # Made on Unix with a file type in the mode bits (Python's zipfile writes permission bits
    # only, which means a regular file).
    if info.create_system == 3 and stat.S_IFMT(mode):
        if stat.S_ISLNK(mode):
            raise ArchiveRejected(f"{_shown(name)} is a symbolic link; only regular files are accepted.")
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise ArchiveRejected(f"{_shown(name)} is a device, pipe or socket; only regular files are accepted.")
    if info.flag_bits & 0x1:
        raise ArchiveRejected(f"{_shown(name)} is encrypted; upload an archive without a password.")
    if info.is_dir() or not parts:
        return None
    return PurePosixPath(*parts)


def _open_zip(data: bytes, limits: ArchiveLimits) -> zipfile.ZipFile:
    if len(data) > limits.max_compressed_bytes:
        raise ArchiveRejected(
            f"The archive is {_mb(len(data))}; the limit is {_mb(limits.max_compressed_bytes)} compressed."
        )
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except _DAMAGED as exc:
        raise ArchiveRejected("This is not a zip archive (or it is damaged).") from exc


def _common_root(paths: list[PurePosixPath]) -> str:
    """The single wrapper folder everything sits in ("my-solution/…"), if there is one.

    A top folder that is itself a Python package (it holds ``__init__.py``) is the submission's
    package, as in a zip of just ``helpdesk/``: that is content, not a wrapper.
    """
    tops = {p.parts[0] for p in paths}
    if len(tops) != 1 or not all(len(p.parts) > 1 for p in paths):
        return ""
    top = next(iter(tops))
    if any(p.parts[1:] == ("__init__.py",) for p in paths):
        return ""
    return top


def _looks_like(spelling: str) -> str:
    """What ``spelling`` looks like to a reader: composed and compatibility forms and case folded away."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", spelling).casefold())


def _refuse_look_alikes(members: list[tuple[zipfile.ZipInfo, PurePosixPath]]) -> None:
    """Refuse a file twice, and two spellings of one file or folder that a reader cannot tell apart.

    On Linux ``café`` written composed and decomposed, or ``Retry.py`` and ``retry.py``, are two
    entries; on the reviewer's screen (and on macOS or Windows) they are one, so which one ran is
    hidden. Folders are compared too: ``docs/a.md`` and ``Docs/b.md`` are two folders that look like one.
    """
    spellings: dict[str, str] = {}
    files: set[str] = set()
    for info, path in members:
        for depth in range(1, len(path.parts) + 1):
            spelling = "/".join(path.parts[:depth])
            first = spellings.setdefault(_looks_like(spelling), spelling)
            if first != spelling:
                raise ArchiveRejected(
                    f"{_shown(spelling, ascii_only=True)} appears twice in the archive, also as "
                    f"{_shown(first, ascii_only=True)}: the names differ only in letter case or in how their "
                    "characters are encoded, so they look the same. Keep one."
                )
        if str(path) in files:
            raise ArchiveRejected(f"{_shown(info.filename)} appears twice in the archive.")
        files.add(str(path))


def unpack_archive(
    data: bytes, dest: Path, limits: ArchiveLimits | None = None, *, strip_single_root: bool = True
) -> Manifest:
    """Validate ``data`` and write its files under ``dest`` (which must be empty or absent).

    With ``strip_single_root``, an archive whose every file sits in one top folder (the
    common result of zipping a folder instead of its contents) is unpacked from inside it.
    Nothing is written outside ``dest``; on rejection nothing is left in it.
    """
    limits = limits or ArchiveLimits()
    manifest = Manifest()
    with _open_zip(data, limits) as zf:
        members, dropped = [], []
        for info in zf.infolist():
            path = _member_path(info, limits)
            if path is None:
                continue
            reason = _why_dropped(path)
            if reason:
                dropped.append((info, path, reason))
            else:
                _refuse_native_name(info, path)
                members.append((info, path))
        if len(members) > limits.max_files:
            raise ArchiveRejected(f"The archive holds {len(members)} files; the limit is {limits.max_files}.")
        _refuse_look_alikes(members)
        git_files = sum(1 for *_, reason in dropped if reason == GIT_HISTORY)
        if git_files > MAX_GIT_FILES:
            raise ArchiveRejected(
                f"The archive's git history holds {git_files} files; the limit is {MAX_GIT_FILES}. Run "
                "`git gc` to pack it, or upload a bundle instead (`git bundle create history.bundle --all`)."
            )
        if len(dropped) - git_files > limits.max_files:
            raise ArchiveRejected(
                f"The archive holds {len(dropped)} compiled Python files or archives, which we would ignore; "
                f"the limit is {limits.max_files}. Delete the __pycache__ folders and zip again."
            )
        declared = sum(info.file_size for info, *_ in members + dropped)
        if declared > limits.max_uncompressed_bytes:
            raise ArchiveRejected(
                f"The archive unpacks to {_mb(declared)}; the limit is {_mb(limits.max_uncompressed_bytes)}."
            )
        if not members:
            if dropped:
                raise ArchiveRejected(
                    "The archive holds only compiled Python or archives, which we do not run; upload your source files."
                )
            raise ArchiveRejected("The archive is empty.")
        # The wrapper folder is found among every member, dropped or not, so that what is
        # written lands exactly where it would have before dropping existed.
        prefix = _common_root([p for _, p in members] + [p for _, p, _ in dropped]) if strip_single_root else ""
        git_folders: dict[str, int] = {}
        for info, path, reason in dropped:
            rel = PurePosixPath(*path.parts[1:]) if prefix else path
            if (at := git_folder_index(rel)) >= 0:
                folder = "/".join(rel.parts[: at + 1]) + "/"
                if folder not in git_folders:
                    git_folders[folder] = len(manifest.ignored)
                    manifest.ignored.append(IgnoredFile(folder, 0, reason))
                entry = manifest.ignored[git_folders[folder]]
                manifest.ignored[git_folders[folder]] = IgnoredFile(folder, entry.size + info.file_size, reason)
                continue
            manifest.ignored.append(IgnoredFile(str(rel), info.file_size, reason))
        dest.mkdir(parents=True, exist_ok=True)
        if any(dest.iterdir()):
            raise ValueError(f"{dest} is not empty")
        try:
            for info, path in members:
                rel = PurePosixPath(*path.parts[1:]) if prefix else path
                manifest.total_bytes = _write_member(zf, info, dest, rel, manifest.total_bytes, limits)
                manifest.files.append(str(rel))
        except BaseException:
            _empty_folder(dest)
            raise
    manifest.stripped_prefix = prefix
    return manifest


def _write_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, rel: PurePosixPath, total: int, limits: ArchiveLimits
) -> int:
    target_dir = dest
    for part in rel.parts[:-1]:
        target_dir = target_dir / part
        if target_dir.is_file():
            raise ArchiveRejected(f"{_shown(info.filename)} is inside {_shown(part)}, which is also a file.")
        target_dir.mkdir(exist_ok=True)
    target = target_dir / rel.parts[-1]
    # O_EXCL|O_NOFOLLOW: we create every file ourselves in a fresh folder, so an existing
    # entry or a symlink here can only mean an attack or a duplicate; refuse both.
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except (FileExistsError, IsADirectoryError) as exc:
        raise ArchiveRejected(f"{_shown(info.filename)} collides with another entry of the archive.") from exc
    try:
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            first = True
            while chunk := src.read(CHUNK):
                if first and (kind := native_kind(chunk)):
                    raise ArchiveRejected(
                        f"{_shown(info.filename)} is a compiled program or library ({kind}); upload source files only."
                    )
                first = False
                total += len(chunk)
                if total > limits.max_uncompressed_bytes:
                    raise ArchiveRejected(
                        f"The archive unpacks to more than {_mb(limits.max_uncompressed_bytes)} "
                        f"(stopped at {_shown(info.filename)}); it may be a zip bomb."
                    )
                out.write(chunk)
    except ArchiveRejected:
        raise
    except _DAMAGED as exc:
        # zipfile's words can quote the archive's own bytes (a header's name): shown like a name.
        raise ArchiveRejected(f"{_shown(info.filename)} cannot be read: {_safe_text(str(exc))}.") from exc
    return total


def zip_folder(folder: Path) -> bytes:
    """A folder zipped in memory as a candidate would, so that ``unpack_archive`` judges it like an upload.

    Symbolic links and special files go in as what they are (and are refused by the unpacking),
    never as the content they point at.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                path = Path(root, name)
                info = zipfile.ZipInfo(path.relative_to(folder).as_posix())
                info.compress_type = zipfile.ZIP_DEFLATED
                mode = path.lstat().st_mode
                info.create_system, info.external_attr = 3, mode << 16
                zf.writestr(info, path.read_bytes() if stat.S_ISREG(mode) else b"")
    return buffer.getvalue()


def _empty_folder(folder: Path) -> None:
    for root, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            os.unlink(os.path.join(root, name))
        for name in dirs:
            os.rmdir(os.path.join(root, name))
