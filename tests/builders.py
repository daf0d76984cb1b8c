"""Builders every test uses: archives (given members, a folder, a zip bomb, damaged), compiled Python that
hides other source, an exercise version's files, and a graded submission."""

import io
import subprocess
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from django.db import transaction

from assessments.models import Exercise, ProbeResult
from assessments.services import grading_run_claim, grading_run_finish
from candidates.models import Invitation, Submission
from candidates.services import candidate_get_or_create, invitation_create, invitation_mark_graded, invitation_start
from grader.package import package_checksum
from rubrics.services import review_assign, review_score_save, review_verdict_save
from workflows.uploads import submission_accept, submission_upload


def make_zip(entries: dict[str, str | bytes] | list[tuple], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``{name: content}``, or of ``(name, content[, unix mode])`` tuples for symlinks and devices."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        items = entries.items() if isinstance(entries, dict) else entries
        for item in items:
            name, content, *mode = item
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            if mode:
                info.create_system = 3
                info.external_attr = mode[0] << 16
            zf.writestr(info, content)
    return buffer.getvalue()


# What running the code here leaves beside it; a candidate's zip of the same folder would not hold it.
_LEFT_BY_RUNNING = {"__pycache__", ".pytest_cache"}


def zip_folder(folder: Path, *, extra: dict[str, str | bytes] | None = None) -> bytes:
    """``folder`` zipped as a candidate zips their work: every file with its mode, without the
    bytecode and test caches running it here left behind; ``extra`` members are added (or replace)."""
    members = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not _LEFT_BY_RUNNING.intersection(relative.parts) and path.suffix != ".pyc":
            members[relative.as_posix()] = (path.read_bytes(), path.stat().st_mode)
    members |= {name: (content,) for name, content in (extra or {}).items()}
    return make_zip([(name, *member) for name, member in members.items()])


def zip_bomb(megabytes: int = 60, *, package: str = "echo") -> bytes:
    """``package`` with megabytes of zeros beside it that deflate to a few tens of KB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(f"{package}/__init__.py", "def answer(q):\n    return q\n")
        with zf.open(f"{package}/zeros.bin", "w", force_zip64=True) as fh:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(megabytes):
                fh.write(chunk)
    return buffer.getvalue()


DAMAGES = ("lzma data", "zip version", "local name", "offsets")


def damaged_zip(damage: str) -> bytes:
    """A zip of a ``helpdesk`` package with one kind of damage a hostile or broken upload has, which
    Python's zipfile reports with an exception other than BadZipFile (see ``DAMAGES``)."""
    source = "def answer(q):\n    return q\n" * 200
    if damage == "lzma data":
        data = bytearray(make_zip({"helpdesk/__init__.py": source}, compression=zipfile.ZIP_LZMA))
        stream = 30 + len("helpdesk/__init__.py") + 9  # after the local header and LZMA's properties
        data[stream + 10 : stream + 30] = b"\xff" * 20
        return bytes(data)
    data = bytearray(make_zip({"helpdesk/__init__.py": source, "helpdesk/caf\u00e9.py": "x = 1\n"}))
    if damage == "zip version":  # the central directory asks for a zip version Python does not read
        entry = data.find(b"PK\x01\x02")
        data[entry + 6 : entry + 8] = (126).to_bytes(2, "little")
    elif damage == "local name":  # a local header's UTF-8 name that is not UTF-8
        data[data.find("caf\u00e9".encode()) + 3] = 0xFF
    elif damage == "offsets":  # the end record puts the central directory past where it is
        end = data.rfind(b"PK\x05\x06")
        offset = int.from_bytes(data[end + 16 : end + 20], "little")
        data[end + 16 : end + 20] = (offset + 1000).to_bytes(4, "little")
    else:
        raise ValueError(f"unknown damage {damage!r}")
    return bytes(data)


_COMPILE = """
import importlib.util, py_compile, sys
source = sys.argv[1]
target = importlib.util.cache_from_source(source)
py_compile.compile(
    source, cfile=target, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
)
print(target)
"""


def unchecked_pyc(source: str, *, python: str, module: str = "__init__") -> tuple[str, bytes]:
    """``source`` compiled by ``python`` into an unchecked-hash pyc: (its name in __pycache__, its bytes).

    Python loads an unchecked-hash pyc without ever looking at the .py beside it, so placed in
    ``__pycache__`` next to different source it runs instead of that source. It is compiled by the
    interpreter that will import it: the magic number and the cache tag must be that Python's.
    """
    with tempfile.TemporaryDirectory(prefix="pyc-") as tmp:
        path = Path(tmp) / f"{module}.py"
        path.write_text(source)
        done = subprocess.run([python, "-I", "-c", _COMPILE, str(path)], capture_output=True, text=True, check=True)
        compiled = Path(done.stdout.strip())
        return compiled.name, compiled.read_bytes()


def imported_answer(folder: Path, *, python: str, package: str, question: str = "hello") -> str:
    """What ``package.answer(question)`` returns when ``python`` imports it from ``folder`` as is."""
    script = f"import sys; sys.path.append({str(folder)!r}); import {package}; print({package}.answer({question!r}))"
    return subprocess.run([python, "-I", "-B", "-c", script], capture_output=True, text=True, check=True).stdout


ECHO_SOURCE = "def answer(question):\n    return {'status': 'answered', 'answer': question, 'citations': []}\n"
NOT_AN_ECHO_SOURCE = (
    "def answer(question):\n    return {'status': 'answered', 'answer': 'not an echo', 'citations': []}\n"
)


def echo_shadowed_by_a_pyc(folder: Path, *, python: str) -> tuple[str, bytes]:
    """A tiny-echo solution in ``folder`` whose ``echo/__init__.py`` echoes (it passes ``echo-plain``)
    and whose ``echo/__pycache__`` holds a pyc of code that does not. Returns (pyc path, pyc bytes).
    """
    name, pyc = unchecked_pyc(NOT_AN_ECHO_SOURCE, python=python)
    (folder / "echo" / "__pycache__").mkdir(parents=True)
    (folder / "echo" / "__init__.py").write_text(ECHO_SOURCE)
    (folder / "echo" / "__pycache__" / name).write_bytes(pyc)
    # The trap is real: Python left to itself runs the pyc, not the source a reviewer reads.
    assert "not an echo" in imported_answer(folder, python=python, package="echo")
    return f"echo/__pycache__/{name}", pyc


# --- An exercise version's files ------------------------------------------------------------------


def package_files_write(exercise: Exercise, files: dict[str, str]) -> Path:
    """Write ``files`` into ``exercise``'s package folder and record the checksum of what it now holds,
    as syncing it again with ``--force`` would (a development edit): pages and workers then read
    those files. Returns the folder."""
    folder = Path(exercise.package_path)
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content)
    exercise.checksum = package_checksum(folder)
    Exercise.objects.filter(pk=exercise.pk).update(checksum=exercise.checksum)
    return folder


# --- A graded submission ---------------------------------------------------------------------------

# graded_submission's archive unless told otherwise: a tiny-echo answer whose code and notes carry
# markup, so every page that shows a submission is checked for escaping it too.
DEFAULT_FILES = {
    "echo/__init__.py": (
        "def answer(question):\n    return {'status': 'answered', 'answer': '<script>alert(1)</script>'}\n"
    ),
    "NOTES.md": "# Notes\n\nI **retry** on 429.\n\n<script>alert('x')</script>\n",
}


def evidence(*, statuses=(429, 200), gap_s: float = 0.0, stall: bool = False) -> dict:
    """A probe's evidence: one call, and a request per status (the last one stalled if ``stall``)."""
    requests, t = [], 100.0
    for seq, status in enumerate(statuses):
        ended = None if (stall and seq == len(statuses) - 1) else t + 0.3
        requests.append(
            {
                "seq": seq,
                "arrived": t,
                "ended": ended,
                "status": status,
                "fault": "429" if status == 429 else None,
                "outcome": "complete" if ended else "stalled",
                "retry_count": seq,
                "in_flight_at_arrival": 0,
                "input_tokens": 1200,
                "max_tokens": 600,
            }
        )
        t += 0.3 + gap_s
    return {
        "description": "A 429 with retry-after, then success.",
        "calls": [
            {
                "index": 0,
                "input": "How often are bank feeds checked?",
                "outcome": "returned",
                "value": {"status": "answered", "answer": "Every 4 hours.", "citations": ["bank-feeds"]},
                "problems": [],
                "raised": None,
                "duration_s": 1.0,
                "observed_s": 1.1,
            }
        ],
        "requests": requests,
        "wall_s": 5.0,
        "peak_in_flight": 1,
        "stderr_tail": "",
    }


def probe_results(results: Iterable[dict | tuple[str, str]], *, first: int = 0) -> list[dict]:
    """ProbeResult fields for each result. A dict is taken as it is; a ``(failure_mode, outcome)``
    pair gets a numbered probe id and reason (from ``first``), a second's duration and evidence
    (a failure's last request stalled)."""
    fields = []
    for i, result in enumerate(results):
        if isinstance(result, dict):
            fields.append(result)
            continue
        mode, outcome = result
        fields.append(
            {
                "probe_id": f"{mode}-{first + i}",
                "failure_mode": mode,
                "outcome": outcome,
                "reason": f"{outcome}: reason {first + i}",
                "evidence": evidence(gap_s=1.5 if i % 2 else 0, stall=(outcome == "fail")),
                "duration_s": 1.0,
            }
        )
    return fields


def graded_submission(
    assessment=None,
    *,
    invitation: Invitation | None = None,
    name: str = "Dana Candidate",
    email: str = "dana@example.com",
    files: dict[str, str | bytes] | None = None,
    archive: bytes | None = None,
    results: Iterable[dict | tuple[str, str]] | None = None,
    checked: bool = True,
    mark_graded: bool = True,
) -> Submission:
    """A submission whose grading run is done with ``results``, built through the real services.

    The upload is ``invitation``'s (started here if it was not), or that of ``name`` invited to
    ``assessment``. It is ``archive``, or ``files`` zipped (default ``DEFAULT_FILES``), uploaded as
    a candidate uploads it; ``checked=False`` stores it without the upload's checks, for archives
    they would refuse. ``results`` (see ``probe_results``) default to one grounding pass and one
    fail. The invitation is then marked graded, unless ``mark_graded=False`` leaves that step (and
    the review assignment that comes with it) to the test.
    """
    if invitation is None:
        candidate = candidate_get_or_create(name=name, email=email)
        invitation, _ = invitation_create(assessment=assessment, candidate=candidate, invited_by=assessment.owner)
    if invitation.state == Invitation.INVITED:
        invitation_start(invitation=invitation)
    if archive is None:
        files = DEFAULT_FILES if files is None else files
        archive = make_zip(files)
    # One transaction: the grading task the upload sends on commit finds the run already done, so a
    # real worker running beside the test (the session's) has nothing to race the builder for.
    with transaction.atomic():
        if checked:
            submission = submission_upload(invitation=invitation, archive=archive)
        else:
            notes = (files or {}).get("NOTES.md", "")
            submission = submission_accept(invitation=invitation, archive=archive, notes=notes)
        run = submission.grading_runs.get(trial__isnull=True)  # an open trial regrade adds a run of its own
        if results is None:
            results = [("grounding", "pass"), ("grounding", "fail")]
        lease = grading_run_claim(run=run)
        grading_run_finish(run=run, lease_token=lease, results=probe_results(results), isolation={})
    if mark_graded:
        invitation_mark_graded(invitation=invitation)
    return submission


def add_results(run, results: Iterable[dict | tuple[str, str]]) -> None:
    """More results on a run that is already done (numbered on from the ones it has)."""
    fields = probe_results(results, first=run.results.count())
    ProbeResult.objects.bulk_create(ProbeResult(run=run, **result) for result in fields)


def review_verdict(review, recommendation: str = "yes", takeaways: str = "Grounds its answers\nRetries with care"):
    """A recommendation and two takeaways, which submitting a review needs beside its levels and notes."""
    return review_verdict_save(review=review, recommendation=recommendation, takeaways=takeaways)


# --- Git history ----------------------------------------------------------------------------------

GIT_AUTHOR = b"Jane Candidate <jane.candidate@example.com>"
# What a hostile .git may name for git (or anything that trusts its config) to run: each writes MARKER.
HOSTILE_GIT_CONFIG = """[core]
\tfsmonitor = touch {marker}
\tpager = touch {marker}
\tsshCommand = touch {marker}
\thooksPath = hooks
[filter "x"]
\tclean = touch {marker}
\tsmudge = touch {marker}
\tprocess = touch {marker}
[diff "x"]
\ttextconv = touch {marker}
[alias]
\tlog = !touch {marker}
"""
HOSTILE_HOOKS = ("post-checkout", "pre-commit", "post-merge", "fsmonitor-watchman", "reference-transaction")


def git_history(folder: Path, commits: list[tuple[int, str, dict[str, str]]]) -> Path:
    """A repository in ``folder`` with ``commits`` made as (unix time, message, files written) on main,
    each commit's tree being the previous one's with those files replaced. Built with dulwich's
    objects, so nothing (no hook, no config) runs while building it. Returns the ``.git`` folder."""
    from dulwich.objects import Blob, Commit, Tree
    from dulwich.repo import Repo

    repo = Repo.init(str(folder), mkdir=True)
    files: dict[str, bytes] = {}
    parent = None
    for when, message, changes in commits:
        files |= {path: text.encode() for path, text in changes.items()}
        tree_id = _git_tree(repo.object_store, files, Blob, Tree)
        commit = Commit()
        commit.tree, commit.parents = tree_id, [parent] if parent else []
        commit.author = commit.committer = GIT_AUTHOR
        commit.author_time = commit.commit_time = when
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = message.encode()
        repo.object_store.add_object(commit)
        parent = commit.id
    repo.refs[b"refs/heads/main"] = parent
    repo.refs.set_symbolic_ref(b"HEAD", b"refs/heads/main")
    repo.close()
    return folder / ".git"


def _git_tree(store, files: dict[str, bytes], Blob, Tree) -> bytes:
    tree = Tree()
    folders: dict[str, dict[str, bytes]] = {}
    for path, data in files.items():
        head, _, rest = path.partition("/")
        if rest:
            folders.setdefault(head, {})[rest] = data
        else:
            blob = Blob.from_string(data)
            store.add_object(blob)
            tree.add(head.encode(), 0o100644, blob.id)
    for name, inner in folders.items():
        tree.add(name.encode(), 0o040000, _git_tree(store, inner, Blob, Tree))
    store.add_object(tree)
    return tree.id


def git_bundle(git_folder: Path) -> bytes:
    """What `git bundle create history.bundle --all` makes of the repository at ``git_folder``'s parent."""
    from dulwich.bundle import create_bundle_from_repo, write_bundle
    from dulwich.repo import Repo

    repo = Repo(str(git_folder.parent))
    buffer = io.BytesIO()
    write_bundle(buffer, create_bundle_from_repo(repo, refs=[b"refs/heads/main"]))
    repo.close()
    return buffer.getvalue()


def git_folder_members(git_folder: Path, *, under: str = ".git", marker: Path | None = None) -> dict[str, bytes]:
    """The ``.git`` folder as zip members under ``under``; with ``marker``, a hostile config and hooks
    that would each write ``marker`` if anything ran them."""
    members = {
        f"{under}/{p.relative_to(git_folder).as_posix()}": p.read_bytes()
        for p in sorted(git_folder.rglob("*"))
        if p.is_file()
    }
    if marker is not None:
        members[f"{under}/config"] = HOSTILE_GIT_CONFIG.format(marker=marker).encode()
        for hook in HOSTILE_HOOKS:
            members[f"{under}/hooks/{hook}"] = f"#!/bin/sh\ntouch {marker}\n".encode()
        members[f"{under}/info/attributes"] = b"* filter=x diff=x\n"
        members[".gitattributes"] = b"* filter=x diff=x\n"
    return members


def git_object_bomb(*, gigabytes: int = 2) -> bytes:
    """A loose git object that declares and inflates to ``gigabytes`` of zeros from about 2 MB.

    Built fast: after a full flush the compressor starts afresh, so one compressed 16 MB block is
    repeated (the trailing checksum is wrong, which a reader only sees after inflating it all)."""
    import zlib

    size = gigabytes * 1024**3
    co = zlib.compressobj(9)
    head = co.compress(f"blob {size}\0".encode()) + co.flush(zlib.Z_FULL_FLUSH)
    chunk = 16 * 1024 * 1024
    block = co.compress(b"\0" * chunk) + co.flush(zlib.Z_FULL_FLUSH)
    return head + block * (size // chunk) + co.flush()


def review_ready_to_submit(submission, reviewer, manager, level: int = 2):
    """A review assigned to ``reviewer`` with every criterion scored and the verdict given (not submitted)."""
    review = review_assign(submission=submission, reviewer=reviewer, actor=manager)
    for criterion in submission.invitation.assessment.rubric.criteria.all():
        review_score_save(review=review, criterion=criterion, level=level, note="fine")
    review_verdict(review)
    return review
