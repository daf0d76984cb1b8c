"""The portal's promise kept: personal data and uploads go DATA_RETENTION_MONTHS after an invitation ends."""

import io
from datetime import UTC, datetime, timedelta

from django.core.management import call_command
from django.utils import timezone

from assessments.models import GradingRun
from assessments.services import assessment_create
from candidates.models import Candidate, Invitation, StoredArchive
from candidates.selectors import months_before
from candidates.services import (
    candidate_get_or_create,
    candidates_erase_past_retention,
    decision_record,
    invitation_create,
    invitation_mark_reviewed,
    invitation_withdraw,
)
from core.models import AuditEvent
from rubrics.models import Rubric
from tests.builders import graded_submission

RESULTS = [{"probe_id": "t-429", "failure_mode": "transient", "outcome": "pass", "reason": "retried"}]


def _invite(assessment, manager, name):
    candidate = candidate_get_or_create(name=name, email=f"{name.split()[0].lower()}@example.com")
    invitation, _ = invitation_create(assessment=assessment, candidate=candidate, invited_by=manager)
    return invitation


def _decided(invitation, manager, archive, reason="Solid retries."):
    submission = graded_submission(invitation=invitation, archive=archive, results=RESULTS)
    invitation_mark_reviewed(invitation=invitation)
    decision_record(invitation=invitation, outcome="advance", reason=reason, actor=manager)
    return submission


def _ended_months_ago(invitation, months: int):
    Invitation.objects.filter(pk=invitation.pk).update(closed_at=months_before(timezone.now(), months))


def test_months_before_counts_calendar_months():
    assert months_before(datetime(2026, 11, 27, 9, 30, tzinfo=UTC), 12) == datetime(2025, 11, 27, 9, 30, tzinfo=UTC)
    assert months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 1) == datetime(2025, 12, 15, tzinfo=UTC)
    assert months_before(datetime(2028, 3, 31, tzinfo=UTC), 1) == datetime(2028, 2, 29, tzinfo=UTC)


def test_every_decision_expiry_and_withdrawal_records_when_the_invitation_ended(assessment, manager, valid_zip):
    decided = _invite(assessment, manager, "Dana Candidate")
    before = timezone.now()
    _decided(decided, manager, valid_zip)
    decided.refresh_from_db()
    assert decided.closed_at >= before
    withdrawn = _invite(assessment, manager, "Wes Candidate")
    invitation_withdraw(invitation=withdrawn, actor=manager, reason="Took another offer.")
    withdrawn.refresh_from_db()
    assert withdrawn.closed_at >= before
    # A changed decision restarts the clock.
    _ended_months_ago(decided, 13)
    decision_record(invitation=decided, outcome="reject", reason="Second look.", actor=manager)
    decided.refresh_from_db()
    assert decided.closed_at >= before


def test_candidates_are_erased_only_once_every_invitation_ended_long_enough_ago(
    settings, assessment, manager, exercise, valid_zip, django_capture_on_commit_callbacks
):
    settings.DATA_RETENTION_MONTHS = 12
    # Ended 13 months ago: decided (with an upload), withdrawn, never started with the link lapsed.
    dana = _invite(assessment, manager, "Dana Candidate")
    upload = _decided(dana, manager, valid_zip)
    _ended_months_ago(dana, 13)
    wes = _invite(assessment, manager, "Wes Candidate")
    invitation_withdraw(invitation=wes, actor=manager, reason="Took another offer.")
    _ended_months_ago(wes, 13)
    lapsed = _invite(assessment, manager, "Lee Candidate")
    Invitation.objects.filter(pk=lapsed.pk).update(expires_at=months_before(timezone.now(), 13))
    # Kept: decided 11 months ago; a decision from 13 months ago changed last week; one invitation
    # ended long ago but another is still awaiting its review; a lapsed link of last month.
    recent = _invite(assessment, manager, "Rae Candidate")
    _decided(recent, manager, valid_zip)
    _ended_months_ago(recent, 11)
    changed = _invite(assessment, manager, "Cy Candidate")
    _decided(changed, manager, valid_zip)
    _ended_months_ago(changed, 13)
    decision_record(invitation=changed, outcome="hold", reason="Panel next week.", actor=manager)
    busy = _invite(assessment, manager, "Bo Candidate")
    _decided(busy, manager, valid_zip)
    _ended_months_ago(busy, 13)
    second = assessment_create(
        owner=manager, title="Second opening", exercise=exercise,
        rubric=Rubric.objects.get(slug=exercise.rubric_slug), closes_at=timezone.now() + timedelta(days=30),
    )  # fmt: skip
    still_open, _ = invitation_create(assessment=second, candidate=busy.candidate, invited_by=manager)
    graded_submission(invitation=still_open, archive=valid_zip, results=RESULTS)
    fresh_lapse = _invite(assessment, manager, "Ike Candidate")
    Invitation.objects.filter(pk=fresh_lapse.pk).update(expires_at=months_before(timezone.now(), 1))

    assert StoredArchive.objects.filter(submission=upload).exists()
    with django_capture_on_commit_callbacks(execute=True):
        erased = candidates_erase_past_retention()
    assert sorted(erased) == sorted([dana.candidate_id, wes.candidate_id, lapsed.candidate_id])
    names = set(Candidate.objects.filter(erased_at__isnull=True).values_list("name", flat=True))
    assert names == {"Rae Candidate", "Cy Candidate", "Bo Candidate", "Ike Candidate"}
    upload.refresh_from_db()
    assert not StoredArchive.objects.filter(submission=upload).exists() and upload.sha256  # the anonymous facts stay
    assert GradingRun.objects.get(submission=upload).results.count() == 1
    events = AuditEvent.objects.filter(action="candidate.erased")
    assert events.count() == 3 and all(e.actor is None and e.data["why"].startswith("retention") for e in events)
    # The decision's reason goes too, and says why; nobody asked for this erasure.
    from candidates.models import Decision

    assert Decision.objects.get(invitation=dana).reason == "[erased: the retention period ended]"
    # Running again (beat does, every 6 hours) finds nobody new.
    assert candidates_erase_past_retention() == []


def test_the_command_lists_first_then_erases(settings, assessment, manager):
    settings.DATA_RETENTION_MONTHS = 6
    withdrawn = _invite(assessment, manager, "Wes Candidate")
    invitation_withdraw(invitation=withdrawn, actor=manager)
    _ended_months_ago(withdrawn, 7)
    out = io.StringIO()
    call_command("erase_past_retention", "--dry-run", stdout=out)
    assert f"1 candidate(s) would be erased: ids [{withdrawn.candidate_id}]" in out.getvalue()
    assert "Wes" not in out.getvalue()  # ids only: the output may end up in a log
    assert Candidate.objects.get(pk=withdrawn.candidate_id).erased_at is None
    call_command("erase_past_retention", stdout=out)
    assert "Erased 1 candidate(s)." in out.getvalue()
    assert Candidate.objects.get(pk=withdrawn.candidate_id).erased_at is not None


def test_beat_runs_the_retention_eraser(settings):
    assert "candidates.tasks.erase_past_retention" in {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
