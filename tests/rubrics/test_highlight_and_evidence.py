from pathlib import Path
from types import SimpleNamespace

import pytest

from assessments.selectors import FailureModes
from rubrics.evidence import TREE_MAX_DEPTH, TREE_MAX_LINES, json_tree, suggested_level, suggestions_for, timeline
from rubrics.highlight import MAX_SHOWN_BYTES, code_file, code_view, notes_html
from tests.builders import evidence, make_zip
from tests.rubrics.factories import EVERY_KIND


def _starter(tmp_path: Path) -> Path:
    starter = tmp_path / "starter"
    (starter / "pkg").mkdir(parents=True)
    (starter / "pkg" / "__init__.py").write_text("def answer(q):\n    return q\n")
    (starter / "README.md").write_text("starter readme\n")
    return starter


def test_it_escapes_hostile_file_contents_and_diffs(tmp_path):
    archive = make_zip({"pkg/__init__.py": "def answer(q):\n    return '<img src=x onerror=alert(1)>'\n"})
    view = code_view(archive=archive, starter_dir=_starter(tmp_path), selected="pkg/__init__.py")
    assert view.selected == "pkg/__init__.py"
    assert "<img" not in view.selected_html and "&lt;img" in view.selected_html
    [pkg] = view.diffs
    [readme] = view.removed
    assert readme.status == "removed" and pkg.status == "modified" and (pkg.added, pkg.removed) == (1, 1)
    assert "<img" not in pkg.html and "&lt;img" in pkg.html


def test_it_caps_large_and_binary_files(tmp_path):
    archive = make_zip(
        {"big.txt": "a" * (MAX_SHOWN_BYTES + 1), "blob.bin": b"\x00\x01\x02", "pkg/__init__.py": "x = 1\n"}
    )
    view = code_view(archive=archive, starter_dir=_starter(tmp_path), selected="big.txt")
    assert view.selected_html is None and "over the 200 KB the viewer shows: download it" in view.selected_note
    assert (
        code_view(archive=archive, starter_dir=None, selected="blob.bin").selected_note == "Binary, 3 bytes, not shown."
    )
    notes = {d.path: d.note for d in view.diffs}
    assert notes["big.txt"] == "Not diffed (too large)." and notes["blob.bin"] == "Not diffed (binary)."


def test_it_refuses_an_unsafe_archive_without_crashing(tmp_path):
    view = code_view(archive=make_zip({"../escape.py": "x"}), starter_dir=_starter(tmp_path))
    assert view.error.startswith("The archive cannot be shown") and not view.files
    assert not (tmp_path / "escape.py").exists()


def test_notes_are_rendered_and_sanitised():
    html = notes_html(
        "# Plan\n\n**retry** <script>alert(1)</script> <img src=x onerror=alert(1)> [a](javascript:alert(1))"
    )
    assert "<strong>retry</strong>" in html and "<h1>Plan</h1>" in html
    assert "<script" not in html and "<img" not in html and "javascript:" not in html


def _results(*outcomes, mode="grounding"):
    return [SimpleNamespace(outcome=o, failure_mode=mode, score=None) for o in outcomes]


def test_the_suggested_level_follows_the_pass_rate_without_errors():
    assert suggested_level(_results("pass", "pass", "error")).level == 3
    assert suggested_level(_results("pass", "pass", "pass", "fail")).level == 2  # 75 %
    assert suggested_level(_results("pass", "fail", "fail")).level == 1  # 33 %
    assert suggested_level(_results("pass", "fail", "fail", "fail")).level == 0  # 25 %
    assert suggested_level(_results("error")).level is None


def test_criteria_without_failure_modes_get_no_suggestion():
    criteria = [SimpleNamespace(pk=1, failure_modes=["grounding"]), SimpleNamespace(pk=2, failure_modes=[])]
    out = suggestions_for(criteria, _results("pass", "fail") + _results("fail", mode="load"))
    assert out[1].level == 1 and out[2] is None


def test_the_timeline_shows_retries_gaps_and_stalls():
    t = timeline(evidence(statuses=(429, 529, 200), gap_s=2.0, stall=True))
    assert [b["kind"] for b in t["bars"]] == ["throttled", "error", "stall"]
    assert [b["retry"] for b in t["bars"]] == [0, 1, 2]
    assert len(t["gaps"]) == 2 and t["gaps"][0]["seconds"] == "2.0"
    assert t["bars"][2]["took"] is None


@pytest.mark.parametrize(
    ("status", "fault", "kind", "label"),
    [
        (200, None, "ok", "200"),
        (200, "ok", "ok", "200"),
        # The script twisted the body of an answer: still an answer at HTTP level, and the label says how.
        (200, "prose", "ok", "200 · prose"),
        (200, "count_tokens", "ok", "200 · count_tokens"),
        (429, "concurrency_limit", "throttled", "429"),
        (529, "529", "error", "529"),
        (400, "invalid_request", "fault", "400"),
        (None, "reset", "fault", "—"),
    ],
)
def test_a_bar_is_coloured_by_the_status_the_client_got(status, fault, kind, label):
    data = evidence(statuses=(200,))
    data["requests"][0].update(status=status, fault=fault, retry_count=0)

    [bar] = timeline(data)["bars"]

    assert (bar["kind"], bar["label"]) == (kind, label)


def test_timeline_labels_near_the_right_edge_read_leftwards_and_ticks_stay_inside():
    t = timeline(evidence(statuses=(200, 200, 200), gap_s=3.0))
    first, *_, last = t["bars"]
    assert (first["label_anchor"], last["label_anchor"]) == ("start", "end")
    assert float(last["label_x"]) < float(last["x"])
    assert t["ticks"][0]["anchor"] == "start" and t["box_x"] < 0 and t["box_width"] > t["width"]


def test_the_timeline_survives_hostile_evidence():
    assert timeline({"requests": "nope"}) is None
    assert timeline({"requests": [{"arrived": "soon"}, 5, None]}) is None
    t = timeline({"requests": [{"arrived": 1.0, "ended": 2.0, "status": "<b>", "retry_count": "x"}]})
    assert t["bars"][0]["status"] is None and t["bars"][0]["retry"] is None


def test_every_file_of_the_archive_is_listed_with_its_size_and_why_it_is_not_shown(tmp_path):
    view = code_view(archive=make_zip(EVERY_KIND), starter_dir=_starter(tmp_path))

    listed = {f.path: (f.size_text, f.note, f.folder) for f in view.files if f.status != "removed"}
    assert listed == {
        "pkg/__init__.py": ("61 bytes", "", ""),
        ".venv/lib/x.py": ("42 bytes", "", ".venv/"),
        ".venv/lib/y.txt": ("11 bytes", "", ".venv/"),
        "assets/logo.bin": ("12 KB", "binary, 12 KB, not shown", ""),
        "data/big.txt": ("300 KB", "300 KB, over the 200 KB the viewer shows: download it to read it", ""),
        "data/latin1.txt": ("4 bytes", "not UTF-8 text, 4 bytes, not shown", ""),
    }
    [venv] = [folder for folder in view.tool_folders if folder.folder == ".venv/"]
    assert (len(venv.files), venv.python_files) == (2, 1)
    # The .git folder is never unpacked (its history is read apart, for the timeline): one line, no files.
    assert {group.reason: group.rows for group in view.ignored_groups} == {
        "git history: read for the commit timeline, never run": [(".git/", "75 bytes")],
        "compiled Python: we run your source files": [("pkg/__pycache__/__init__.cpython-312.pyc", "48 bytes")],
    }
    # Tool folders are one line each in the diff, never a diff per file.
    assert {d.path: d.note for d in view.diffs if d.path.startswith((".venv", ".git"))} == {
        ".venv/": "2 files, not diffed: read them in the code pane.",
    }


def test_a_file_in_a_tool_folder_can_be_read_and_git_records_never(tmp_path):
    archive = make_zip(EVERY_KIND)

    venv = code_view(archive=archive, starter_dir=None, selected=".venv/lib/x.py")
    git = code_view(archive=archive, starter_dir=None, selected=".git/logs/HEAD")

    assert "from the venv" in venv.selected_html
    assert "Dana" not in (git.selected_html or "") + git.selected_note
    assert code_file(archive=archive, path=".git/logs/HEAD") is None
    assert code_file(archive=archive, path="data/big.txt") == b"a" * (300 * 1024)
    assert code_file(archive=archive, path="pkg/__pycache__/__init__.cpython-312.pyc") is None  # never unpacked


def test_diffs_stop_at_the_page_budget(tmp_path, monkeypatch):
    monkeypatch.setattr("rubrics.highlight.MAX_DIFF_BYTES", 1)
    view = code_view(archive=make_zip({"a.py": "x = 1\n", "b.py": "y = 2\n"}), starter_dir=_starter(tmp_path))

    notes = {d.path: d.note for d in view.diffs}
    assert notes["a.py"] == "" and notes["b.py"] == "Not diffed: the page already shows 1 byte of diffs."


def test_a_healthy_answer_is_drawn_as_answered_and_a_flood_says_how_many_requests_it_made():
    from rubrics.evidence import _present

    data = evidence(statuses=(429, 200))
    data["requests"][1]["fault"] = "ok"  # the script's step for a healthy answer is no fault
    data["requests"][0]["invalid"] = "messages: Field required"
    data["requests_total"] = 7396
    result = SimpleNamespace(
        probe_id="p", outcome="fail", score=None, reason="a request flood", duration_s=6.0, evidence=data
    )

    shown = _present(result)

    assert [b["kind"] for b in shown["timeline"]["bars"]] == ["throttled", "ok"]
    assert shown["timeline"]["bars"][0]["invalid"] == "messages: Field required"
    assert (shown["requests_total"], shown["requests_total_text"]) == (7396, "7,396")


def test_stored_failure_modes_are_read_defensively_and_an_unknown_slug_gets_a_title():
    modes = FailureModes.from_json(
        [
            {"slug": "ordering", "title": "Event ordering", "hint": "h", "description": "d"},
            "not a table",
            {"title": "no slug"},
            {"slug": "bare"},
            {"slug": "ordering", "title": "declared twice"},
        ]
    )
    assert modes.slugs == ["ordering", "bare"] and modes.title("ordering") == "Event ordering"
    assert modes.get("bare").title == "Bare" and modes.get("bare").declared
    assert modes.get("rate-limits").title == "Rate limits" and not modes.get("rate-limits").declared
    assert [m.slug for m in modes.ordered(["zeta", "bare", "alpha", "ordering"])] == [
        "ordering",
        "bare",
        "alpha",
        "zeta",
    ]
    assert FailureModes.from_json(None).slugs == [] and FailureModes.from_json({"slug": "x"}).slugs == []


def test_a_json_tree_is_bounded_in_depth_and_length():
    deep: object = "bottom"
    for _ in range(TREE_MAX_DEPTH + 3):
        deep = {"down": deep}
    lines = json_tree(deep)
    assert "bottom" not in str(lines) and any(line.get("text") == "{…1 key}" for line in lines)
    assert sum(1 for line in lines if "open" in line) == sum(1 for line in lines if "end" in line)

    long = json_tree(list(range(TREE_MAX_LINES + 50)))
    assert long[-2] == {"key": None, "kind": "more", "text": "…51 more"} and long[-1] == {"end": "]"}
    assert json_tree("plain") == [{"key": None, "kind": "string", "text": "plain", "rest": ""}]
    assert json_tree({}) == [{"key": None, "kind": "empty", "text": "{}"}]


def test_the_diff_puts_the_biggest_source_change_first_and_the_removed_starter_files_apart(tmp_path):
    starter = _starter(tmp_path)
    (starter / "pkg" / "model.py").write_text("class Model:\n    pass\n")
    (starter / "pkg" / "same.py").write_text("x = 1\n")
    for n in range(5):
        (starter / "docs" / f"page{n}.md").parent.mkdir(exist_ok=True)
        (starter / "docs" / f"page{n}.md").write_text(f"doc {n}\n")
    model = "class Model:\n" + "".join(f"    field_{n} = {n}\n" for n in range(60))
    archive = make_zip(
        {
            "pkg/__init__.py": "def answer(q):\n    return q.strip()\n",
            "pkg/model.py": model,
            "pkg/same.py": "x = 1\n",
            "pkg/new.py": "def helper():\n    x = 1\n    return x\n",
            "NOTES.md": "# Notes\n" + "line\n" * 80,
        }
    )

    view = code_view(archive=archive, starter_dir=starter)

    assert [d.path for d in view.diffs] == ["pkg/model.py", "pkg/new.py", "pkg/__init__.py", "NOTES.md"]
    assert [d.path for d in view.diffs if d.is_open] == ["pkg/model.py", "pkg/new.py", "pkg/__init__.py"]
    assert [d.path for d in view.removed] == ["README.md"] + [f"docs/page{n}.md" for n in range(5)]
    assert all(d.changed_lines for d in view.diffs)
    assert view.selected == "pkg/model.py"  # the code pane opens on the biggest change too
