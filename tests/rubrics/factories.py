"""Graded submissions with probe results and reviews, built through the real services."""

from django.utils import timezone

from assessments.models import GradingRun, ProbeResult
from candidates.services import candidate_get_or_create, invitation_create, invitation_start
from tests.builders import make_zip
from workflows.uploads import submission_accept

DEFAULT_FILES = {
    "echo/__init__.py": (
        "def answer(question):\n    return {'status': 'answered', 'answer': '<script>alert(1)</script>'}\n"
    ),
    "NOTES.md": "# Notes\n\nI **retry** on 429.\n\n<script>alert('x')</script>\n",
}


PYC = b"\xcb\r\r\n\x01\x00\x00\x00" + b"\x00" * 40
# One file of every kind the code pane must list: a tool folder holding code, a binary, one over the
# viewer's limit, one not UTF-8, git's own log (it names the author) and a pyc the unpacking drops.
EVERY_KIND = {
    "pkg/__init__.py": "import sys\nsys.path.append('.venv/lib')\nfrom x import answer\n",
    ".venv/lib/x.py": "def answer(q):\n    return 'from the venv'\n",
    ".venv/lib/y.txt": "not python\n",
    "assets/logo.bin": b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 48,  # 12 KB
    "data/big.txt": "a" * (300 * 1024),
    "data/latin1.txt": "café".encode("latin-1"),
    ".git/logs/HEAD": "0000 1111 Dana Candidate <dana@example.com> 1700000000 +0000\tcommit: first\n",
    "pkg/__pycache__/__init__.cpython-312.pyc": PYC,
}


def evidence(*, statuses=(429, 200), gap_s: float = 0.0, stall: bool = False) -> dict:
    requests, t = [], 100.0
    for seq, status in enumerate(statuses):
        ended = None if (stall and seq == len(statuses) - 1) else t + 0.3
        requests.append(
            {
                "seq": seq,
                "arrived": t,
                "ended": ended,
                "status": status,
                "fault": "429" if status == 429 else None,
                "outcome": "complete" if ended else "stalled",
                "retry_count": seq,
                "in_flight_at_arrival": 0,
                "input_tokens": 1200,
                "max_tokens": 600,
            }
        )
        t += 0.3 + gap_s
    return {
        "description": "A 429 with retry-after, then success.",
        "calls": [
            {
                "index": 0,
                "question": "How often are bank feeds checked?",
                "outcome": "returned",
                "value": {"status": "answered", "answer": "Every 4 hours.", "citations": ["bank-feeds"]},
                "problems": [],
                "raised": None,
                "duration_s": 1.0,
                "observed_s": 1.1,
            }
        ],
        "requests": requests,
        "wall_s": 5.0,
        "peak_in_flight": 1,
        "stderr_tail": "",
    }


def graded_submission(assessment, *, name="Dana Candidate", email="dana@example.com", files=None, results=None):
    """A submission of ``assessment`` with a done run; ``results`` is a list of (failure_mode, outcome)."""
    candidate = candidate_get_or_create(name=name, email=email)
    invitation, _ = invitation_create(assessment=assessment, candidate=candidate, invited_by=assessment.owner)
    invitation_start(invitation=invitation)
    submission = submission_accept(
        invitation=invitation,
        archive=make_zip(files or DEFAULT_FILES),
        notes=(files or DEFAULT_FILES).get("NOTES.md", ""),
    )
    run = submission.grading_runs.get()
    GradingRun.objects.filter(pk=run.pk).update(state=GradingRun.DONE, finished_at=timezone.now())
    add_results(run, results if results is not None else [("grounding", "pass"), ("grounding", "fail")])
    return submission


def add_results(run, results):
    start = run.results.count()
    ProbeResult.objects.bulk_create(
        ProbeResult(
            run=run,
            probe_id=f"{mode}-{start + i}",
            failure_mode=mode,
            outcome=outcome,
            reason=f"{outcome}: reason {start + i}",
            evidence=evidence(gap_s=1.5 if i % 2 else 0, stall=(outcome == "fail")),
            duration_s=1.0,
        )
        for i, (mode, outcome) in enumerate(results)
    )
