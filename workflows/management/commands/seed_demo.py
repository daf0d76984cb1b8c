"""Demo data for `make run`: staff to log in as and candidates in every state.

Idempotent: running it again changes nothing that is already there. The demo passwords
are fixed and printed, so this refuses to run with DEBUG off unless told otherwise.
"""

import hashlib
import io
import json
import tempfile
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from assessments.grading.engine import report_results
from assessments.models import Assessment, Exercise, GradingRun
from assessments.services import assessment_create, grading_run_claim, grading_run_finish
from candidates.models import Invitation
from candidates.services import (
    candidate_get_or_create,
    decision_record,
    invitation_create,
    invitation_expire,
    invitation_link_url,
    invitation_mark_graded,
    invitation_start,
    invitation_token_rotate,
    invitation_withdraw,
)
from core.roles import MANAGERS, REVIEWERS, ensure_role_groups
from grader.executors import ForkServerExecutor
from grader.runner import grade
from grader.unpack import unpack_archive
from reports.models import ReferenceRun
from reports.services import reference_grade
from rubrics.models import Rubric
from rubrics.services import review_assign, review_score_save, review_submit, review_verdict_save
from workflows.uploads import submission_accept

DEMO_TITLE = "Applied AI Engineer — demo opening"
STAFF = [
    ("manager", "Morgan", "Manager", MANAGERS, "demo-manager-pass"),
    ("reviewer1", "Riley", "Reviewer", REVIEWERS, "demo-reviewer1-pass"),
    ("reviewer2", "Robin", "Reviewer", REVIEWERS, "demo-reviewer2-pass"),
]
# (name, email, the state to bring the invitation to, which archive to upload)
CANDIDATES: list[tuple[str, str, str, str | None]] = [
    ("Ada Invited", "ada@example.com", Invitation.INVITED, None),
    ("Ben Started", "ben@example.com", Invitation.STARTED, None),
    ("Cleo Submitted", "cleo@example.com", Invitation.SUBMITTED, "starter"),
    ("Dev Graded", "dev@example.com", Invitation.GRADED, "starter"),
    ("Eun Reviewed", "eun@example.com", Invitation.REVIEWED, "reference"),
    ("Femi Decided", "femi@example.com", Invitation.DECIDED, "reference"),
    ("Gus Expired", "gus@example.com", Invitation.EXPIRED, None),
    ("Hana Withdrew", "hana@example.com", Invitation.WITHDRAWN, None),
]


def _content_key(archive: bytes) -> str:
    """A digest of what a zip holds (names and bytes), whatever its entries' times."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            if not info.is_dir():
                digest.update(info.filename.encode() + b"\0" + hashlib.sha256(zf.read(info)).digest())
    return digest.hexdigest()


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    zf.write(path, path.relative_to(folder).as_posix())
        else:
            zf.writestr("NOTES.md", "# Notes\n\nA demo upload.\n")
    return buffer.getvalue()


class Command(BaseCommand):
    help = "Create demo staff, an assessment and candidates in every state (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--exercise", default="helpdesk-answerer", help="Slug of the take-home to use")
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off")

    def handle(self, *args: Any, exercise: str, force: bool, **options: Any) -> None:
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo creates accounts with published passwords; run it with DEBUG=1 or --force.")
        ex = (
            Exercise.objects.filter(slug=exercise, is_current=True).first()
            or Exercise.objects.filter(is_current=True).first()
        )
        if ex is None:
            raise CommandError("No take-home is loaded: run `manage.py sync_exercises` first.")
        with transaction.atomic():
            ensure_role_groups()
            users = self._staff()
            assessment = self._assessment(ex, users["manager"])
            for name, email, state, archive in CANDIDATES:
                self._candidate(assessment, users, name, email, state, archive)
            self._reference_anchor(ex)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: '{assessment.title}' using {ex}."))
        self.stdout.write("Demo logins (username / password):")
        for username, *_rest, password in STAFF:
            self.stdout.write(f"  {username:10} / {password}")
        self._print_links(assessment, users["manager"])

    def _demo_grade(self, exercise: Exercise, folder: Path, data: bytes) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Real probe results for the demo's graded uploads, cached by archive checksum.

        The demo uploads are the exercise's own starter and reference, so they are graded with
        the warm fork-server executor (fast, not sandboxed) and their runs say so.
        """
        # Keyed by the files' names and bytes, not the zip's: the anchor grades an unpacked copy of the
        # reference, whose zip differs only in file times, and must reuse the candidates' grading.
        cache = Path(settings.VAR_DIR) / "demo-grades" / f"{exercise.slug}-{exercise.version}-{_content_key(data)}.json"
        if cache.exists():
            return json.loads(cache.read_text())["results"], json.loads(cache.read_text())["isolation"]
        if not (Path(exercise.package_path) / "hidden").is_dir():
            return [], {"demo": True, "unsandboxed": True, "executor": "none", "reason": "exercise has no probes"}
        self.stdout.write(f"Grading the demo {folder.name} solution once (cached afterwards)…")
        with tempfile.TemporaryDirectory(prefix="demo-grade-") as tmp:
            unpack_archive(data, Path(tmp) / "submission")
            report = grade(Path(tmp) / "submission", exercise.package_path, executor=ForkServerExecutor())
        results = report_results(report)
        isolation = {
            "demo": True,
            "sandboxed": False,
            "unsandboxed": True,
            "executor": report.executor,
            "reason": "demo data: the exercise's own trusted code, graded without the sandbox",
        }
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"results": results, "isolation": isolation}))
        return results, isolation

    def _reference_anchor(self, exercise: Exercise) -> None:
        """The comparison report's anchor row: the reference graded once (reusing the demo's cached grading)."""
        if ReferenceRun.objects.filter(exercise=exercise).exists():
            return
        if not (Path(exercise.package_path) / "reference").is_dir():
            return
        reference_grade(
            exercise=exercise, grade_fn=lambda work, _package: self._demo_grade(exercise, work, _zip_folder(work))
        )

    def _print_links(self, assessment: Assessment, manager: User) -> None:
        """Only token hashes are stored, so each run gives the demo candidates new links and prints them."""
        self.stdout.write("Demo candidate portal links (new on every run; earlier ones stop working):")
        emails = [email for _name, email, _state, _archive in CANDIDATES]
        invitations = Invitation.objects.filter(assessment=assessment, candidate__email__in=emails).select_related(
            "candidate"
        )
        for invitation in sorted(invitations, key=lambda i: emails.index(i.candidate.email)):
            token = invitation_token_rotate(invitation=invitation, actor=manager, audit=False)
            label = f"{invitation.candidate.name} ({invitation.get_state_display().lower()})"
            self.stdout.write(f"  {label:28} {invitation_link_url(token)}")

    def _staff(self) -> dict[str, User]:
        users: dict[str, User] = {}
        for username, first, last, group, password in STAFF:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"}
            )
            if created:
                user.set_password(password)
                user.save()
            user.groups.add(Group.objects.get(name=group))
            users[username] = user
        return users

    def _assessment(self, exercise: Exercise, owner: User) -> Assessment:
        existing = Assessment.objects.filter(title=DEMO_TITLE).first()
        if existing:
            return existing
        return assessment_create(
            owner=owner,
            title=DEMO_TITLE,
            exercise=exercise,
            rubric=Rubric.objects.get(slug=exercise.rubric_slug),
            closes_at=timezone.now() + timedelta(days=60),
            reviewers_per_submission=2,
        )

    def _candidate(
        self, assessment: Assessment, users: dict[str, User], name: str, email: str, state: str, archive: str | None
    ) -> None:
        candidate = candidate_get_or_create(name=name, email=email)
        if Invitation.objects.filter(assessment=assessment, candidate=candidate).exists():
            return
        invitation, _token = invitation_create(assessment=assessment, candidate=candidate, invited_by=users["manager"])
        if state == Invitation.INVITED:
            return
        if state == Invitation.EXPIRED:
            invitation_expire(invitation=invitation)
            return
        if state == Invitation.WITHDRAWN:
            invitation_withdraw(invitation=invitation, actor=users["manager"], reason="Accepted another offer.")
            return
        invitation_start(
            invitation=invitation, now=timezone.now() - timedelta(minutes=assessment.time_limit_minutes * 0.8)
        )
        if state == Invitation.STARTED:
            return
        if archive is None:
            raise CommandError(f"{name}: a demo candidate past 'started' needs an archive to upload.")
        folder = Path(assessment.exercise.package_path) / archive
        data = _zip_folder(folder)
        submission = submission_accept(
            invitation=invitation, archive=data, notes=f"Demo upload of the {archive} solution."
        )
        if state == Invitation.SUBMITTED:
            return
        run = submission.grading_runs.get(state=GradingRun.QUEUED)
        lease = grading_run_claim(run=run)
        results, isolation = self._demo_grade(assessment.exercise, folder, data)
        grading_run_finish(run=run, lease_token=lease, results=results, isolation=isolation)
        invitation_mark_graded(invitation=invitation)
        if state == Invitation.GRADED:
            return
        base = 3 if archive == "reference" else 1
        for username in ("reviewer1", "reviewer2"):
            review = review_assign(submission=submission, reviewer=users[username], actor=users["manager"])
            for i, criterion in enumerate(assessment.rubric.criteria.all()):
                # Reviewers agree mostly, differ by one now and then, and once by two (a flag to resolve).
                level = base
                if username == "reviewer2" and i % 3 == 1:
                    level = max(0, base - 1)
                if username == "reviewer2" and i == 4 and base >= 2:
                    level = base - 2
                review_score_save(
                    review=review, criterion=criterion, level=level, note=f"Demo note from {username}: level {level}."
                )
            recommendation, takeaways = _demo_verdict(base, username)
            review_verdict_save(review=review, recommendation=recommendation, takeaways=takeaways)
            review_submit(review=review)
        invitation.refresh_from_db()
        if state == Invitation.REVIEWED:
            return
        decision_record(
            invitation=invitation, outcome="advance", reason="Strong failure-mode reasoning.", actor=users["manager"]
        )


_DEMO_TAKEAWAYS = {
    True: [
        "Answers cite the help-centre articles they rely on",
        "Retries 429 and 5xx with backoff, never a 400",
        "NOTES.md ranks the failure modes it saw",
    ],
    False: [
        "Answers drift from the articles when the model is chatty",
        "A timeout takes the whole request down",
        "NOTES.md lists fixes but not why",
    ],
}


def _demo_verdict(base: int, username: str) -> tuple[str, str]:
    """A recommendation in line with the demo levels; the second reviewer is a notch more cautious."""
    strong = base >= 3
    if username == "reviewer1":
        recommendation = "strong_yes" if strong else "no"
    else:
        recommendation = "yes" if strong else "strong_no" if base <= 0 else "no"
    points = _DEMO_TAKEAWAYS[strong][: 3 if username == "reviewer1" else 2]
    return recommendation, "\n".join(points)
