"""``manage.py grade``: a table or exactly one JSON object; exit 0 whenever grading completed."""

import io
import json
import os
import re
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from grader.starterkit import build_starter_kit
from tests.builders import echo_shadowed_by_a_pyc, make_zip

from .helpdesk import EXERCISE, ROOT, exercise

FAST = ["--probe", "input-empty", "--probe", "cost-max-tokens", "--executor", "forkserver"]


def _grade(*args) -> str:
    out = io.StringIO()
    call_command("grade", *map(str, args), stdout=out)
    return out.getvalue()


def test_it_grades_a_zip_as_candidates_upload_it_and_prints_one_json_object(tmp_path):
    archive = tmp_path / "starter.zip"
    archive.write_bytes(build_starter_kit(EXERCISE))  # everything under one top folder, as people zip

    report = json.loads(_grade(archive, "--exercise", "helpdesk-answerer", "--json", *FAST))

    assert list(report) == [
        "exercise",
        "version",
        "passed",
        "total",
        "infra_errors",
        "by_failure_mode",
        "probes",
        "ignored_files",
    ]
    assert (report["exercise"], report["version"]) == ("helpdesk-answerer", exercise().version)
    assert (report["passed"], report["total"], report["infra_errors"]) == (0, 2, 0)
    assert report["by_failure_mode"] == {"input": {"passed": 0, "total": 1}, "cost": {"passed": 0, "total": 1}}
    assert [p["id"] for p in report["probes"]] == ["input-empty", "cost-max-tokens"]
    assert all(set(p) == {"id", "failure_mode", "outcome", "reason", "duration_s"} for p in report["probes"])
    assert all(p["outcome"] == "fail" and p["reason"] for p in report["probes"])


def test_it_prints_a_readable_table_for_a_folder(tmp_path):
    table = _grade(EXERCISE / "reference", "--exercise", "helpdesk-answerer", *FAST)

    assert "UNSANDBOXED" in table
    assert "input-empty" in table and "pass" in table
    assert "2/2 passed, 0 infrastructure error(s)" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exercise", "no-such-exercise"], "no exercise 'no-such-exercise'"),
        (["--exercise", "helpdesk-answerer", "--probe", "no-such-probe"], "unknown probe ids: no-such-probe"),
    ],
)
def test_it_refuses_what_it_cannot_grade(args, message):
    with pytest.raises(CommandError, match=message):
        _grade(EXERCISE / "reference", *args, "--executor", "forkserver")


def test_it_refuses_a_missing_path_or_a_hostile_archive(tmp_path):
    evil = tmp_path / "evil.zip"
    evil.write_bytes(make_zip({"../helpdesk/__init__.py": "answer = None"}))

    with pytest.raises(CommandError, match="neither a zip file nor a folder"):
        _grade(tmp_path / "missing.zip", "--exercise", "helpdesk-answerer")
    with pytest.raises(CommandError, match="archive was rejected"):
        _grade(evil, "--exercise", "helpdesk-answerer")


@pytest.mark.slow
def test_its_exit_status_says_whether_grading_ran_not_how_well_the_candidate_did(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    command = [sys.executable, "manage.py", "grade", str(EXERCISE / "starter"), "--exercise", "helpdesk-answerer"]

    failed_candidate = subprocess.run([*command, "--json", *FAST], cwd=ROOT, env=env, capture_output=True, text=True)
    no_exercise = subprocess.run([*command[:-1], "nope"], cwd=ROOT, env=env, capture_output=True, text=True)

    assert failed_candidate.returncode == 0, failed_candidate.stderr
    assert json.loads(failed_candidate.stdout)["passed"] == 0
    assert no_exercise.returncode != 0


# --- Graded code is reviewed code: compiled Python never stands in for the source -----------------

TINY_ECHO = ROOT / "tests" / "fixtures" / "exercises" / "tiny-echo"


def _python_of(executor: str) -> str:
    """The interpreter that will import the submission: the pyc must carry its magic number and tag."""
    if executor == "sandbox":
        from grader.sandbox import SandboxExecutor

        return str(SandboxExecutor.from_settings().runtime_dir / "bin" / "python")
    return sys.executable


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["sandbox", "forkserver"])
def test_it_grades_the_source_reviewers_read_not_a_pyc_compiled_from_other_source(tmp_path, settings, executor):
    settings.EXERCISE_DIRS = [TINY_ECHO.parent]
    solution = tmp_path / "solution"
    pyc_path, pyc = echo_shadowed_by_a_pyc(solution, python=_python_of(executor))
    archive = tmp_path / "solution.zip"
    archive.write_bytes(make_zip({path: (solution / path).read_bytes() for path in ("echo/__init__.py", pyc_path)}))

    report = json.loads(
        _grade(archive, "--exercise", "tiny-echo", "--json", "--probe", "echo-plain", "--executor", executor)
    )

    [probe] = report["probes"]
    assert (probe["outcome"], probe["reason"]) == ("pass", "echoed the question")
    assert report["ignored_files"] == [
        {"path": pyc_path, "size": len(pyc), "reason": "compiled Python: we run your source files"}
    ]


def test_it_grades_a_folder_as_an_upload_leaving_out_its_pycache_and_listing_it(tmp_path, settings):
    settings.EXERCISE_DIRS = [TINY_ECHO.parent]
    pyc_path, pyc = echo_shadowed_by_a_pyc(tmp_path, python=sys.executable)

    table = _grade(tmp_path, "--exercise", "tiny-echo", "--probe", "echo-plain", "--executor", "forkserver")

    assert "Ignored 1 file(s), not run:" in table
    assert f"  {pyc_path} ({len(pyc)} bytes): compiled Python: we run your source files" in table
    assert "1/1 passed" in table


@pytest.mark.parametrize("as_zip", [True, False], ids=["zip", "folder"])
def test_it_refuses_to_grade_native_code_naming_the_file(tmp_path, settings, as_zip):
    settings.EXERCISE_DIRS = [TINY_ECHO.parent]
    solution = tmp_path / "solution"
    (solution / "echo").mkdir(parents=True)
    (solution / "echo" / "__init__.py").write_text("from echo._fast import answer\n")
    (solution / "echo" / "_fast.so").write_bytes(b"\x7fELF" + b"\0" * 60)
    path = solution
    if as_zip:
        path = tmp_path / "solution.zip"
        path.write_bytes(
            make_zip({name: (solution / name).read_bytes() for name in ("echo/__init__.py", "echo/_fast.so")})
        )

    with pytest.raises(
        CommandError, match=re.escape("'echo/_fast.so' is a compiled native extension; upload source files only.")
    ):
        _grade(path, "--exercise", "tiny-echo", "--executor", "forkserver")
