"""reports.exports: the comparison CSV, written without a request."""

import csv
import io

import pytest

from candidates.models import Invitation
from reports import exports
from reports.models import ReferenceRun
from reports.selectors import assessment_comparison
from tests.reports.conftest import result


def test_the_comparison_csv_has_the_reference_line_then_the_rows_in_order(assessment, build):
    build("Ada Graded", Invitation.GRADED, results=[result("g1", "grounding", "pass")])
    build("+cmd|Bo", Invitation.STARTED)
    build(
        "Cy Graded", Invitation.GRADED, results=[result("g1", "grounding", "pass"), result("g2", "grounding", "fail")]
    )
    ReferenceRun.objects.create(exercise=assessment.exercise, results=[result("g1", "grounding", "pass")])
    out = io.StringIO()
    exports.comparison_csv(out, comparison=assessment_comparison(assessment=assessment, params={"sort": "name"}))
    lines = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [line["candidate"] for line in lines] == ["Reference solution", "Ada Graded", "Cy Graded", "'+cmd|Bo"]
    assert [line["group"] for line in lines] == ["reference", "with_results", "with_results", "no_results"]
    assert lines[0]["grounding_pass_rate"] == "1" and lines[0]["rubric_max"] == "9"
    assert lines[1]["grounding_pass_rate"] == "1" and lines[1]["grounding_rubric"] == ""
    assert lines[2]["probe_pass_rate"] == "0.5" and lines[2]["submissions"] == "1"


def test_it_writes_rates_to_six_decimals_and_sums_as_numbers(assessment, build):
    build(
        "Ada Graded",
        Invitation.GRADED,
        results=[result(f"g{n}", "grounding", "pass" if n else "fail") for n in range(3)],
    )
    out = io.StringIO()
    exports.comparison_csv(out, comparison=assessment_comparison(assessment=assessment, params={}))
    (line,) = csv.DictReader(io.StringIO(out.getvalue()))
    assert line["probe_pass_rate"] == "0.666667" and float(line["probe_pass_rate"]) * 3 == pytest.approx(2)
    assert int(line["time_spent_seconds"]) == 30 * 60
