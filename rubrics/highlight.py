"""The code pane: a submission's files, highlighted, and their diff against the starter kit.

Everything in the archive is hostile. It is unpacked with the same checks as the grader into a
temporary folder that is always removed; HTML comes only from Pygments (which escapes what it
highlights) and from sanitised markdown, never from candidate text marked safe by hand.
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

from assessments.grading.unpack import ArchiveLimits, ArchiveRejected, unpack_archive

MAX_SHOWN_BYTES = 200 * 1024
SKIPPED_PARTS = {"__pycache__", ".git", ".venv", "node_modules", ".pytest_cache", ".mypy_cache"}
_NOTES_TAGS = nh3.ALLOWED_TAGS - {"img", "area", "map"}
_FORMATTER = HtmlFormatter(cssclass="hl", wrapcode=True)


@dataclass
class FileEntry:
    path: str
    size: int
    status: str  # "added", "modified", "unchanged", "removed"
    kind: str = "text"  # "text", "binary", "too_large"


@dataclass
class FileDiff:
    path: str
    status: str
    html: SafeString | None
    added: int = 0
    removed: int = 0
    note: str = ""


@dataclass
class CodeView:
    files: list[FileEntry] = field(default_factory=list)
    selected: str = ""
    selected_html: SafeString | None = None
    selected_note: str = ""
    diffs: list[FileDiff] = field(default_factory=list)
    error: str = ""


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


def _read_tree(root: Path) -> dict[str, bytes | None]:
    """Relative path -> bytes (None when the file is too large to show)."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_symlink() or not path.is_file() or SKIPPED_PARTS & set(rel.parts):
            continue
        size = path.stat().st_size
        files[rel.as_posix()] = None if size > MAX_SHOWN_BYTES else path.read_bytes()
    return files


def _decode(data: bytes | None) -> tuple[str | None, str]:
    if data is None:
        return None, "too_large"
    if b"\0" in data[:8192]:
        return None, "binary"
    try:
        return data.decode("utf-8"), "text"
    except UnicodeDecodeError:
        return None, "binary"


def code_view(*, archive: bytes, starter_dir: Path | None, selected: str = "", limits: ArchiveLimits | None = None):
    """Unpack, list, highlight the selected file and diff every changed file against the starter kit."""
    view = CodeView()
    with tempfile.TemporaryDirectory(prefix="review-code-") as scratch:
        root = Path(scratch) / "submission"
        try:
            unpack_archive(archive, root, limits)
        except ArchiveRejected as exc:
            view.error = f"The archive cannot be shown: {exc}"
            return view
        mine = _read_tree(root)
    theirs = _read_tree(starter_dir) if starter_dir and starter_dir.is_dir() else {}
    for path in sorted(set(mine) | set(theirs)):
        view_entry, diff = _compare(path, mine, theirs)
        if view_entry is not None:
            view.files.append(view_entry)
        if diff is not None:
            view.diffs.append(diff)
    shown = [f.path for f in view.files if f.status != "removed"]
    view.selected = selected if selected in shown else _default_file(shown)
    if view.selected:
        text, kind = _decode(mine[view.selected])
        if text is None:
            view.selected_note = (
                "Too large to show (over 200 KB)." if kind == "too_large" else "Binary file, not shown."
            )
        else:
            view.selected_html = highlight_file(view.selected, text)
    return view


def _default_file(paths: list[str]) -> str:
    for preferred in ("NOTES.md",):
        if preferred in paths:
            return preferred
    python = [p for p in paths if p.endswith(".py")]
    return (python or paths or [""])[0]


def _compare(path: str, mine: dict, theirs: dict) -> tuple[FileEntry | None, FileDiff | None]:
    if path not in mine:
        return FileEntry(path, 0, "removed"), FileDiff(path, "removed", None, note="Deleted from the starter kit.")
    data = mine[path]
    size = len(data) if data is not None else MAX_SHOWN_BYTES + 1
    new_text, kind = _decode(data)
    if path not in theirs:
        status = "added"
    elif data is not None and data == theirs[path]:
        return FileEntry(path, size, "unchanged", kind), None
    else:
        status = "modified"
    entry = FileEntry(path, size, status, kind)
    old_text, old_kind = _decode(theirs[path]) if path in theirs else ("", "text")
    if new_text is None or old_text is None:
        reason = "binary" if "binary" in (kind, old_kind) else "too large"
        return entry, FileDiff(path, status, None, note=f"Not diffed ({reason}).")
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
