"""A candidate's git history is read as data: its timeline comes out, nothing in it runs, and the
grader never sees it."""

from datetime import UTC, datetime

import pytest

from grader.githistory import read_history_isolated
from grader.unpack import GIT_HISTORY, MAX_GIT_FILES, ArchiveRejected, unpack_archive
from tests.builders import DEFAULT_FILES, git_bundle, git_folder_members, git_history, git_object_bomb, make_zip

START = int(datetime(2026, 11, 2, 9, 0, tzinfo=UTC).timestamp())
COMMITS = [
    (START + 5 * 60, "Start from the kit", {"echo/__init__.py": "def answer(q):\n    return q\n"}),
    (
        START + 40 * 60,
        "Retry on 429 and 529 only\n\nA 400 is our fault: retrying it wastes the budget.\n\n"
        "Signed-off-by: Jane Candidate <jane.candidate@example.com>",
        {"echo/__init__.py": "import time\n\ndef answer(q):\n    return q.strip()\n", "tests/test_retry.py": "x\n"},
    ),
    (START + 95 * 60, "Notes: what I left out (ask jane.candidate@example.com)", {"NOTES.md": "# Notes\n"}),
]


@pytest.fixture
def repo(tmp_path):
    return git_history(tmp_path / "work", COMMITS)


def _assert_timeline(history: dict) -> None:
    assert not history.get("error")
    commits = history["commits"]
    assert [c["authored"] for c in commits] == [when for when, _, _ in COMMITS]  # oldest first
    assert [c["message"].splitlines()[0] for c in commits] == [
        "Start from the kit",
        "Retry on 429 and 529 only",
        "Notes: what I left out (ask [email])",
    ]
    assert [(c["files"], c["added"], c["deleted"]) for c in commits] == [(1, 2, 0), (2, 4, 1), (1, 1, 0)]
    assert commits[1]["paths"] == ["echo/__init__.py", "tests/test_retry.py"]
    # Blind review: the author's name and email never leave the reader, not even through a trailer.
    assert "Jane" not in str(history) and "example.com" not in str(history)


def test_it_reads_the_timeline_of_a_git_folder(repo):
    history = read_history_isolated(make_zip({**DEFAULT_FILES, **git_folder_members(repo)}))
    assert history["source"] == ".git/"
    _assert_timeline(history)


def test_it_reads_the_timeline_of_a_bundle_in_a_wrapper_folder(repo):
    archive = make_zip({"my-solution/echo/__init__.py": "x = 1\n", "my-solution/history.bundle": git_bundle(repo)})
    history = read_history_isolated(archive)
    assert history["source"] == "my-solution/history.bundle"
    _assert_timeline(history)


def test_an_archive_without_history_needs_no_reading():
    assert read_history_isolated(make_zip(DEFAULT_FILES)) == {"source": "", "commits": []}


def test_a_damaged_history_is_reported_not_raised(repo):
    archive = make_zip({**DEFAULT_FILES, "history.bundle": git_bundle(repo)[:200]})
    history = read_history_isolated(archive)
    assert history["commits"] == [] and history["error"]


def test_hooks_and_a_hostile_config_run_nothing_anywhere(repo, tmp_path):
    """fsmonitor, pager, sshCommand, filters, textconv, an alias and hooks each touch MARKER if run."""
    marker = tmp_path / "MARKER"
    archive = make_zip({**DEFAULT_FILES, **git_folder_members(repo, marker=marker)})
    history = read_history_isolated(archive)
    _assert_timeline(history)
    # What the grader and the code pane get: the source, without the .git folder (the harmless
    # .gitattributes stays a file like any other), listed once as ignored.
    manifest = unpack_archive(archive, tmp_path / "unpacked")
    assert not (tmp_path / "unpacked" / ".git").exists()
    assert not any(".git/" in f for f in manifest.files)
    assert [(i.path, i.reason) for i in manifest.ignored] == [(".git/", GIT_HISTORY)]
    assert not marker.exists()


def test_a_bundle_is_dropped_from_what_is_graded(repo, tmp_path):
    manifest = unpack_archive(make_zip({**DEFAULT_FILES, "history.bundle": git_bundle(repo)}), tmp_path / "u")
    assert "history.bundle" not in manifest.files and not (tmp_path / "u" / "history.bundle").exists()
    assert [i.path for i in manifest.ignored] == ["history.bundle"]


def test_git_files_have_their_own_bound_and_not_the_file_count(tmp_path):
    loose = {f".git/objects/{i:02x}/{i:038x}": b"x" for i in range(600)}  # more than max_files (500)
    assert unpack_archive(make_zip({**DEFAULT_FILES, **loose}), tmp_path / "a").files == list(DEFAULT_FILES)
    too_many = {f".git/objects/aa/{i:038x}": b"" for i in range(MAX_GIT_FILES + 1)}
    with pytest.raises(ArchiveRejected, match="git gc"):
        unpack_archive(make_zip({**DEFAULT_FILES, **too_many}), tmp_path / "b")


def test_an_object_that_inflates_to_gigabytes_costs_a_capped_child_not_the_worker(tmp_path):
    from dulwich.objects import Blob

    repo = git_history(tmp_path / "bomb", [(START, "one", {"echo/__init__.py": "x\n"})])
    members = git_folder_members(repo)
    sha = Blob.from_string(b"x\n").id.decode()
    members[f".git/objects/{sha[:2]}/{sha[2:]}"] = git_object_bomb(gigabytes=2)

    history = read_history_isolated(make_zip({**DEFAULT_FILES, **members}))

    assert history["commits"] == [] and history["error"] == "the history cannot be read (MemoryError)"
