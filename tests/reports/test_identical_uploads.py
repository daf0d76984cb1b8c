"""Byte-identical uploads (same sha256) across candidates: flagged on both scorecards and in the
comparison, within one owner's assessments and never across owners."""

import subprocess
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from assessments.services import assessment_create
from reports.selectors.identical import identical_uploads
from rubrics.models import Rubric
from tests.builders import graded_submission, make_zip
from tests.reports.conftest import login

SHARED = make_zip({"echo/__init__.py": "def answer(q):\n    return 'copied'\n"})
OWN = make_zip({"echo/__init__.py": "def answer(q):\n    return 'mine'\n"})


def _assessment(owner, exercise, title):
    return assessment_create(
        owner=owner,
        title=title,
        exercise=exercise,
        rubric=Rubric.objects.get(slug=exercise.rubric_slug),
        closes_at=timezone.now() + timedelta(days=30),
    )


def _upload(assessment, name, archive):
    email = f"{name.split()[0].lower()}@example.com"
    return graded_submission(assessment, name=name, email=email, archive=archive).invitation


@pytest.fixture
def pair(assessment):
    """Two candidates of one assessment with the same bytes, and a third with their own."""
    return {
        "ada": _upload(assessment, "Ada Same", SHARED),
        "ben": _upload(assessment, "Ben Same", SHARED),
        "cy": _upload(assessment, "Cy Own", OWN),
    }


@pytest.mark.django_db
def test_it_pairs_the_two_candidates_with_the_same_bytes_both_ways(assessment, pair):
    found = identical_uploads(assessment=assessment)

    assert set(found) == {pair["ada"].pk, pair["ben"].pk}
    (of_ada,) = found[pair["ada"].pk]
    (of_ben,) = found[pair["ben"].pk]
    assert (of_ada.other_name, of_ada.other_invitation_id, of_ada.number, of_ada.other_number) == (
        "Ben Same",
        pair["ben"].pk,
        1,
        1,
    )
    assert (of_ben.other_name, of_ben.other_invitation_id) == ("Ada Same", pair["ada"].pk)
    assert identical_uploads(assessment=assessment, invitation=pair["cy"]) == {}


@pytest.mark.django_db
def test_it_finds_the_same_bytes_in_another_assessment_of_the_same_owner(assessment, manager, exercise):
    ada = _upload(assessment, "Ada Same", SHARED)
    spring = _assessment(manager, exercise, "Platform engineer, spring")
    dev = _upload(spring, "Dev Elsewhere", SHARED)

    (match,) = identical_uploads(assessment=assessment, invitation=ada)[ada.pk]

    assert (match.other_name, match.other_assessment_id, match.other_assessment_title) == (
        "Dev Elsewhere",
        spring.pk,
        "Platform engineer, spring",
    )
    assert identical_uploads(assessment=spring)[dev.pk][0].other_invitation_id == ada.pk


@pytest.mark.django_db
def test_it_never_matches_across_owners(client, assessment, manager, other_manager, exercise):
    ada = _upload(assessment, "Ada Same", SHARED)
    theirs = _assessment(other_manager, exercise, "Another team's opening")
    eve = _upload(theirs, "Eve Other Team", SHARED)

    assert identical_uploads(assessment=assessment) == {}
    assert identical_uploads(assessment=theirs) == {}
    login(client, manager)
    page = client.get(reverse("reports:scorecard", args=[assessment.pk, ada.pk])).content.decode()
    assert "Eve Other Team" not in page and 'data-notice="identical"' not in page
    login(client, other_manager)
    page = client.get(reverse("reports:scorecard", args=[theirs.pk, eve.pk])).content.decode()
    assert "Ada Same" not in page and 'data-notice="identical"' not in page
    page = client.get(reverse("reports:comparison", args=[theirs.pk])).content.decode()
    assert 'data-badge="identical"' not in page and "Ada Same" not in page


@pytest.mark.django_db
def test_a_candidate_uploading_the_same_bytes_twice_is_not_flagged(assessment, exercise, manager):
    ada = _upload(assessment, "Ada Same", SHARED)
    graded_submission(invitation=ada, archive=SHARED, mark_graded=False)
    spring = _assessment(manager, exercise, "Platform engineer, spring")
    _upload(spring, "Ada Same", SHARED)  # the same person (same email) invited to a second opening

    assert identical_uploads(assessment=assessment) == {}


@pytest.mark.django_db
def test_the_scorecards_show_the_notice_linking_to_each_other(client, manager, assessment, pair):
    login(client, manager)
    for mine, theirs, name in (("ada", "ben", "Ben Same"), ("ben", "ada", "Ada Same")):
        page = client.get(reverse("reports:scorecard", args=[assessment.pk, pair[mine].pk])).content.decode()
        link = reverse("reports:scorecard", args=[assessment.pk, pair[theirs].pk])
        assert 'data-notice="identical"' in page
        assert "Worth a look" in page
        assert f'Byte-identical to an upload by <a href="{link}">{name}</a> ({assessment.title}, upload #1, ' in page

    page = client.get(reverse("reports:scorecard", args=[assessment.pk, pair["cy"].pk])).content.decode()
    assert 'data-notice="identical"' not in page


@pytest.mark.django_db
def test_the_pdf_carries_the_notice_with_the_name_and_no_link(client, manager, assessment, pair, tmp_path):
    login(client, manager)
    response = client.get(reverse("reports:scorecard_pdf", args=[assessment.pk, pair["ada"].pk]))
    pdf = tmp_path / "ada.pdf"
    pdf.write_bytes(response.content)

    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    text = " ".join(text.split())
    assert "Worth a look: an identical upload" in text
    assert f"Byte-identical to an upload by Ben Same ({assessment.title}, upload #1," in text
    ben_url = reverse("reports:scorecard", args=[assessment.pk, pair["ben"].pk])
    assert ben_url.encode() not in response.content  # the PDF names, it links nothing


@pytest.mark.django_db
def test_the_notice_names_which_upload_when_there_are_several(client, manager, assessment):
    ada = _upload(assessment, "Ada Same", OWN)
    graded_submission(invitation=ada, archive=SHARED, mark_graded=False)
    _upload(assessment, "Ben Same", SHARED)
    login(client, manager)

    page = client.get(reverse("reports:scorecard", args=[assessment.pk, ada.pk])).content.decode()

    assert "Upload #2: byte-identical to an upload by" in page


@pytest.mark.django_db
def test_the_comparison_marks_both_rows_and_not_the_third(client, manager, assessment, pair):
    login(client, manager)
    page = client.get(reverse("reports:comparison", args=[assessment.pk])).content.decode()

    rows = {key: page.split(f'data-invitation="{inv.pk}"')[1].split("</tr>")[0] for key, inv in pair.items()}
    assert 'data-badge="identical"' in rows["ada"] and "Byte-identical to an upload by Ben Same" in rows["ada"]
    assert 'data-badge="identical"' in rows["ben"] and "Byte-identical to an upload by Ada Same" in rows["ben"]
    assert 'data-badge="identical"' not in rows["cy"]


@pytest.mark.django_db
def test_the_lookup_is_one_query_whatever_the_number_of_candidates(assessment, django_assert_num_queries):
    for n in range(6):
        _upload(assessment, f"Copy{n} Cat", SHARED)
    with django_assert_num_queries(1):
        found = identical_uploads(assessment=assessment)
    assert len(found) == 6 and all(len(matches) == 5 for matches in found.values())
