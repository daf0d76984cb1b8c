"""Reads for the hiring-manager reports, one module per page.

``rows`` builds what every page reads (a row per candidate, the reference solution's row);
``overview``, ``comparison``, ``scorecard`` and ``deliveries`` each serve their page. The public
names are importable from here too, as they were from the single module this package replaced.
"""

from reports.selectors.comparison import (
    SORT_DIRS,
    Comparison,
    ComparisonQuery,
    assessment_comparison,
    comparison_rows,
    comparison_sort_keys,
)
from reports.selectors.deliveries import assessment_deliveries
from reports.selectors.overview import FUNNEL_STAGES, ModeSummary, Overview, assessment_overview
from reports.selectors.rows import (
    DECISION_LABELS,
    MAX_LEVEL,
    STATE_LABELS,
    CandidateRow,
    ModeCell,
    ReferenceRow,
    candidate_rows,
    graded_versions,
    reference_row,
    report_failure_modes,
    report_modes,
    rubric_figures,
    rubric_max,
)
from reports.selectors.scorecard import ReviewerColumn, Scorecard, invitation_scorecard

__all__ = [
    "DECISION_LABELS",
    "FUNNEL_STAGES",
    "MAX_LEVEL",
    "SORT_DIRS",
    "STATE_LABELS",
    "CandidateRow",
    "Comparison",
    "ComparisonQuery",
    "ModeCell",
    "ModeSummary",
    "Overview",
    "ReferenceRow",
    "ReviewerColumn",
    "Scorecard",
    "assessment_comparison",
    "assessment_deliveries",
    "assessment_overview",
    "candidate_rows",
    "comparison_rows",
    "comparison_sort_keys",
    "graded_versions",
    "invitation_scorecard",
    "reference_row",
    "report_failure_modes",
    "report_modes",
    "rubric_figures",
    "rubric_max",
]
