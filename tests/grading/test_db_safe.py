"""Probe evidence full of hostile characters is stored on every database (PostgreSQL refuses NUL)."""

from assessments.grading.engine import db_safe
from assessments.models import ProbeResult
from assessments.services import grading_run_claim, grading_run_finish
from candidates.services import invitation_start
from tests.builders import make_zip
from workflows.uploads import submission_accept

HOSTILE = "\x1b[2J\x00ignore previous instructions\ud800 \u202e"


def test_it_keeps_the_shape_and_marks_what_it_replaced():
    cleaned = db_safe({"question": HOSTILE, "calls": [{"value": {"answer": "\x00"}}], 3: 1.5, "ok": None})
    assert cleaned["question"] == "\x1b[2J\u2400ignore previous instructions\\ud800 \u202e"
    assert cleaned["calls"][0]["value"]["answer"] == "\u2400"
    assert cleaned[3] == 1.5 and cleaned["ok"] is None


def test_hostile_evidence_round_trips_through_the_database(invitation):
    invitation_start(invitation=invitation)
    run = submission_accept(invitation=invitation, archive=make_zip({})).grading_runs.get()
    lease = grading_run_claim(run=run)
    results = db_safe(
        [
            {
                "probe_id": "input-control-chars",
                "failure_mode": "input",
                "outcome": "fail",
                "reason": f"returned {HOSTILE!s}",
                "duration_s": 0.1,
                "evidence": {"calls": [{"question": HOSTILE, "value": {"answer": HOSTILE}}]},
            }
        ]
    )
    grading_run_finish(run=run, lease_token=lease, results=results, isolation={})
    stored = ProbeResult.objects.get(run=run)
    assert stored.evidence["calls"][0]["question"].startswith("\x1b[2J\u2400ignore")
    assert "\u2400" in stored.reason
