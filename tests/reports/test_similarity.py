"""Similarity triage: winnowing fingerprints rank copies first, leave independent work below the
threshold, ignore the starter kit, and show the shared lines as worth a look (blind for reviewers,
only after they submitted)."""

import random
import time

import pytest
from django.urls import reverse

from candidates.models import CodeFingerprint, KnownSolution, SimilarityMatch
from candidates.services import candidate_erase
from candidates.similarity import THRESHOLD, submission_similarity_compute
from candidates.winnowing import fingerprint, similarity
from rubrics.models import Review
from rubrics.services import review_submit
from tests.builders import make_zip, review_ready_to_submit, zip_bomb
from tests.reports.conftest import login
from tests.reports.similarity_solutions import (
    REFERENCE,
    STARTER,
    honest_solution,
    renamed_and_reordered,
    with_helpdesk_kit,
)
from tests.reports.similarity_solutions import (
    submit as _submit,
)


@pytest.fixture
def helpdesk(custom_assessment, custom_exercise):
    with_helpdesk_kit(custom_exercise)
    return custom_assessment


def test_copies_rank_first_for_each_other_and_independent_work_stays_below_the_threshold(helpdesk):
    """The acceptance set: 30 uploads, 27 written independently (one of which is copied twice,
    renamed and reordered) and one renamed-and-reordered copy of the reference solution."""
    started = time.monotonic()
    uploads = {f"honest {i}": honest_solution(i) for i in range(27)}
    uploads["copy one"] = renamed_and_reordered(uploads["honest 3"], seed=1)
    uploads["copy two"] = renamed_and_reordered(uploads["honest 3"], seed=2)
    uploads["reference copy"] = renamed_and_reordered(REFERENCE, seed=3)
    submissions = {name: _submit(helpdesk, name.title(), files) for name, files in uploads.items()}
    built = time.monotonic()
    for submission in submissions.values():  # in upload order, as gradings finish
        submission_similarity_compute(submission_id=submission.pk)
    compared = time.monotonic()
    by_id = {s.pk: name for name, s in submissions.items()}

    def ranked(name: str) -> list[tuple[str, float]]:
        rows = SimilarityMatch.objects.filter(submission=submissions[name]).order_by("-score")
        return [(by_id.get(r.other_submission_id, r.kind), r.score) for r in rows]

    copies = {"honest 3", "copy one", "copy two"}
    for name in copies:
        top = ranked(name)
        assert {other for other, _ in top[:2]} == copies - {name}, top
        assert all(score >= THRESHOLD for _, score in top[:2])
        assert all(score < THRESHOLD for _, score in top[2:]), top
    top = ranked("reference copy")
    assert top[0][0] == "reference" and top[0][1] >= THRESHOLD, top
    assert all(score < THRESHOLD for _, score in top[1:])
    for name in set(uploads) - copies - {"reference copy"}:
        assert all(score < THRESHOLD for _, score in ranked(name)), (name, ranked(name))
    print(f"\n30 uploads built in {built - started:.1f} s, compared in {compared - built:.1f} s")


def test_the_starter_kit_counts_for_nothing(helpdesk):
    """An upload that is the starter as it came has no fingerprint of its own; two that share only
    the starter do not match."""
    kit_only = _submit(helpdesk, "Kit Only", {})
    a = _submit(helpdesk, "Ada Own", honest_solution(100))
    b = _submit(helpdesk, "Bo Own", honest_solution(101))
    for submission in (kit_only, a, b):
        submission_similarity_compute(submission_id=submission.pk)
    assert CodeFingerprint.objects.get(submission=kit_only).count == 0
    assert not SimilarityMatch.objects.filter(submission=b, score__gte=THRESHOLD).exists()
    # Without removing the starter the two would look alike: it is most of their code.
    with_kit = [fingerprint(STARTER | honest_solution(seed)).hashes for seed in (100, 101)]
    assert similarity(*with_kit)[0] > THRESHOLD


@pytest.fixture
def copied_pair(helpdesk, manager):
    original = _submit(helpdesk, "Ada Original", honest_solution(7))
    copy = _submit(helpdesk, "Bo Copier", renamed_and_reordered(honest_solution(7), seed=9))
    submission_similarity_compute(submission_id=original.pk)
    submission_similarity_compute(submission_id=copy.pk)
    return original, copy


def test_reviewers_see_matches_only_after_submitting_and_only_by_pseudonym(client, copied_pair, reviewer, manager):
    original, copy = copied_pair
    review = review_ready_to_submit(copy, reviewer, manager)
    url = reverse("rubrics:review", args=[review.pk])
    page = login(client, reviewer).get(url).content.decode()
    assert 'data-section="similarity"' not in page  # it would anchor the blind scoring
    review_submit(review=review)
    assert Review.objects.get(pk=review.pk).state == Review.SUBMITTED
    page = client.get(url).content.decode()
    assert "Worth a look: similar code" in page
    assert f"Candidate {original.invitation.pseudonym}" in page
    assert "Ada Original" not in page and "Bo Copier" not in page
    assert "similarity-pair" in page  # the shared lines, side by side


def test_the_scorecard_names_the_other_candidate_both_ways(client, copied_pair, manager, outsider, other_manager):
    original, copy = copied_pair
    login(client, manager)
    for mine, other in ((copy, original), (original, copy)):
        url = reverse("reports:scorecard", args=[mine.invitation.assessment_id, mine.invitation_id])
        page = client.get(url).content.decode()
        assert "Worth a look: similar code" in page
        assert other.invitation.candidate.name in page
        assert "similarity-code" in page
    # Erased: the score stays, the code is gone.
    candidate_erase(candidate=original.invitation.candidate, actor=manager)
    url = reverse("reports:scorecard", args=[copy.invitation.assessment_id, copy.invitation_id])
    assert "no longer stored" in client.get(url).content.decode()
    assert not CodeFingerprint.objects.filter(submission=original).exists()


def test_a_known_public_solution_is_compared_with_graded_uploads(client, helpdesk, manager):
    copier = _submit(helpdesk, "Cy Copier", renamed_and_reordered(honest_solution(40), seed=4))
    honest = _submit(helpdesk, "Di Honest", honest_solution(41))
    for submission in (copier, honest):
        submission_similarity_compute(submission_id=submission.pk)
    url = reverse("reports:known_solutions", args=[helpdesk.pk])
    login(client, manager)
    assert "No known solution yet" in client.get(url).content.decode()
    published = make_zip({f"blog-post/{p}": s for p, s in honest_solution(40).items()})
    response = client.post(url, {"label": "A blog post", "archive": _file(published)})
    assert response.status_code == 302
    known = KnownSolution.objects.get(assessment=helpdesk)
    assert SimilarityMatch.objects.filter(submission=copier, known_solution=known, score__gte=THRESHOLD).exists()
    assert not SimilarityMatch.objects.filter(submission=honest, known_solution=known).exists()
    page = client.get(reverse("reports:scorecard", args=[helpdesk.pk, copier.invitation_id])).content.decode()
    assert "the known solution “A blog post”" in page
    # A later upload is compared with it as it is graded.
    late = _submit(helpdesk, "Ed Late", renamed_and_reordered(honest_solution(40), seed=5))
    submission_similarity_compute(submission_id=late.pk)
    assert SimilarityMatch.objects.filter(submission=late, kind="known", score__gte=THRESHOLD).exists()


def _file(data: bytes, name: str = "solution.zip"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="application/zip")


def test_hostile_or_oversized_zips_are_refused_in_words(client, helpdesk, manager):
    url = reverse("reports:known_solutions", args=[helpdesk.pk])
    login(client, manager)
    for archive, words in (
        (zip_bomb(60, package="helpdesk"), "unpacks to"),
        (make_zip({"../../escape.py": "x = 1\n"}), "archive"),
        (b"not a zip", "zip"),
        (make_zip({"README.md": "# hi\n"}), "no Python file"),
    ):
        response = client.post(url, {"label": "Hostile", "archive": _file(archive)})
        assert response.status_code == 400
        assert words in response.content.decode()
    helpdesk.exercise.limits = {**helpdesk.exercise.limits, "max_compressed_bytes": 1000}
    helpdesk.exercise.save(update_fields=["limits"])
    incompressible = make_zip({"a.py": f"x = {random.Random(0).randbytes(3000).hex()!r}\n"})
    response = client.post(url, {"label": "Big", "archive": _file(incompressible)})
    assert response.status_code == 400 and "over the limit" in response.content.decode()
    assert not KnownSolution.objects.exists()


def test_outsiders_cannot_see_or_add_known_solutions(client, helpdesk, other_manager, reviewer, outsider):
    url = reverse("reports:known_solutions", args=[helpdesk.pk])
    assert client.get(url).status_code == 302  # to the login page
    for user in (other_manager, reviewer, outsider):
        login(client, user)
        assert client.get(url).status_code in (403, 404)
        response = client.post(url, {"label": "x", "archive": _file(make_zip({"a.py": "x = 1\n"}))})
        assert response.status_code in (403, 404)
    assert not KnownSolution.objects.exists()


def test_matches_stay_within_one_owners_assessments(helpdesk, other_manager, custom_exercise):
    from datetime import timedelta

    from django.utils import timezone

    from assessments.services import assessment_create

    theirs = assessment_create(
        owner=other_manager,
        title="Another team",
        exercise=custom_exercise,
        rubric=helpdesk.rubric,
        closes_at=timezone.now() + timedelta(days=30),
    )
    ours = _submit(helpdesk, "Fa Ours", honest_solution(60))
    other = _submit(theirs, "Gu Theirs", renamed_and_reordered(honest_solution(60), seed=6))
    for submission in (ours, other):
        submission_similarity_compute(submission_id=submission.pk)
    assert not SimilarityMatch.objects.filter(kind="submission").exists()


def test_fingerprinting_is_stable_under_renaming_and_reordering():
    files = honest_solution(11)
    a, b = fingerprint(files).hashes, fingerprint(renamed_and_reordered(files, seed=1)).hashes
    assert similarity(a, b)[0] > 0.9
    assert max(similarity(a, fingerprint(honest_solution(s)).hashes)[0] for s in range(12, 20)) < 0.1


def test_a_finished_grading_sends_the_comparison_on_commit(helpdesk, monkeypatch, django_capture_on_commit_callbacks):
    from assessments.models import GradingRun
    from workflows import grading

    sent = []
    monkeypatch.setattr(grading.compare_submission_task, "delay", sent.append)  # the broker is the boundary
    submission = _submit(helpdesk, "Ha Graded", honest_solution(70))
    run = submission.grading_runs.get(state=GradingRun.DONE)
    with django_capture_on_commit_callbacks(execute=True):
        grading.grading_finished(run=run)
    assert sent == [submission.pk]
