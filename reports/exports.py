"""The reports as files to take away: the comparison as CSV, one line per candidate."""

import csv
from datetime import UTC, datetime

from reports.selectors.comparison import Comparison
from reports.selectors.regrade import Preview as RegradePreview
from reports.templatetags.report_format import duration
from rubrics.models import Review

# A cell starting with one of these is a formula to a spreadsheet: candidate names are user input.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def comparison_csv(out, *, comparison: Comparison) -> None:
    """Write the comparison to ``out`` (anything with write(), an HttpResponse too): a header, the
    reference solution's line when there is one, then the comparison's rows in its order.

    Numbers are numbers a spreadsheet can sort and sum: rates 0-1, levels and totals as decimals,
    time in whole seconds, times ISO 8601 in UTC; a missing value is an empty cell. Reviewers'
    recommendations are counts per recommendation, plus their mean with strong yes +2, yes +1, no -1
    and strong no -2 (empty when none was given). Text cells are
    defused against formulas (candidate names are user input).
    """
    writer = csv.writer(out)
    modes, criteria = comparison.modes, comparison.criteria
    header = ["group", "candidate", "email", "pseudonym", "state", "decision"]
    header += ["probe_pass_rate", "probes_passed", "probes_failed", "infra_errors"]
    for mode in modes:
        header += [f"{mode}_pass_rate", f"{mode}_rubric"]
    for criterion in criteria:
        # The level that counts (a manager's resolution of a disagreement, else the reviewers' mean),
        # and who resolved it, if anyone: the rubric total is the weighted sum of those levels.
        header += [f"criterion_{criterion.slug}_level", f"criterion_{criterion.slug}_resolved_by"]
    header += ["rubric_total", "rubric_max"]
    header += [f"recommend_{value}" for value, _label in Review.RECOMMENDATIONS]
    header += ["recommendations_missing", "recommendation_mean"]
    header += ["started_at", "last_upload_at", "time_spent_seconds", "time_spent"]
    header += ["submissions", "exercise_version"]
    writer.writerow([_cell(name) for name in header])
    reference = comparison.reference
    if reference is not None:
        line: list = ["reference", "Reference solution", "", "", "", ""]
        line += [_fraction(reference.pass_rate), reference.passed, reference.failed, reference.errors]
        for mode in modes:
            line += [_fraction(reference.cell(mode).rate), ""]
        line += [""] * (2 * len(criteria))
        line += ["", comparison.rubric_max] + [""] * (len(Review.RECOMMENDATIONS) + 2)
        writer.writerow([*line, "", "", "", "", "", ""])
    for row in comparison.rows:
        line = [_cell("with_results" if row.has_results else "no_results"), _cell(row.name)]
        line += [_cell("" if row.erased else row.email), _cell(row.pseudonym), _cell(row.state), _cell(row.decision)]
        line += [_fraction(row.pass_rate), row.passed, row.failed, row.errors]
        for mode in modes:
            line += [_fraction(row.cell(mode).rate), _level(row.cell(mode).rubric)]
        for criterion in criteria:
            counted = row.levels.get(criterion.pk)
            line += [_level(counted.level if counted else None), _cell(counted.resolved_by if counted else "")]
        line += [_level(row.rubric_total), comparison.rubric_max]
        line += [row.recommendations.get(value, 0) for value, _label in Review.RECOMMENDATIONS]
        line += [row.without_recommendation, _level(row.recommendation_score)]
        line += [_when(row.started_at), _when(row.last_upload_at)]
        spent = row.time_spent
        line += ["" if spent is None else int(spent.total_seconds()), "" if spent is None else duration(spent)]
        line += [row.n_submissions, _cell(row.exercise_version)]
        writer.writerow(line)


def _fraction(rate: float | None) -> str:
    """A rate 0-1 to 6 decimals (a one-probe difference in a cohort of thousands still shows), no trailing zeros."""
    return "" if rate is None else f"{rate:.6f}".rstrip("0").rstrip(".")


def _level(value: float | None) -> float | str:
    """A mean level or a total, as a number: 4 decimals tell 2.3333 from 2.33 and keep the file readable."""
    return "" if value is None else round(value, 4)


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


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
