"""The code pane: a submission's files, highlighted, and their diff against the starter kit.

Everything in the archive is hostile. It is unpacked with the same checks as the grader into a
temporary folder that is always removed; HTML comes only from Pygments (which escapes what it
highlights) and from sanitised markdown, never from candidate text marked safe by hand.

What was graded is what the pane lists: every file the unpacking wrote, with its size, including
those it cannot render (binary, over MAX_SHOWN_BYTES, not UTF-8) and those in tool folders such as
``.venv/`` (folded, never hidden: code there is importable once the solution puts it on sys.path),
and, apart, the files the unpacking dropped and never ran. Only the selected file's content is
rendered, and the diffs stop at MAX_DIFF_BYTES. Reviewers are blind to who the candidate is, so
git's own files (its logs name the author) are listed but never shown.
"""

import difflib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

from grader.unpack import ArchiveLimits, ArchiveRejected, IgnoredFile, unpack_archive

MAX_SHOWN_BYTES = 200 * 1024
MAX_DIFF_BYTES = 1024 * 1024
# Folders of tools, not of the solution: skipped on the starter kit's side, folded on the submission's.
TOOL_FOLDERS = {"__pycache__", ".git", ".venv", "venv", "node_modules", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_NOTES_TAGS = nh3.ALLOWED_TAGS - {"img", "area", "map"}
_FORMATTER = HtmlFormatter(cssclass="hl", wrapcode=True)


def size_words(n: int) -> str:
    """1234 -> "1 KB"; the pane's sizes, short enough for a file list."""
    if n < 1024:
        return f"{n} byte{'s' if n != 1 else ''}"
    if n < 1024 * 1024:
        return f"{round(n / 1024)} KB"
    return f"{n / (1024 * 1024):.1f} MB"


@dataclass
class FileEntry:
    path: str
    size: int
    status: str  # "added", "modified", "unchanged", "removed"
    kind: str = "text"  # "text", "binary", "undecodable", "too_large", "git" (git's own files: never shown)
    folder: str = ""  # the tool folder it is folded under (".venv/"), "" for the solution's own files

    @property
    def note(self) -> str:
        """Why the pane does not show it, or "" when it does."""
        size = size_words(self.size)
        return {
            "binary": f"binary, {size}, not shown",
            "undecodable": f"not UTF-8 text, {size}, not shown",
            "too_large": f"{size}, over the {size_words(MAX_SHOWN_BYTES)} the viewer shows: download it to read it",
            "git": f"git's own file, {size}, not shown: git records name the author",
        }.get(self.kind, "")

    @property
    def downloadable(self) -> bool:
        return self.kind in ("binary", "undecodable", "too_large")

    @property
    def size_text(self) -> str:
        return size_words(self.size)


@dataclass
class FileFolder:
    """A tool folder's files, listed folded under one line that counts them."""

    folder: str
    files: list[FileEntry]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def python_files(self) -> int:
        return sum(1 for f in self.files if f.path.endswith(".py"))

    @property
    def size_text(self) -> str:
        return size_words(self.size)


@dataclass
class IgnoredGroup:
    reason: str
    files: list[IgnoredFile]

    @property
    def size_text(self) -> str:
        return size_words(sum(f.size for f in self.files))

    @property
    def rows(self) -> list[tuple[str, str]]:
        return [(f.path, size_words(f.size)) for f in self.files]


# What the diff opens by default: the candidate's code, not their docs or config. NOTES.md has its own pane.
SOURCE_SUFFIXES = {
    ".py", ".pyi", ".js", ".mjs", ".ts", ".tsx", ".go", ".rs", ".java", ".kt", ".rb", ".php", ".c", ".h",
    ".cc", ".cpp", ".hpp", ".cs", ".swift", ".scala", ".sh", ".sql",
}  # fmt: skip
# The biggest changed source files open by default; the rest stay one click away.
OPEN_DIFFS = 3


@dataclass
class FileDiff:
    path: str
    status: str
    html: SafeString | None
    added: int = 0
    removed: int = 0
    note: str = ""
    size: int = 0  # bytes in the starter kit, for a removed file
    is_open: bool = False

    @property
    def changed_lines(self) -> int:
        return self.added + self.removed

    @property
    def is_source(self) -> bool:
        return Path(self.path).suffix.lower() in SOURCE_SUFFIXES

    @property
    def size_text(self) -> str:
        return size_words(self.size)


@dataclass
class CodeView:
    files: list[FileEntry] = field(default_factory=list)
    selected: str = ""
    selected_html: SafeString | None = None
    selected_note: str = ""
    selected_downloadable: bool = False
    diffs: list[FileDiff] = field(default_factory=list)  # the candidate's changes, in reading order
    removed: list[FileDiff] = field(default_factory=list)  # starter files the upload dropped, by path
    ignored: list[IgnoredFile] = field(default_factory=list)
    error: str = ""

    @property
    def listed_count(self) -> int:
        return sum(1 for f in self.files if f.status != "removed")

    @property
    def own_files(self) -> list[FileEntry]:
        return [f for f in self.files if f.status != "removed" and not f.folder]

    @property
    def tool_folders(self) -> list[FileFolder]:
        folders: dict[str, list[FileEntry]] = {}
        for f in self.files:
            if f.status != "removed" and f.folder:
                folders.setdefault(f.folder, []).append(f)
        return [FileFolder(folder, files) for folder, files in folders.items()]

    @property
    def ignored_groups(self) -> list[IgnoredGroup]:
        groups: dict[str, list[IgnoredFile]] = {}
        for item in self.ignored:
            groups.setdefault(item.reason, []).append(item)
        return [IgnoredGroup(reason, files) for reason, files in groups.items()]


def notes_html(text: str) -> SafeString:
    """NOTES.md rendered as markdown and sanitised (no images: they would call out when a reviewer opens it)."""
    if not text.strip():
        return mark_safe("")
    html = markdown.markdown(text, extensions=["fenced_code", "tables", "sane_lists"])
    return mark_safe(nh3.clean(html, tags=_NOTES_TAGS))  # noqa: S308 - sanitised by nh3 just above


def highlight_file(path: str, text: str) -> SafeString:
    try:
        lexer = get_lexer_for_filename(path, stripnl=False)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False)
    return mark_safe(highlight(text, lexer, _FORMATTER))  # noqa: S308 - Pygments escapes the text


def highlight_diff(diff: str) -> SafeString:
    return mark_safe(highlight(diff, DiffLexer(stripnl=False), _FORMATTER))  # noqa: S308 - Pygments escapes


def _tool_folder(rel: Path) -> str:
    """The outermost tool folder holding ``rel`` ("web/node_modules/"), or ""."""
    for depth, part in enumerate(rel.parts[:-1]):
        if part in TOOL_FOLDERS:
            return "/".join(rel.parts[: depth + 1]) + "/"
    return ""


def _read_tree(root: Path, *, skip_tool_folders: bool) -> dict[str, tuple[int, bytes | None]]:
    """Relative path -> (size, bytes), the bytes None when the file is too large to show."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_symlink() or not path.is_file() or (skip_tool_folders and _tool_folder(rel)):
            continue
        size = path.stat().st_size
        files[rel.as_posix()] = (size, None if size > MAX_SHOWN_BYTES else path.read_bytes())
    return files


def _decode(data: bytes | None) -> tuple[str | None, str]:
    if data is None:
        return None, "too_large"
    if b"\0" in data[:8192]:
        return None, "binary"
    try:
        return data.decode("utf-8"), "text"
    except UnicodeDecodeError:
        return None, "undecodable"


def _kind(path: str, data: bytes | None) -> tuple[str | None, str]:
    # git's logs and config carry the author's name and email; a .py is code wherever it sits.
    if (path.startswith(".git/") or "/.git/" in path) and not path.endswith(".py"):
        return None, "git"
    return _decode(data)


def code_view(*, archive: bytes, starter_dir: Path | None, selected: str = "", limits: ArchiveLimits | None = None):
    """Unpack, list, highlight the selected file and diff every changed file against the starter kit."""
    view = CodeView()
    with tempfile.TemporaryDirectory(prefix="review-code-") as scratch:
        root = Path(scratch) / "submission"
        try:
            manifest = unpack_archive(archive, root, limits)
        except ArchiveRejected as exc:
            view.error = f"The archive cannot be shown: {exc}"
            return view
        view.ignored = manifest.ignored
        mine = _read_tree(root, skip_tool_folders=False)
    theirs = _read_tree(starter_dir, skip_tool_folders=True) if starter_dir and starter_dir.is_dir() else {}
    budget = MAX_DIFF_BYTES
    # Diffed biggest change first, so that the page's budget goes to the code that matters most.
    for path in sorted(set(mine) | set(theirs), key=lambda p: (-_change_estimate(p, mine, theirs), p)):
        view_entry, diff = _compare(path, mine, theirs, budget)
        if view_entry is not None:
            view.files.append(view_entry)
        if diff is None:
            continue
        if diff.status == "removed":
            view.removed.append(diff)
        elif diff.html is not None and not diff.changed_lines:
            continue  # same text, other bytes (say, line endings): nothing to read
        else:
            view.diffs.append(diff)
            budget -= len(diff.html or "")
    view.files.sort(key=lambda f: f.path)
    view.removed.sort(key=lambda d: d.path)
    view.diffs = _reading_order(view.diffs)
    for folder in view.tool_folders:
        view.diffs.append(
            FileDiff(
                folder.folder, "added", None, note=f"{len(folder.files)} files, not diffed: read them in the code pane."
            )
        )
    shown = [f.path for f in view.files if f.status != "removed"]
    # The code pane opens on the biggest change the candidate made, as the diff does.
    biggest = next((d.path for d in view.diffs if d.is_open), "")
    fallback = biggest or _default_file([f.path for f in view.own_files] or shown)
    view.selected = selected if selected in shown else fallback
    if view.selected:
        entry = next(f for f in view.files if f.path == view.selected)
        text, _ = _kind(entry.path, mine[view.selected][1])
        if text is None:
            view.selected_note = entry.note[:1].upper() + entry.note[1:] + "."
            view.selected_downloadable = entry.downloadable
        else:
            view.selected_html = highlight_file(view.selected, text)
    return view


def _change_estimate(path: str, mine: dict, theirs: dict) -> int:
    """Roughly how much of ``path`` changed, in bytes, before diffing it: orders the diffing."""
    if path not in mine or _tool_folder(Path(path)):
        return 0
    size, data = mine[path]
    if path not in theirs:
        return size
    old_size, old = theirs[path]
    if data is not None and data == old:
        return 0
    return abs(size - old_size) + min(size, old_size) // 4


def _reading_order(diffs: list[FileDiff]) -> list[FileDiff]:
    """Source files the candidate changed, the biggest change first; then their other files (docs,
    config, NOTES.md), the same way; then what could not be diffed. Only the biggest source diffs open."""

    def key(d: FileDiff) -> tuple:
        return (d.html is None, not d.is_source, -d.changed_lines, d.path)

    ordered = sorted(diffs, key=key)
    for d in [d for d in ordered if d.is_source and d.html is not None][:OPEN_DIFFS]:
        d.is_open = True
    return ordered


def code_file(*, archive: bytes, path: str, limits: ArchiveLimits | None = None) -> bytes | None:
    """The bytes of one file of the submission as the grader unpacked it, for a reviewer to download.

    None when there is no such file, or it is one of git's own (it would name the author).
    """
    if _kind(path, b"")[1] == "git":
        return None
    with tempfile.TemporaryDirectory(prefix="review-file-") as scratch:
        root = Path(scratch) / "submission"
        try:
            manifest = unpack_archive(archive, root, limits)
        except ArchiveRejected:
            return None
        if path not in manifest.files:
            return None
        return (root / path).read_bytes()


def _default_file(paths: list[str]) -> str:
    for preferred in ("NOTES.md",):
        if preferred in paths:
            return preferred
    python = [p for p in paths if p.endswith(".py")]
    return (python or paths or [""])[0]


_NOT_DIFFED = {"binary": "binary", "too_large": "too large", "undecodable": "not UTF-8 text"}


def _compare(path: str, mine: dict, theirs: dict, budget: int) -> tuple[FileEntry | None, FileDiff | None]:
    if path not in mine:
        return FileEntry(path, 0, "removed"), FileDiff(
            path, "removed", None, note="Deleted from the starter kit.", size=theirs[path][0]
        )
    size, data = mine[path]
    new_text, kind = _kind(path, data)
    folder = _tool_folder(Path(path))
    if path not in theirs:
        status = "added"
    elif data is not None and data == theirs[path][1]:
        return FileEntry(path, size, "unchanged", kind, folder), None
    else:
        status = "modified"
    entry = FileEntry(path, size, status, kind, folder)
    if folder:
        return entry, None  # one line for the whole folder: its files can be hundreds
    old_text, old_kind = _decode(theirs[path][1]) if path in theirs else ("", "text")
    if new_text is None or old_text is None:
        reason = next(words for kind_name, words in _NOT_DIFFED.items() if kind_name in (kind, old_kind))
        return entry, FileDiff(path, status, None, note=f"Not diffed ({reason}).")
    if budget <= 0:
        return entry, FileDiff(
            path, status, None, note=f"Not diffed: the page already shows {size_words(MAX_DIFF_BYTES)} of diffs."
        )
    lines = list(
        difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=f"starter/{path}" if path in theirs else "/dev/null",
            tofile=f"submission/{path}",
        )
    )
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return entry, FileDiff(path, status, highlight_diff(text), added, removed)


def pygments_css() -> str:
    return _FORMATTER.get_style_defs(".hl")
