"""Candidate A reaches nothing of candidate B; candidates reach no staff page; managers act only on
their own openings."""

import re

import pytest
from django.urls import reverse

from candidates.services import candidate_erase, invitation_token_rotate, invitation_withdraw
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PORTAL_PAGES = ["welcome", "brief", "start", "starter_kit", "upload", "status"]
STAFF_PAGES = [
    ("assessments:dashboard", False),
    ("assessments:list", False),
    ("assessments:detail", True),
    ("rubrics:queue", False),
]


@pytest.mark.parametrize("name", PORTAL_PAGES)
def test_candidate_a_gets_404_on_every_page_of_candidate_b(portal, started, other_invitation, name):
    target = reverse(f"candidates:{name}", args=[other_invitation.pk])
    assert portal.get(target).status_code == 404
    if name in ("start", "upload"):
        assert portal.post(target, {}).status_code == 404
    # And their own page is there.
    assert portal.get(reverse(f"candidates:{name}", args=[started.pk])).status_code in (200, 302)


@pytest.mark.parametrize("name", PORTAL_PAGES)
def test_a_browser_without_the_link_gets_404(client, invitation, name):
    assert client.get(reverse(f"candidates:{name}", args=[invitation.pk])).status_code == 404


def test_a_missing_invitation_is_404_too(portal):
    assert portal.get(reverse("candidates:welcome", args=[999999])).status_code == 404


def test_the_404_page_is_the_same_whether_the_invitation_exists_or_not(portal, other_invitation):
    exists = portal.get(reverse("candidates:status", args=[other_invitation.pk]))
    missing = portal.get(reverse("candidates:status", args=[999999]))
    assert exists.status_code == missing.status_code == 404

    def without_csrf(html: bytes) -> str:
        return re.sub(r'"X-CSRFToken": "[^"]*"', "", html.decode())

    assert without_csrf(exists.content) == without_csrf(missing.content)
    assert "Sam" not in exists.content.decode()


def test_a_withdrawn_invitation_closes_the_open_portal(portal, invitation, manager):
    invitation_withdraw(invitation=invitation, actor=manager)
    response = portal.get(reverse("candidates:welcome", args=[invitation.pk]))
    assert response.status_code == 410 and "no longer active" in response.content.decode()


def test_erasure_closes_the_open_portal(portal, started, manager):
    candidate_erase(candidate=started.candidate, actor=manager)
    for name in PORTAL_PAGES:
        assert portal.get(reverse(f"candidates:{name}", args=[started.pk])).status_code == 410


@pytest.mark.parametrize(("name", "with_pk"), STAFF_PAGES)
def test_a_candidate_with_a_portal_session_is_sent_to_staff_login(portal, invitation, name, with_pk):
    response = portal.get(reverse(name, args=[invitation.assessment.pk] if with_pk else []))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_candidate_cannot_use_the_manager_actions(portal, invitation):
    a = invitation.assessment.pk
    for name in ("resend", "erase", "feedback"):
        response = portal.post(reverse(f"assessments:{name}", args=[a, invitation.pk]))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    response = portal.post(reverse("assessments:invite", args=[a]), {"name": "X", "email": "x@example.com"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_staff_session_opens_no_portal(client, manager, invitation):
    client.force_login(manager)
    assert client.get(reverse("candidates:welcome", args=[invitation.pk])).status_code == 404


MANAGER_ACTIONS = [
    ("invite", False, "post"),
    ("invite_csv", False, "post"),
    ("resend", True, "post"),
    ("erase", True, "get"),
    ("erase", True, "post"),
    ("feedback", True, "get"),
    ("feedback", True, "post"),
]


def _action_url(name, invitation, with_invitation):
    args = [invitation.assessment.pk] + ([invitation.pk] if with_invitation else [])
    return reverse(f"assessments:{name}", args=args)


@pytest.mark.parametrize(("name", "with_invitation", "method"), MANAGER_ACTIONS)
def test_reviewers_and_users_without_a_role_are_refused_manager_actions(
    client, reviewer, outsider, invitation, name, with_invitation, method
):
    for user in (reviewer, outsider):
        client.force_login(user)
        assert getattr(client, method)(_action_url(name, invitation, with_invitation)).status_code == 403


@pytest.mark.parametrize(("name", "with_invitation", "method"), MANAGER_ACTIONS)
def test_another_manager_gets_404_on_actions_of_an_opening_they_do_not_own(
    client, other_manager, invitation, name, with_invitation, method
):
    client.force_login(other_manager)
    response = getattr(client, method)(
        _action_url(name, invitation, with_invitation), {"name": "X", "email": "x@e.com"}
    )
    assert response.status_code == 404
    invitation.candidate.refresh_from_db()
    assert invitation.candidate.erased_at is None


def test_an_invitation_of_another_assessment_is_404_under_this_one(client, manager, invitation, exercise):
    from datetime import timedelta

    from django.utils import timezone

    from assessments.services import assessment_create
    from rubrics.models import Rubric

    mine_too = assessment_create(
        owner=manager,
        title="Second opening",
        exercise=exercise,
        rubric=Rubric.objects.get(slug=exercise.rubric_slug),
        closes_at=timezone.now() + timedelta(days=3),
    )
    client.force_login(manager)
    assert client.get(reverse("assessments:erase", args=[mine_too.pk, invitation.pk])).status_code == 404


def test_staff_log_in_normally_after_using_a_portal(client, manager, invitation):
    token = invitation_token_rotate(invitation=invitation, actor=manager)
    client.get(f"/t/{token}/")
    assert client.post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code == 302
