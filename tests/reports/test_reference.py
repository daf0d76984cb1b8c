"""The reference solution's row: graded once in the real sandbox and stored per exercise version."""

from io import StringIO

import pytest
from django.core.management import call_command

from reports.models import ReferenceRun
from reports.selectors import reference_row
from reports.services import reference_grade
from tests.conftest import FIXTURES

TINY_ECHO = FIXTURES / "exercises" / "tiny-echo"


@pytest.mark.slow
def test_it_grades_a_solution_in_the_sandbox_and_stores_it_as_the_anchor(assessment):
    exercise = assessment.exercise
    reference = reference_grade(exercise=exercise, solution_dir=TINY_ECHO / "starter")
    assert {r["probe_id"]: r["outcome"] for r in reference.results} == {"echo-plain": "pass", "echo-model": "pass"}
    assert reference.isolation["sandboxed"] is True
    # Grading again replaces the stored row; there is one anchor per exercise version.
    reference_grade(exercise=exercise, solution_dir=TINY_ECHO / "starter")
    assert ReferenceRun.objects.filter(exercise=exercise).count() == 1
    row = reference_row(assessment=assessment)
    assert row.pass_rate == 1.0 and row.modes["grounding"].passed == 1


def test_the_command_says_when_a_take_home_has_no_reference(exercise):
    err = StringIO()
    call_command("reference_grade", "tiny-echo", stdout=StringIO(), stderr=err)
    assert "has no reference solution" in err.getvalue()
    assert not ReferenceRun.objects.exists()


def test_the_command_refuses_an_unknown_take_home(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="sync_exercises"):
        call_command("reference_grade", "no-such-thing", stdout=StringIO())
