"""``exercise verify``, the verifier itself: the submissions.toml format, judging runs, the package checks.

The package is ``tests/fixtures/exercises/tiny-verify`` (two probes, three declared submissions),
graded with the fork server so that the whole module takes seconds; ``test_packages_verify.py``
runs the same verifier in the sandbox on every bundled package.
"""

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from grader.executors import ExecutorError
from grader.runner import GradeReport, ProbeOutcome, load_exercise
from grader.verify import (
    SubmissionSpec,
    consistency_problems,
    expectation_problems,
    judge,
    read_submissions,
    verify,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "exercises"
TINY = FIXTURES / "tiny-verify"
PROBES = ["echo-plain", "echo-model", "load-burst", "load-no-storm"]

REQUIRED = """
[[submission]]
name = "reference"
path = "reference"
runs = 3
must_pass = ["*"]

[[submission]]
name = "starter"
path = "starter"
max_score = 0.5
"""
MUTANT = """
[[submission]]
name = "mutants/never-asks"
base = "reference"
must_fail = ["echo-model"]
[[submission.edit]]
file = "echo/__init__.py"
find = 'if os.environ.get("ANTHROPIC_BASE_URL"):'
replace = "if False:"
"""


@pytest.fixture
def package(tmp_path):
    """A copy of tiny-verify to change."""
    copy = tmp_path / "tiny-verify"
    shutil.copytree(TINY, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _read(package: Path, extra: str = "", required: str = REQUIRED) -> tuple[list[SubmissionSpec], list[str]]:
    (package / "submissions.toml").write_text(required + extra)
    return read_submissions(package)


# --- The format of submissions.toml --------------------------------------------------------------


def test_it_reads_the_format_with_its_defaults(package):
    specs, problems = _read(
        package,
        """
[[submission]]
name = "mutants/x"
base = "reference"
description = "  One line,   squeezed. "
must_fail = ["echo-model"]
min_score = 0.25
[[submission.edit]]
file = "echo/__init__.py"
find = "a"
replace = ""
""",
    )

    assert problems == []
    reference, starter, mutant = specs
    assert (reference.runs, reference.must_pass, reference.min_score, reference.max_score) == (3, ("*",), 0.0, 1.0)
    assert starter.max_score == 0.5 and "max_score" in starter.declared
    assert (mutant.base, mutant.path, mutant.runs, mutant.description) == ("reference", None, 1, "One line, squeezed.")
    assert [(e.file, e.find, e.replace) for e in mutant.edits] == [("echo/__init__.py", "a", "")]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[submission]]\nname = "x"\npath = "reference"\nmust_fial = ["*"]\n', "unknown keys must_fial"),
        ('[[submission]]\nname = "x"\npath = "reference"\nbase = "reference"\n', "exactly one of 'path' and 'base'"),
        ('[[submission]]\nname = "x"\n', "exactly one of 'path' and 'base'"),
        ('[[submission]]\nname = "starter"\npath = "starter"\n', "'starter' is declared twice"),
        ('[[submission]]\nname = "x"\nbase = "nobody"\n', "base 'nobody' is not a submission"),
        ('[[submission]]\nname = "x"\npath = "../elsewhere"\n', "must be a folder inside the package"),
        ('[[submission]]\nname = "x"\npath = "missing"\n', "'missing' is not a folder of the package"),
        ('[[submission]]\nname = "x"\npath = "reference"\nruns = 0\n', "runs must be an integer from 1 to 10"),
        ('[[submission]]\nname = "x"\npath = "reference"\nmax_score = 7\n', "max_score must be a number from 0 to 1"),
        ('[[submission]]\nname = "x"\npath = "reference"\nmin_score = 0.6\nmax_score = 0.5\n', "is above max_score"),
        ('[[submission]]\nname = "x"\npath = "reference"\nmust_pass = "*"\n', "must_pass must be a list"),
        (
            '[[submission]]\nname = "x"\npath = "reference"\n'
            '[[submission.edit]]\nfile = "a"\nfind = "b"\nreplace = ""\n',
            "edits apply to a copy of a base submission",
        ),
        (
            '[[submission]]\nname = "a"\nbase = "b"\n[[submission]]\nname = "b"\nbase = "a"\n',
            "bases form a cycle: a -> b -> a",
        ),
    ],
)
def test_a_broken_declaration_is_a_package_error(package, extra, message):
    _, problems = _read(package, extra)

    assert any(message in p for p in problems), problems


def test_a_package_without_submissions_toml_is_broken(package):
    (package / "submissions.toml").unlink()

    assert "no submissions.toml" in read_submissions(package)[1][0]


def test_globs_must_match_a_probe_and_no_probe_may_be_expected_both_ways(package):
    specs, _ = _read(
        package,
        '[[submission]]\nname = "x"\npath = "reference"\n'
        'must_pass = ["echo-*", "typo-*"]\nmust_fail = ["echo-model"]\n',
    )

    problems = expectation_problems(specs, PROBES)

    assert problems == {
        "x": ["must_pass glob 'typo-*' matches no probe", "probes both in must_pass and must_fail: echo-model"]
    }


def test_the_reference_and_the_starters_ceiling_are_required(package):
    specs, _ = _read(
        package, required='[[submission]]\nname = "reference"\npath = "reference"\nmust_pass = ["echo-*"]\n'
    )

    problems = expectation_problems(specs, PROBES)

    assert problems[""] == [
        'submissions.toml has no submission named "starter" (path = "starter", max_score = its ceiling)'
    ]
    assert problems["reference"] == [
        "the reference runs at least 3 times in a row (runs = 3)",
        'the reference must pass every probe (must_pass = ["*"]); not covered: load-burst, load-no-storm',
    ]


# --- Judging what the runs got against what was declared ------------------------------------------


def _report(**outcomes: str) -> GradeReport:
    probes = [
        ProbeOutcome(pid.replace("_", "-"), "load" if "load" in pid else "input", "", outcome, f"why {outcome}", 0.1)
        for pid, outcome in outcomes.items()
    ]
    return GradeReport("tiny", "0.1.0", "forkserver", False, probes, 1.0)


def test_each_mismatch_names_the_submission_the_probe_what_was_expected_and_the_reason():
    spec = SubmissionSpec("mutants/x", base="reference", must_pass=["echo-*"], must_fail=["load-*"], max_score=0.5)
    report = _report(echo_plain="fail", echo_model="pass", load_burst="pass", load_no_storm="fail")

    lines = [p.line() for p in judge(spec, [report], PROBES)]

    assert lines == [
        "mutants/x: echo-plain expected pass, got fail (why fail)",
        "mutants/x: load-burst expected fail, got pass (why pass)",
    ]


def test_a_score_outside_its_bounds_is_a_mismatch():
    spec = SubmissionSpec("starter", path="starter", max_score=0.25)

    (problem,) = judge(
        spec, [_report(echo_plain="pass", echo_model="pass", load_burst="fail", load_no_storm="fail")], PROBES
    )

    assert problem.kind == "score"
    assert problem.line() == "starter: score 0.50 (2/4) is above max_score 0.25"


def test_an_infrastructure_error_is_neither_a_pass_nor_a_fail_and_asks_for_a_rerun():
    spec = SubmissionSpec("reference", path="reference", must_pass=["*"], min_score=1.0)

    (problem,) = judge(
        spec, [_report(echo_plain="pass", echo_model="error", load_burst="pass", load_no_storm="pass")], PROBES
    )

    assert problem.kind == "infra"
    assert problem.line() == "reference: echo-model: infrastructure error, re-run: why error"


def test_a_probe_whose_outcome_changes_between_runs_is_flaky():
    spec = SubmissionSpec("reference", path="reference", runs=3)
    runs = [
        _report(echo_plain="pass", echo_model="pass", load_burst="pass", load_no_storm="pass"),
        _report(echo_plain="pass", echo_model="pass", load_burst="fail", load_no_storm="pass"),
        _report(echo_plain="pass", echo_model="pass", load_burst="pass", load_no_storm="pass"),
    ]

    (problem,) = judge(spec, runs, PROBES)

    assert problem.kind == "flaky"
    assert problem.line() == "reference: load-burst is flaky: pass, fail, pass in 3 runs (why fail)"


# --- The package's own checks ---------------------------------------------------------------------


def test_the_brief_the_rubric_and_the_failure_modes_must_agree():
    assert consistency_problems(load_exercise(TINY)) == []
    # tiny-echo, a fixture of other tests, shows what the check catches.
    assert consistency_problems(load_exercise(FIXTURES / "tiny-echo")) == [
        "failure mode 'input' is named by no rubric criterion",
        "brief.md mentions failure mode 'input' neither by slug nor by title 'Input handling'",
        "brief.md mentions failure mode 'grounding' neither by slug nor by title 'Grounding'",
    ]


def test_an_edit_whose_text_does_not_occur_exactly_once_breaks_the_package(package, forkserver_executor):
    _read(package, MUTANT.replace("""find = 'if os.environ.get("ANTHROPIC_BASE_URL"):'""", 'find = "question"'))

    result = verify(package, executor=forkserver_executor, kit_tests=False, only=["mutants/never-asks"])

    assert [p.line() for p in result.all_problems] == [
        "mutants/never-asks: package error: edit of 'echo/__init__.py': the 'find' text occurs 4 times "
        "(it must occur exactly once): 'question'"
    ]


def test_files_changed_under_a_synced_version_must_bump_it(forkserver_executor):
    synced = {("tiny-verify", "0.1.0"): "0" * 64}

    result = verify(
        TINY,
        executor=forkserver_executor,
        kit_tests=False,
        only=["starter"],
        synced_checksum=lambda slug, version: synced.get((slug, version)),
    )

    assert [p.line() for p in result.all_problems] == [
        "checksum: files changed under version 0.1.0: bump the version "
        f"(synced 000000000000, the files now {result.checksum[:12]})"
    ]


class _NoSandbox:
    """An executor whose box cannot start, as on a machine without bubblewrap."""

    name, sandboxed = "bubblewrap", True

    def start(self):
        raise ExecutorError("bwrap is not installed")

    def launch(self, job):
        raise AssertionError("nothing may be launched")

    def close(self):
        pass


def test_an_executor_that_cannot_start_is_an_infrastructure_error_not_a_verdict():
    result = verify(TINY, executor=_NoSandbox(), kit_tests=False)

    assert not result.ok
    assert result.all_problems[-1].line() == (
        "infra: grading could not start (bubblewrap): bwrap is not installed; infrastructure error, re-run"
    )
    assert {s.not_graded for s in result.submissions} == {"the executor could not start"}


# --- The whole verification, graded ---------------------------------------------------------------


def test_a_sound_package_verifies(forkserver_executor):
    result = verify(TINY, executor=forkserver_executor, kit_tests=False)

    assert result.ok, result.render()
    table = result.render()
    assert "UNSANDBOXED" in table
    assert [line.split()[:5] for line in table.splitlines()[1:5]] == [
        ["submission", "input", "grounding", "score"],
        ["reference", "x3", "1/1", "1/1", "2/2"],
        ["starter", "1/1", "0/1", "1/2", "0.50"],
        ["mutants/never-asks", "1/1", "0/1", "1/2", "0.50"],
    ]
    assert result.to_json()["submissions"][2]["outcomes"] == [{"echo-plain": "pass", "echo-model": "fail"}]


@pytest.mark.django_db
def test_a_broken_expectation_makes_the_command_exit_non_zero_naming_submission_probe_and_expectation(package):
    # The mutant cannot ask the model, yet this says it must pass the probe that needs it.
    _read(package, MUTANT.replace('must_fail = ["echo-model"]', 'must_pass = ["echo-model"]'))
    out, progress = StringIO(), StringIO()

    with pytest.raises(CommandError) as failed:
        call_command(
            "exercise",
            "verify",
            str(package),
            "--executor",
            "forkserver",
            "--skip-kit-tests",
            stdout=out,
            stderr=progress,
        )

    assert failed.value.returncode == 1
    lines = out.getvalue().splitlines()
    assert "  mutants/never-asks: echo-model expected pass, got fail (never asked the model)" in lines
    assert any(line.startswith("mutants/never-asks ") and line.endswith("FAIL") and "0/1!" in line for line in lines)
    assert "  checksum: tiny-verify 0.1.0 is not synced yet" in lines
    assert lines[-1] == "verify tiny-verify 0.1.0: FAIL (1 problem)"
    # A mutant without score bounds is graded only on the probes its lists name (here one).
    assert "mutants/never-asks: 0/1 passed" in progress.getvalue()


def test_a_submission_without_score_bounds_is_graded_only_on_the_probes_it_names():
    from grader.verify import SubmissionSpec, probes_needed

    ids = ["grounding-a", "grounding-b", "load-burst", "cost-x"]
    mutant = SubmissionSpec(name="m", must_fail=("grounding-a",), must_pass=("cost-*",), declared=frozenset({"name"}))
    bounded = SubmissionSpec(name="s", max_score=0.2, declared=frozenset({"name", "max_score"}))

    assert probes_needed(mutant, ids) == {"grounding-a", "cost-x"}
    assert probes_needed(bounded, ids) == set(ids)
