"""The grade function the Celery pipeline calls: the hidden probes, in the sandbox.

Kept apart from the pipeline (leases, retries, database) so that the same call grades from
`manage.py grade`, from the worker and from the benchmarks.
"""

from pathlib import Path

from django.conf import settings

from assessments.grading.runner import GradeReport, GradingError, grade
from assessments.grading.sandbox import SandboxExecutor

MAX_REASON = 500


def db_safe(value):
    """A copy of JSON-like data that every database stores as is.

    Candidate output and hostile probe questions carry NUL characters and lone surrogates;
    PostgreSQL refuses both in text and in jsonb. NUL becomes the visible symbol U+2400 and a
    lone surrogate its escape (\\ud800), so reviewers still see that they were there.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\u2400").encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {db_safe(k): db_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [db_safe(v) for v in value]
    return value


def report_results(report: GradeReport) -> list[dict]:
    """ProbeResult field dicts from a report; the description travels in the evidence for reviewers."""
    return db_safe(
        [
            {
                "probe_id": o.id,
                "failure_mode": o.failure_mode,
                "outcome": o.outcome,
                "reason": o.reason[:MAX_REASON],
                "duration_s": max(0.0, round(o.duration_s, 3)),
                "evidence": {"description": o.description, **o.evidence},
            }
            for o in report.outcomes
        ]
    )


def grade_in_sandbox(submission_dir: Path, exercise_dir: Path, on_progress=None, *, executor=None):
    """Run every probe of the exercise against the unpacked submission. Returns (results, isolation).

    Raises GradingError (an infrastructure fault) when grading cannot run at all, for example
    when bubblewrap is missing and SANDBOX_ALLOW_UNSAFE is off.
    """
    executor = executor or SandboxExecutor.from_settings()
    try:
        report = grade(
            submission_dir,
            exercise_dir,
            executor=executor,
            workers=settings.GRADING_PARALLEL_PROBES,
            on_progress=on_progress,
        )
    finally:
        executor.close()
    isolation = dict(executor.isolation or {})
    isolation.setdefault("sandboxed", report.sandboxed)
    if not report.sandboxed:
        isolation["unsandboxed"] = True
    isolation["executor"] = report.executor
    isolation["wall_s"] = round(report.wall_s, 3)
    return report_results(report), isolation


__all__ = ["GradingError", "grade_in_sandbox", "report_results"]
