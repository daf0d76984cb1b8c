"""The reports as files to take away: the comparison as CSV, one line per candidate."""

import csv

from reports.selectors.rows import CandidateRow, ReferenceRow
from reports.templatetags.report_format import duration, level, pct

# A cell starting with one of these is a formula to a spreadsheet: candidate names are user input.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def comparison_csv(
    out, *, rows: list[CandidateRow], modes: list[str], reference: ReferenceRow | None, rubric_max: int
) -> None:
    """Write the comparison to ``out`` (anything with write(), an HttpResponse too): a header, the
    reference solution's line when there is one, then ``rows`` in the order given."""
    writer = csv.writer(out)
    header = ["candidate", "email", "pseudonym", "state", "probe_pass_rate", "probes_passed", "probes_failed"]
    header += ["infra_errors"]
    for mode in modes:
        header += [f"{mode}_pass_rate", f"{mode}_rubric"]
    header += ["rubric_total", "rubric_max", "time_spent", "decision", "exercise_version"]
    writer.writerow(header)
    if reference is not None:
        line = ["Reference solution", "", "", "", pct(reference.pass_rate), reference.passed, reference.failed]
        line += [reference.errors]
        for mode in modes:
            line += [pct(reference.cell(mode).rate), ""]
        writer.writerow([*line, "", rubric_max, "", "", ""])
    for row in rows:
        line = [row.name, "" if row.erased else row.email, row.pseudonym, row.state, pct(row.pass_rate)]
        line += [row.passed, row.failed, row.errors]
        for mode in modes:
            line += [pct(row.cell(mode).rate), level(row.cell(mode).rubric)]
        line += [level(row.rubric_total), rubric_max, duration(row.time_spent), row.decision]
        line += [row.exercise_version]
        writer.writerow([_cell(v) for v in line])


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
