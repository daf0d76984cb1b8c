"""A candidate's git history, read as data: the commit timeline of a ``.git`` folder or a bundle in the upload.

The history is hostile input like the rest of the archive. It is never handed to the ``git`` binary
and never opened as a repository: a ``.git/config`` can name programs git runs on its own
(``core.fsmonitor``, ``core.sshCommand``, ``core.pager``, filters) and ``hooks/`` holds more. Only
the object database and the refs are copied out of the archive, by a whitelist of their file names,
into a fresh folder; ``dulwich`` (pure Python) reads objects from there. Config, hooks, info,
alternates and everything else are never written, so nothing in them can run or point elsewhere.

Objects are zlib streams whose declared sizes mean nothing until inflated (a small pack can inflate
to gigabytes), so ``read_history_isolated`` reads in a child process of this module, which caps its
own memory and CPU first; a history that is too big or damaged comes back as an error, not a crash.

What is kept is what the review page shows and nothing that names the candidate: per commit, its
times, its message (trailers such as ``Signed-off-by:`` and email addresses removed, cut to
MAX_MESSAGE_CHARS), the files it changed and the lines added and removed. Author names and emails
are never read out.
"""

import difflib
import heapq
import io
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from grader.unpack import git_folder_index, is_git_history

MAX_COMMITS = 500
MAX_MESSAGE_CHARS = 500
MAX_PATHS_PER_COMMIT = 20
MAX_PATH_CHARS = 200
# Lines are counted for blobs up to this size and while the whole history has diffed less than the
# budget; past either, a change counts as a file without lines (what `git log --stat` shows for binaries).
MAX_DIFF_BLOB_BYTES = 256 * 1024
DIFF_BUDGET_BYTES = 32 * 1024 * 1024
MAX_COPIED_BYTES = 64 * 1024 * 1024
# The child's own limits: far above what a 5 MB upload's history needs, far below what hurts a worker.
CHILD_MEMORY_BYTES = 1024 * 1024 * 1024
CHILD_CPU_SECONDS = 60
CHILD_TIMEOUT_S = 90

_OBJECT = re.compile(r"^objects/[0-9a-f]{2}/[0-9a-f]{38}$")
_PACK = re.compile(r"^objects/pack/pack-[0-9a-f]{40}\.(pack|idx)$")
_REF = re.compile(r"^refs/(heads|tags)/[A-Za-z0-9._/-]{1,200}$")
_TRAILER = re.compile(r"^[A-Za-z][A-Za-z-]*-by:.*$", re.MULTILINE)
_EMAIL = re.compile(r"[^\s<>()\[\]]+@[^\s<>()\[\]]+")


class HistoryUnreadable(Exception):
    """The history is there but cannot be read; the message is for staff."""


def has_git_history(archive: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            return any(is_git_history(PurePosixPath(name)) for name in zf.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return False


def read_history_isolated(archive: bytes, *, timeout: float = CHILD_TIMEOUT_S) -> dict[str, Any]:
    """The timeline of the archive's git history, read in a capped child process.

    ``{}``-like ``{"source": ""}`` when the archive holds none; ``{"source": …, "error": …}`` when it
    cannot be read.
    """
    if not has_git_history(archive):
        return {"source": "", "commits": []}
    with tempfile.TemporaryDirectory(prefix="git-history-") as scratch:
        path = Path(scratch) / "upload.zip"
        path.write_bytes(archive)
        try:
            done = subprocess.run(
                [sys.executable, "-E", "-s", "-m", "grader.githistory", str(path)],
                cwd=Path(__file__).resolve().parent.parent,
                env={"PATH": os.defpath, "LANG": "C.UTF-8", "HOME": scratch},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"source": "unknown", "commits": [], "error": "reading the history took too long"}
    try:
        result = json.loads(done.stdout)
    except ValueError:
        result = None
    if done.returncode != 0 or not isinstance(result, dict):
        return {"source": "unknown", "commits": [], "error": "the history is too large or damaged to read"}
    return result


def read_history(archive_path: Path) -> dict[str, Any]:
    """The timeline, read in this process (``read_history_isolated`` runs this in a child)."""
    from dulwich.object_store import MemoryObjectStore  # the child's import: the parent never loads dulwich

    with tempfile.TemporaryDirectory(prefix="git-history-") as scratch, zipfile.ZipFile(archive_path) as zf:
        root = Path(scratch)
        source, tips_from = _copy_history(zf, root)
        try:
            if source == ".git":
                from dulwich.object_store import DiskObjectStore

                store: Any = DiskObjectStore(str(root / "git" / "objects"), alternates=[])
                tips = _tips_of_folder(root / "git")
            else:
                from dulwich.bundle import read_bundle

                store = MemoryObjectStore()
                with (root / "history.bundle").open("rb") as fh:
                    bundle = read_bundle(fh)
                    bundle.store_objects(store)
                    refs = {_text(name): sha for name, sha in bundle.references.items()}
                    bundle.close()
                tips = [sha for name, sha in refs.items() if name == "HEAD" or name.startswith("refs/heads/")]
            commits, truncated = _timeline(store, tips)
        except HistoryUnreadable as exc:
            return {"source": tips_from, "commits": [], "error": str(exc)}
        except Exception as exc:
            return {"source": tips_from, "commits": [], "error": f"the history cannot be read ({type(exc).__name__})"}
    return {"source": tips_from, "commits": commits, "truncated": truncated}


def _copy_history(zf: zipfile.ZipFile, root: Path) -> tuple[str, str]:
    """Copy the first ``.git`` folder's objects and refs (whitelisted names only), else the first bundle."""
    members = [(info, PurePosixPath(info.filename)) for info in zf.infolist() if not info.is_dir()]
    folders = sorted(
        {path.parts[: git_folder_index(path) + 1] for _, path in members if git_folder_index(path) >= 0},
        key=lambda parts: (len(parts), parts),
    )
    if folders:
        top = folders[0]
        copied = 0
        for info, path in members:
            if path.parts[: len(top)] != top:
                continue
            rel = "/".join(path.parts[len(top) :])
            if rel in ("HEAD", "packed-refs") or _OBJECT.match(rel) or _PACK.match(rel) or _REF.match(rel):
                if ".." in rel.split("/"):
                    continue
                copied = _copy_member(zf, info, root / "git" / rel, copied)
        return ".git", "/".join(top) + "/"
    for info, path in members:
        if path.name.lower().endswith(".bundle"):
            _copy_member(zf, info, root / "history.bundle", 0)
            return "bundle", str(path)
    raise HistoryUnreadable("no git history in the archive")


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, copied: int) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(info) as src, target.open("xb") as out:
        while chunk := src.read(64 * 1024):
            copied += len(chunk)
            if copied > MAX_COPIED_BYTES:
                raise HistoryUnreadable("the history is larger than we read")
            out.write(chunk)
    return copied


def _tips_of_folder(git: Path) -> list[bytes]:
    """HEAD's commit and every branch's, from the ref files and packed-refs (never the config)."""
    refs: dict[str, bytes] = {}
    packed = git / "packed-refs"
    if packed.is_file():
        for line in packed.read_bytes().splitlines():
            fields = line.split()
            if len(fields) == 2 and re.fullmatch(rb"[0-9a-f]{40}", fields[0]):
                refs[_text(fields[1])] = fields[0]
    for ref in (git / "refs").rglob("*") if (git / "refs").is_dir() else []:
        if ref.is_file():
            value = ref.read_bytes()[:100].strip()
            if re.fullmatch(rb"[0-9a-f]{40}", value):
                refs[ref.relative_to(git).as_posix()] = value
    tips = [sha for name, sha in refs.items() if name.startswith("refs/heads/")]
    head = (git / "HEAD").read_bytes()[:300].strip() if (git / "HEAD").is_file() else b""
    if re.fullmatch(rb"[0-9a-f]{40}", head):
        tips.append(head)
    elif head.startswith(b"ref: ") and _text(head[5:]) in refs:
        tips.append(refs[_text(head[5:])])
    return tips


def _timeline(store: Any, tips: list[bytes]) -> tuple[list[dict[str, Any]], bool]:
    """Up to MAX_COMMITS commits reachable from ``tips``, newest first as git log walks, returned oldest first."""
    from dulwich.objects import Commit

    seen: set[bytes] = set()
    queue: list[tuple[int, bytes, Commit]] = []

    def push(sha: bytes) -> None:
        if sha in seen:
            return
        seen.add(sha)
        try:
            obj = store[sha]
        except KeyError:  # outside a partial bundle, or missing: the walk ends there
            return
        if isinstance(obj, Commit):
            heapq.heappush(queue, (-obj.commit_time, sha, obj))

    for tip in tips:
        push(tip)
    if not queue:
        raise HistoryUnreadable("no commit found on any branch")
    walked: list[Commit] = []
    while queue and len(walked) < MAX_COMMITS:
        _, _, commit = heapq.heappop(queue)
        walked.append(commit)
        for parent in commit.parents:
            push(parent)
    budget = [DIFF_BUDGET_BYTES]
    return [_commit_row(store, c, budget) for c in reversed(walked)], bool(queue)


def _commit_row(store: Any, commit: Any, budget: list[int]) -> dict[str, Any]:
    from dulwich.diff_tree import tree_changes

    parent_tree = None
    if commit.parents:
        try:
            parent_tree = store[commit.parents[0]].tree
        except KeyError:
            parent_tree = None
    paths: list[str] = []
    added = deleted = 0
    files = 0
    counted = True
    try:
        for change in tree_changes(store, parent_tree, commit.tree):
            files += 1
            side = change.new if change.new and change.new.path else change.old
            path = (side.path if side else None) or b""
            if len(paths) < MAX_PATHS_PER_COMMIT:
                paths.append(_clean(_text(path), MAX_PATH_CHARS))
            lines = _line_counts(
                store, change.old.sha if change.old else None, change.new.sha if change.new else None, budget
            )
            if lines is None:
                counted = False
            else:
                added, deleted = added + lines[0], deleted + lines[1]
    except KeyError:  # a tree outside a partial bundle
        counted = False
    return {
        "sha": commit.id.decode("ascii")[:12],
        "authored": int(commit.author_time),
        "committed": int(commit.commit_time),
        "message": _message(commit.message),
        "files": files,
        "paths": paths,
        "added": added if counted else None,
        "deleted": deleted if counted else None,
    }


def _line_counts(store: Any, old: bytes | None, new: bytes | None, budget: list[int]) -> tuple[int, int] | None:
    """(added, deleted) lines between two blobs, or None for a binary, huge or unreadable one."""
    texts = []
    for sha in (old, new):
        if sha is None:
            texts.append(b"")
            continue
        try:
            data = store[sha].as_raw_string()
        except KeyError:
            return None
        if len(data) > MAX_DIFF_BLOB_BYTES or b"\0" in data[:8000]:
            return None
        texts.append(data)
    size = len(texts[0]) + len(texts[1])
    if size > budget[0]:
        return None
    budget[0] -= size
    a, b = texts[0].splitlines(), texts[1].splitlines()
    added = deleted = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
        if tag in ("replace", "delete"):
            deleted += i2 - i1
        if tag in ("replace", "insert"):
            added += j2 - j1
    return added, deleted


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _clean(text: str, limit: int) -> str:
    """Without characters that hide or disguise what follows (controls but newlines, bidi overrides), cut short."""
    kept = "".join(
        ch if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp") else "\ufffd" for ch in text
    )
    return kept if len(kept) <= limit else kept[: limit - 1] + "…"


def _message(raw: bytes) -> str:
    """The message without what names its author (trailers, email addresses), trimmed and cut."""
    text = _TRAILER.sub("", _text(raw[: MAX_MESSAGE_CHARS * 8]))
    text = _EMAIL.sub("[email]", text)
    return _clean(re.sub(r"\n{3,}", "\n\n", text).strip(), MAX_MESSAGE_CHARS)


def _cap_self() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CHILD_CPU_SECONDS, CHILD_CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_COPIED_BYTES, MAX_COPIED_BYTES))


if __name__ == "__main__":
    _cap_self()
    json.dump(read_history(Path(sys.argv[1])), sys.stdout)
