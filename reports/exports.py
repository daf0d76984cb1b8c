"""The reports as files to take away: the comparison as CSV, one line per candidate."""

import csv
from collections.abc import Sequence

from reports.selectors.regrade import Preview as RegradePreview
from reports.selectors.rows import CandidateRow, ReferenceRow
from reports.templatetags.report_format import duration, level, pct
from rubrics.models import Criterion

# A cell starting with one of these is a formula to a spreadsheet: candidate names are user input.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def comparison_csv(
    out,
    *,
    rows: list[CandidateRow],
    modes: list[str],
    reference: ReferenceRow | None,
    rubric_max: int,
    criteria: Sequence[Criterion] = (),
) -> None:
    """Write the comparison to ``out`` (anything with write(), an HttpResponse too): a header, the
    reference solution's line when there is one, then ``rows`` in the order given.

    Per criterion, its level as a plain number (a resolved level, else the reviewers' mean) and who
    resolved it, if anyone: the rubric total is the weighted sum of those levels.
    """
    writer = csv.writer(out)
    header = ["candidate", "email", "pseudonym", "state", "probe_pass_rate", "probes_passed", "probes_failed"]
    header += ["infra_errors"]
    for mode in modes:
        header += [f"{mode}_pass_rate", f"{mode}_rubric"]
    header += ["rubric_total", "rubric_max", "time_spent", "decision", "exercise_version"]
    for criterion in criteria:
        header += [f"criterion_{criterion.slug}_level", f"criterion_{criterion.slug}_resolved_by"]
    writer.writerow(header)
    if reference is not None:
        line = ["Reference solution", "", "", "", pct(reference.pass_rate), reference.passed, reference.failed]
        line += [reference.errors]
        for mode in modes:
            line += [pct(reference.cell(mode).rate), ""]
        writer.writerow([*line, "", rubric_max, "", "", "", *[""] * (2 * len(criteria))])
    for row in rows:
        line = [row.name, "" if row.erased else row.email, row.pseudonym, row.state, pct(row.pass_rate)]
        line += [row.passed, row.failed, row.errors]
        for mode in modes:
            line += [pct(row.cell(mode).rate), level(row.cell(mode).rubric)]
        line += [level(row.rubric_total), rubric_max, duration(row.time_spent), row.decision]
        line += [row.exercise_version]
        for criterion in criteria:
            counted = row.levels.get(criterion.pk)
            line += [_number(counted.level), counted.resolved_by] if counted else ["", ""]
        writer.writerow([_cell(v) for v in line])


def _number(value: float | None) -> str:
    """A level a spreadsheet can sum: 0, 1.5, 2.3333 (never "—"); empty when there is none."""
    return "" if value is None else f"{round(value, 4):g}"


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def regrade_csv(out, *, preview: RegradePreview) -> None:
    """A trial's preview as CSV: one line per candidate, numbers a spreadsheet can sort (rates 0-1)."""
    writer = csv.writer(out)
    regrade = preview.regrade
    modes = preview.modes.slugs
    header = ["candidate", "email", "old_version", "new_version", "trial_state"]
    header += ["old_pass_rate", "new_pass_rate", "old_rank", "new_rank", "rank_moved", "crosses_bar"]
    for mode in modes:
        header += [f"{mode}_old_passed", f"{mode}_old_judged", f"{mode}_new_passed", f"{mode}_new_judged"]
    header += ["changed_probes", "suggested_level_changes"]
    writer.writerow(header)
    for row in preview.rows:
        by_mode = {m.slug: m for m in row.modes}
        line: list = [row.name, "" if row.erased else row.email]
        line += [regrade.from_exercise.version, regrade.exercise.version, row.trial_state]
        line += [_rate(row.old_rate), _rate(row.new_rate), row.old_rank, row.new_rank, row.rank_moved, row.crosses]
        for mode in modes:
            delta = by_mode.get(mode)
            line += [delta.old.passed, delta.old.judged, delta.new.passed, delta.new.judged] if delta else [""] * 4
        line.append(
            "; ".join(f"{c.probe_id}: {c.old_label or 'absent'} -> {c.new_label or 'absent'}" for c in row.changes)
        )
        line.append("; ".join(f"{c.title}: {c.old_level} -> {c.new_level}" for c in row.criteria))
        writer.writerow([_cell(v) for v in line])


def _rate(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.4f}"
