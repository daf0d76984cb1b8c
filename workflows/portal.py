"""What the candidate's status page says: where their take-home stands across grading and review."""

from dataclasses import dataclass, field

from django.db.models import Prefetch

from assessments.models import GradingRun
from candidates.models import Invitation, Submission
from rubrics.models import Review

STAGES = [
    ("received", "Received"),
    ("checking", "Checking"),
    ("checked", "Checked"),
    ("review", "Under review"),
    ("decided", "Decided"),
]


@dataclass
class PortalStatus:
    stage: str  # "none" before the first upload, else one of STAGES
    submissions: list[Submission] = field(default_factory=list)
    run_done: int = 0
    run_total: int = 0
    unsandboxed: bool = False  # development mode: the run says so wherever it is shown
    retrying: bool = False  # an attempt failed on our side and another is coming
    stalled: bool = False  # the attempts are used up: waiting for the hiring team or a healthy worker

    @property
    def latest(self) -> Submission | None:
        return self.submissions[0] if self.submissions else None

    @property
    def is_live(self) -> bool:
        """Still moving without anyone's action: the page keeps polling."""
        return self.stage in ("received", "checking")

    @property
    def stage_index(self) -> int:
        return next((i for i, (key, _label) in enumerate(STAGES) if key == self.stage), -1)

    @property
    def steps(self) -> list[dict[str, str | bool]]:
        current = self.stage_index
        return [
            {"key": key, "label": label, "done": i < current, "current": i == current}
            for i, (key, label) in enumerate(STAGES)
        ]

    @property
    def progress_percent(self) -> int:
        return round(100 * self.run_done / self.run_total) if self.run_total else 0


def portal_status(*, invitation: Invitation) -> PortalStatus:
    """Where the candidate's take-home stands, in words that say nothing about results."""
    # Only what grades the candidate: an open trial's runs (and the runs one replaced) are staff business.
    runs = GradingRun.objects.filter(live=True).order_by("-queued_at", "-pk")
    submissions = list(
        Submission.objects.filter(invitation=invitation)
        .order_by("-number")
        .prefetch_related(Prefetch("grading_runs", queryset=runs))
    )
    status = PortalStatus(stage="none", submissions=submissions)
    if invitation.state == Invitation.DECIDED:
        status.stage = "decided"
        return status
    if not submissions:
        return status
    latest_runs = list(submissions[0].grading_runs.all())
    run = latest_runs[0] if latest_runs else None
    reviewed = invitation.state == Invitation.REVIEWED or (
        Review.objects.filter(submission=submissions[0]).exclude(state=Review.WITHDRAWN).exists()
    )
    status.unsandboxed = bool(run and run.is_unsandboxed)
    if run is None:
        status.stage = "received"
    elif run.state == GradingRun.DONE:
        status.stage = "review" if reviewed else "checked"
    elif run.state == GradingRun.FAILED_INFRA:
        status.stage, status.stalled = "checking", True
    elif run.state == GradingRun.RUNNING:
        status.stage, status.retrying = "checking", run.attempt > 1
        status.run_done, status.run_total = run.progress_done, run.progress_total
    elif run.attempt >= 1:
        # Queued again after a failed attempt: to the candidate it is still being checked.
        status.stage, status.retrying = "checking", True
    else:
        status.stage = "received"
    return status
