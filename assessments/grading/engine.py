"""The grade function the Celery pipeline calls: the hidden probes, in the sandbox.

Kept apart from the pipeline (leases, retries, database) so that the same call grades from
`manage.py grade`, from the worker and from the benchmarks.
"""

import json
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from grader.runner import GradeReport, GradingCancelled, GradingError, grade
from grader.sandbox import SandboxExecutor

MAX_REASON = 500
# One run's stored evidence in all. Each probe's is bounded by the runner (a few hundred KB at
# most); a help-desk run stores 0.35-0.45 MB (reference, starter kit), so this cap only bites a flood.
MAX_RUN_EVIDENCE_BYTES = 4 * 1024 * 1024


def db_safe(value: Any) -> Any:
    """A copy of JSON-like data that every database stores as is.

    Candidate output and hostile probe questions carry NUL characters and lone surrogates;
    PostgreSQL refuses both in text and in jsonb. NUL becomes the visible symbol U+2400 and a
    lone surrogate its escape (\\ud800), so reviewers still see that they were there. NaN and
    infinity become None.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\u2400").encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity, and PostgreSQL's jsonb refuses them
    if isinstance(value, dict):
        return {db_safe(k): db_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [db_safe(v) for v in value]
    return value


def report_results(report: GradeReport, max_bytes: int = MAX_RUN_EVIDENCE_BYTES) -> list[dict[str, Any]]:
    """ProbeResult field dicts from a report; the description travels in the evidence for reviewers.

    The run's evidence together stays under ``max_bytes``: each probe's is already bounded, and
    past the total the request body excerpts of the largest are dropped first (counts, timings and
    what every call returned are always kept).
    """
    results: list[dict[str, Any]] = db_safe(
        [
            {
                "probe_id": o.id,
                "failure_mode": o.failure_mode,
                "outcome": o.outcome,
                "score": o.score,  # a graded probe's fraction of a point; None for a pass/fail probe
                "reason": o.reason[:MAX_REASON],
                "duration_s": max(0.0, round(o.duration_s, 3)),
                "evidence": {"description": o.description, **o.evidence},
            }
            for o in report.outcomes
        ]
    )
    _bound_run_evidence([r["evidence"] for r in results], max_bytes)
    return results


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False))


def _bound_run_evidence(evidences: list[dict[str, Any]], max_bytes: int) -> None:
    sizes = [_size(e) for e in evidences]
    for index in sorted(range(len(evidences)), key=lambda i: -sizes[i]):
        if sum(sizes) <= max_bytes:
            return
        requests = evidences[index].get("requests") or []
        for request in requests:
            if request.pop("body_head", None) is not None:
                request["body_head_dropped"] = True
        if len(requests) > 20:
            evidences[index]["requests"] = requests[:20]
            evidences[index]["requests_not_stored"] = evidences[index].get("requests_total", len(requests)) - 20
        sizes[index] = _size(evidences[index])


class ProbesErred(GradingError):
    """Some probes ended in the platform's error even when run again alone: the run is not finished."""


def _unfinished(report: GradeReport) -> str | None:
    erred = [o for o in report.outcomes if o.outcome == "error"]
    if not erred:
        return None
    listed = "; ".join(f"{o.id}: {o.reason}" for o in erred[:5])
    more = f" (and {len(erred) - 5} more)" if len(erred) > 5 else ""
    return f"{len(erred)} of {report.total} probes could not be judged on our side: {listed}{more}"


def grade_in_sandbox(
    submission_dir: Path,
    exercise_dir: Path,
    on_progress: Callable[[int, int], None] | None = None,
    *,
    executor: SandboxExecutor | None = None,
    cancel: threading.Event | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run every probe of the exercise against the unpacked submission. Returns (results, isolation).

    Raises GradingError (an infrastructure fault) when grading cannot run at all, for example
    when bubblewrap is missing and SANDBOX_ALLOW_UNSAFE is off, and ``ProbesErred`` when a probe
    still ends in the platform's error after running again alone: a grade never stands with a
    probe left out, so a candidate can gain nothing by making one look like our fault.
    ``cancel`` stops it early (``GradingCancelled``).
    """
    executor = executor or SandboxExecutor.from_settings()
    try:
        report = grade(
            submission_dir,
            exercise_dir,
            executor=executor,
            workers=settings.GRADING_PARALLEL_PROBES,
            on_progress=on_progress,
            cancel=cancel,
        )
    finally:
        executor.close()
    problem = _unfinished(report)
    if problem:
        raise ProbesErred(problem)
    isolation = dict(executor.isolation or {})
    isolation.setdefault("sandboxed", report.sandboxed)
    if not report.sandboxed:
        isolation["unsandboxed"] = True
    isolation["executor"] = report.executor
    isolation["wall_s"] = round(report.wall_s, 3)
    if report.retried_alone:
        isolation["retried_alone"] = report.retried_alone
    return report_results(report), isolation


__all__ = ["GradingCancelled", "GradingError", "ProbesErred", "grade_in_sandbox", "report_results"]
