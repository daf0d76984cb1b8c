"""reports.exports: the comparison CSV, written without a request."""

import csv
import io

from candidates.models import Invitation
from reports import exports
from reports.models import ReferenceRun
from reports.selectors import candidate_rows, reference_row
from tests.reports.conftest import result


def test_the_comparison_csv_has_the_reference_line_then_the_rows_in_order(assessment, build):
    build("Ada Graded", Invitation.GRADED, results=[result("g1", "grounding", "pass")])
    build("+cmd|Bo", Invitation.STARTED)
    ReferenceRun.objects.create(exercise=assessment.exercise, results=[result("g1", "grounding", "pass")])
    rows = sorted(candidate_rows(assessment=assessment), key=lambda row: row.name, reverse=True)
    out = io.StringIO()
    exports.comparison_csv(
        out, rows=rows, modes=["grounding"], reference=reference_row(assessment=assessment), rubric_max=9
    )
    lines = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [line["candidate"] for line in lines] == ["Reference solution", "Ada Graded", "'+cmd|Bo"]
    assert lines[0]["grounding_pass_rate"] == "100%" and lines[0]["rubric_max"] == "9"
    assert lines[1]["grounding_pass_rate"] == "100%" and lines[1]["grounding_rubric"] == "—"
