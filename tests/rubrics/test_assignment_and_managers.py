import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone

from assessments.models import GradingRun
from core.models import AuditEvent
from core.roles import REVIEWERS
from rubrics.models import Disagreement, GoldStandard, Review
from rubrics.selectors import AGREEMENT_MIN_SUBMISSIONS, AgreementRow, agreement_for_assessment
from rubrics.services import (
    RubricError,
    disagreement_resolve,
    review_reassign,
    review_score_save,
    review_submit,
    reviews_assign_for_submission,
)
from tests.builders import graded_submission, review_verdict
from tests.conftest import PASSWORD
from workflows.grading import grading_finished


def _reviewer(name):
    user = User.objects.create_user(username=name, password=PASSWORD)
    user.groups.add(Group.objects.get(name=REVIEWERS))
    return user


def _score_all(review, level, note="because"):
    for criterion in review.submission.invitation.assessment.rubric.criteria.all():
        review_score_save(review=review, criterion=criterion, level=level, note=note)
    review_verdict(review)
    return review_submit(review=review)


def test_it_assigns_the_least_loaded_reviewers_once_and_idempotently(assessment, reviewer, reviewer2):
    third = _reviewer("dave")
    busy = graded_submission(assessment, name="Busy", email="busy@example.com")
    Review.objects.create(submission=busy, reviewer=reviewer)
    submission = graded_submission(assessment)
    assigned = reviews_assign_for_submission(submission=submission)
    assert {r.reviewer for r in assigned} == {reviewer2, third}
    assert reviews_assign_for_submission(submission=submission) == []
    assert Review.objects.filter(submission=submission).count() == 2


def test_it_assigns_when_grading_marks_the_invitation_graded(assessment, reviewer, reviewer2):
    submission = graded_submission(assessment, mark_graded=False)
    grading_finished(run=submission.grading_runs.get())
    assert set(Review.objects.filter(submission=submission).values_list("reviewer__username", flat=True)) == {
        "bob",
        "carol",
    }


def test_a_manager_reassigns_an_open_review(client, manager, assessment, reviewer, reviewer2):
    submission = graded_submission(assessment)
    review = Review.objects.create(submission=submission, reviewer=reviewer)
    client.force_login(manager)
    response = client.post(reverse("rubrics:reassign", args=[review.pk]), {"reviewer": reviewer2.pk})
    assert response.status_code == 302
    review.refresh_from_db()
    assert review.state == Review.WITHDRAWN
    assert Review.objects.get(submission=submission, reviewer=reviewer2).state == Review.ASSIGNED
    with pytest.raises(RubricError):
        review_reassign(review=review, reviewer=reviewer2, actor=manager)


def test_other_managers_and_reviewers_cannot_use_manager_pages(client, other_manager, reviewer, assessment):
    submission = graded_submission(assessment)
    review = Review.objects.create(submission=submission, reviewer=reviewer)
    client.force_login(other_manager)
    assert client.get(reverse("rubrics:manage", args=[assessment.pk])).status_code == 404
    assert client.get(reverse("rubrics:agreement", args=[assessment.pk])).status_code == 404
    assert client.get(reverse("rubrics:gold", args=[submission.pk])).status_code == 404
    assert client.post(reverse("rubrics:reassign", args=[review.pk]), {"reviewer": reviewer.pk}).status_code == 404
    client.force_login(reviewer)
    assert client.get(reverse("rubrics:disagreements")).status_code == 403
    assert client.get(reverse("rubrics:manage", args=[assessment.pk])).status_code == 403


def test_a_manager_resolves_a_disagreement_with_a_calibration_note(client, manager, assessment, reviewer, reviewer2):
    submission = graded_submission(assessment)
    _score_all(Review.objects.create(submission=submission, reviewer=reviewer), 0)
    _score_all(Review.objects.create(submission=submission, reviewer=reviewer2), 2)
    disagreement = Disagreement.objects.filter(submission=submission).first()
    assert (disagreement.low, disagreement.high) == (0, 2)
    client.force_login(manager)
    client.post(reverse("rubrics:resolve", args=[disagreement.pk]), {"level": "1", "note": ""})
    disagreement.refresh_from_db()
    assert not disagreement.is_resolved
    client.post(reverse("rubrics:resolve", args=[disagreement.pk]), {"level": "1", "note": "Checks ids only."})
    disagreement.refresh_from_db()
    assert disagreement.resolved_level == 1 and disagreement.resolved_by == manager
    assert AuditEvent.objects.filter(action="disagreement.resolved").exists()
    with pytest.raises(RubricError):
        disagreement_resolve(disagreement=disagreement, level=2, note="again", actor=manager)


def test_a_third_reviewer_can_be_added_to_a_disagreement(client, manager, assessment, reviewer, reviewer2):
    third = _reviewer("dave")
    submission = graded_submission(assessment)
    client.force_login(manager)
    back = reverse("rubrics:disagreements") + "?show=all#disagreement-1"
    response = client.post(reverse("rubrics:assign", args=[submission.pk]), {"reviewer": third.pk, "next": back})
    assert Review.objects.filter(submission=submission, reviewer=third).exists()
    assert response.url == back


def test_reviewers_of_a_gold_submission_see_their_deviation(client, manager, assessment, reviewer):
    submission = graded_submission(assessment)
    criteria = list(assessment.rubric.criteria.all())
    client.force_login(manager)
    data = {"label": "known weak", **{f"c{c.pk}": "1" for c in criteria}}
    assert client.post(reverse("rubrics:gold", args=[submission.pk]), data).status_code == 302
    assert GoldStandard.objects.filter(submission=submission, expected_level=1).count() == len(criteria)
    review = Review.objects.create(submission=submission, reviewer=reviewer)
    client.force_login(reviewer)
    assert b"Calibration: expected" not in client.get(reverse("rubrics:review", args=[review.pk])).content
    _score_all(review, 3)
    html = client.get(reverse("rubrics:review", args=[review.pk])).content.decode()
    assert "Calibration: expected level 1 (known weak); your deviation +2." in html
    client.force_login(manager)
    html = client.get(reverse("rubrics:agreement", args=[assessment.pk])).content.decode()
    assert "2.00" in html  # bob's mean |deviation| from gold


def test_agreement_per_criterion_and_reviewer(assessment, reviewer, reviewer2, manager, client):
    grounding, notes = assessment.rubric.criteria.all()
    for i, (a, b) in enumerate([(3, 3), (2, 1), (0, 3)]):
        submission = graded_submission(assessment, name=f"C{i}", email=f"c{i}@example.com")
        for user, level in ((reviewer, a), (reviewer2, b)):
            review = Review.objects.create(submission=submission, reviewer=user)
            review_score_save(review=review, criterion=grounding, level=level, note="n")
            review_score_save(review=review, criterion=notes, level=2, note="n")
            review_verdict(review)
            review_submit(review=review)
    stats = agreement_for_assessment(assessment=assessment)
    g = stats["per_criterion"][0]
    assert (g.units, g.pairs, g.submissions) == (3, 3, 3)
    # Two criteria over three submissions: six scores compared, but three submissions.
    assert (stats["overall"].units, stats["overall"].submissions) == (6, 3)
    assert g.too_few and g.reading == "too few submissions to judge"
    assert g.exact == pytest.approx(1 / 3) and g.within_one == pytest.approx(2 / 3)
    assert g.alpha is not None and g.alpha < 0.5
    bob = next(r for r in stats["per_reviewer"] if r.label == "bob")
    assert bob.pairs == 6 and bob.exact == pytest.approx(4 / 6)
    client.force_login(manager)
    html = client.get(reverse("rubrics:agreement", args=[assessment.pk])).content.decode()
    assert "33%" in html and "67%" in html
    assert "Too few submissions to judge" in html and "(3 of 10 needed)" in html


@pytest.mark.parametrize(
    ("submissions", "alpha", "reading"),
    [
        (AGREEMENT_MIN_SUBMISSIONS - 1, 0.95, "too few submissions to judge"),
        (2, -0.5, "too few submissions to judge"),
        (AGREEMENT_MIN_SUBMISSIONS, None, "no spread of levels to measure"),
        (AGREEMENT_MIN_SUBMISSIONS, 0.8, "reliable"),
        (AGREEMENT_MIN_SUBMISSIONS, 0.7, "tentative: good enough for tentative conclusions only"),
        (40, 0.66, "reviewers disagree too much for firm conclusions"),
    ],
)
def test_alpha_is_read_in_words_only_from_enough_submissions(submissions, alpha, reading):
    assert AgreementRow("x", submissions=submissions, alpha=alpha).reading == reading


def _grade(submission):
    run = submission.grading_runs.get()
    GradingRun.objects.filter(pk=run.pk).update(state=GradingRun.DONE, finished_at=timezone.now())
    run.refresh_from_db()
    grading_finished(run=run)


def test_a_resubmission_withdraws_the_open_reviews_of_the_older_upload(client, assessment, reviewer, reviewer2):
    from candidates.models import Invitation
    from tests.builders import DEFAULT_FILES, make_zip
    from workflows.uploads import submission_accept

    first = graded_submission(assessment, mark_graded=False)
    _grade(first)
    old = {r.reviewer_id: r for r in Review.objects.filter(submission=first)}
    assert set(old) == {reviewer.pk, reviewer2.pk}
    criterion = assessment.rubric.criteria.first()
    review_score_save(review=old[reviewer.pk], criterion=criterion, level=2, note="half way through")

    second = submission_accept(invitation=first.invitation, archive=make_zip(DEFAULT_FILES), notes="v2")
    for review in old.values():
        review.refresh_from_db()
        assert review.state == Review.WITHDRAWN and review.withdrawn_reason == Review.SUPERSEDED
    assert old[reviewer.pk].scores.get().note == "half way through"  # the draft is kept, read-only
    assert AuditEvent.objects.filter(action="review.withdrawn").count() == 2

    # The reviewer's queue no longer offers it; its page says why and cannot be submitted.
    client.force_login(reviewer)
    old_url = reverse("rubrics:review", args=[old[reviewer.pk].pk])
    assert old_url not in client.get(reverse("rubrics:queue")).content.decode()
    page = client.get(old_url).content.decode()
    assert "uploaded a newer version" in page and "Submit review" not in page
    response = client.post(reverse("rubrics:submit", args=[old[reviewer.pk].pk]), follow=True)
    assert "withdrawn" in response.content.decode()
    withdrawn_tab = client.get(reverse("rubrics:queue") + "?state=withdrawn").content.decode()
    assert "the candidate uploaded a newer version" in withdrawn_tab

    # The new upload is reviewed afresh once it is graded, and only that moves the invitation on.
    _grade(second)
    new = list(Review.objects.filter(submission=second))
    assert {r.reviewer_id for r in new} == {reviewer.pk, reviewer2.pk}
    assert all(r.state == Review.ASSIGNED for r in new)
    for review in new:
        _score_all(review, level=2)
    invitation = Invitation.objects.get(pk=first.invitation_id)
    assert invitation.state == Invitation.REVIEWED


def test_a_review_of_an_older_upload_never_marks_the_invitation_reviewed(assessment, reviewer, reviewer2):
    from candidates.models import Invitation
    from tests.builders import DEFAULT_FILES, make_zip
    from workflows.uploads import submission_accept

    first = graded_submission(assessment, mark_graded=False)
    second = submission_accept(invitation=first.invitation, archive=make_zip(DEFAULT_FILES), notes="v2")
    _grade(second)
    # A review of the old upload that slipped in (assigned by hand after the resubmission).
    stale = Review.objects.create(submission=first, reviewer=_reviewer("erin"))
    _score_all(stale, level=3)
    assert Invitation.objects.get(pk=first.invitation_id).state == Invitation.GRADED


def test_a_review_submitted_during_a_resubmission_stays_and_the_upload_still_succeeds(assessment, reviewer, reviewer2):
    """The race: a reviewer submits the old upload's review between the query and the withdrawal."""
    from unittest import mock

    from django.utils import timezone

    from rubrics import services
    from tests.builders import DEFAULT_FILES, make_zip
    from workflows.uploads import submission_accept

    first = graded_submission(assessment, mark_graded=False)
    _grade(first)
    racing = Review.objects.get(submission=first, reviewer=reviewer)
    real = services.apply_transition

    def submitted_just_before(review, target, **changes):
        if review.pk == racing.pk:
            Review.objects.filter(pk=review.pk).update(state=Review.SUBMITTED, submitted_at=timezone.now())
        return real(review, target, **changes)

    with mock.patch.object(services, "apply_transition", submitted_just_before):
        second = submission_accept(invitation=first.invitation, archive=make_zip(DEFAULT_FILES), notes="v2")
    assert second.number == 2
    assert Review.objects.get(pk=racing.pk).state == Review.SUBMITTED
    assert Review.objects.get(submission=first, reviewer=reviewer2).state == Review.WITHDRAWN
