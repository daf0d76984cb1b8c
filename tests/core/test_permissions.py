"""Every staff view refuses the wrong role, and nobody sees another manager's openings."""

import pytest
from django.urls import reverse

from tests.builders import make_zip
from tests.conftest import PASSWORD

MANAGER_PAGES = ["assessments:list"]
STAFF_PAGES = ["assessments:dashboard"]
REVIEWER_PAGES = ["rubrics:queue"]


@pytest.mark.parametrize("name", MANAGER_PAGES + STAFF_PAGES + REVIEWER_PAGES)
def test_it_sends_anonymous_visitors_to_login(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_sends_anonymous_visitors_to_login_from_an_assessment(client, assessment):
    response = client.get(reverse("assessments:detail", args=[assessment.pk]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", MANAGER_PAGES)
def test_it_refuses_manager_pages_to_reviewers(client, reviewer, name):
    client.force_login(reviewer)
    assert client.get(reverse(name)).status_code == 403


def test_it_refuses_an_assessment_page_to_reviewers(client, reviewer, assessment):
    client.force_login(reviewer)
    assert client.get(reverse("assessments:detail", args=[assessment.pk])).status_code == 403


@pytest.mark.parametrize("name", REVIEWER_PAGES)
def test_it_refuses_reviewer_pages_to_managers_who_do_not_review(client, manager, name):
    client.force_login(manager)
    assert client.get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", MANAGER_PAGES + STAFF_PAGES + REVIEWER_PAGES)
def test_it_refuses_every_staff_page_to_a_user_without_a_role(client, outsider, name):
    client.force_login(outsider)
    assert client.get(reverse(name)).status_code == 403


def test_it_hides_another_managers_assessment(client, other_manager, assessment):
    client.force_login(other_manager)
    assert client.get(reverse("assessments:detail", args=[assessment.pk])).status_code == 404
    assert assessment.title not in client.get(reverse("assessments:list")).content.decode()


def test_the_owner_sees_the_assessment_and_its_candidates(client, manager, invitation):
    client.force_login(manager)
    response = client.get(reverse("assessments:detail", args=[invitation.assessment.pk]))
    assert response.status_code == 200
    assert "Dana Candidate" in response.content.decode()


def test_the_htmx_filter_returns_only_the_fragment(client, manager, invitation):
    client.force_login(manager)
    url = reverse("assessments:detail", args=[invitation.assessment.pk])
    response = client.get(url, {"state": "started"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="invitations"' in html
    assert "No candidate is in this state." in html


def test_the_reviewer_queue_never_names_the_candidate(client, reviewer, invitation):
    from candidates.services import invitation_start
    from rubrics.services import review_assign
    from workflows.uploads import submission_accept

    invitation_start(invitation=invitation)
    submission = submission_accept(invitation=invitation, archive=make_zip({}))
    review_assign(submission=submission, reviewer=reviewer)
    client.force_login(reviewer)
    html = client.get(reverse("rubrics:queue")).content.decode()
    assert f"Candidate {invitation.pseudonym}" in html
    assert "Dana" not in html and "dana@example.com" not in html


def test_staff_log_in_with_a_password(client, manager):
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("assessments:dashboard")
    assert client.get(reverse("assessments:dashboard")).status_code == 200


def test_a_wrong_password_is_refused_with_a_message(client, manager):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
