"""The magic link: a valid one opens the portal without leaving the token in the URL; the rest
get a clear page that says nothing about whether an invitation exists."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from candidates.access import LINK_FAILURES_ALLOWED, SESSION_KEY
from candidates.models import Invitation
from candidates.services import candidate_erase, invitation_expire, invitation_withdraw

pytestmark = pytest.mark.django_db


def test_it_opens_the_portal_and_drops_the_token_from_the_url(client, invitation, token):
    response = client.get(f"/t/{token}/")
    assert response.status_code == 302
    assert response["Location"] == reverse("candidates:welcome", args=[invitation.pk])
    assert token not in response["Location"]
    invitation.refresh_from_db()
    assert client.session[SESSION_KEY] == [[invitation.pk, invitation.token_hash[:16]]]
    assert token not in str(client.session[SESSION_KEY])  # a fingerprint of the stored hash, not the token
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]


def test_it_sends_a_started_candidate_to_upload_and_a_submitter_to_status(client, started, token, valid_zip):
    from workflows.uploads import submission_upload

    assert client.get(f"/t/{token}/")["Location"] == reverse("candidates:upload", args=[started.pk])
    submission_upload(invitation=started, archive=valid_zip)
    assert client.get(f"/t/{token}/")["Location"] == reverse("candidates:status", args=[started.pk])


def test_it_keeps_two_invitations_in_one_browser(client, invitation, token, other_invitation, manager):
    from candidates.services import invitation_token_rotate

    other_token = invitation_token_rotate(invitation=other_invitation, actor=manager)
    client.get(f"/t/{token}/")
    client.get(f"/t/{other_token}/")
    assert [pk for pk, _link in client.session[SESSION_KEY]] == [invitation.pk, other_invitation.pk]
    assert client.get(reverse("candidates:welcome", args=[invitation.pk])).status_code == 200
    assert client.get(reverse("candidates:status", args=[other_invitation.pk])).status_code == 200


def test_it_gives_the_same_clear_page_for_unknown_and_malformed_tokens(client, db):
    for bad in ["nope", "x" * 43, "A" * 500]:
        response = client.get(f"/t/{bad}/")
        assert response.status_code == 404
        html = response.content.decode()
        assert "This link is not valid" in html
        assert "expired" not in html.lower() and "no longer active" not in html


def test_an_old_link_stops_working_once_a_new_one_is_sent(client, invitation, token, manager):
    from candidates.services import invitation_link_resend

    invitation_link_resend(invitation=invitation, actor=manager)
    response = client.get(f"/t/{token}/")
    assert response.status_code == 404 and "This link is not valid" in response.content.decode()


def test_resending_the_link_shuts_out_every_browser_that_opened_the_old_one(client, started, token, manager, valid_zip):
    from django.test import Client

    from candidates.services import invitation_link_resend

    leaked = Client()  # someone else who got hold of the first link
    assert leaked.get(f"/t/{token}/").status_code == 302
    assert client.get(f"/t/{token}/").status_code == 302
    upload_url = reverse("candidates:upload", args=[started.pk])
    assert leaked.get(upload_url).status_code == 200

    invitation_link_resend(invitation=started, actor=manager)

    # The leaked browser tries to upload; the candidate's own browser opens the page.
    response = leaked.post(upload_url, {"archive": valid_zip})
    assert response.status_code == 410 and "A newer link was sent" in response.content.decode()
    response = client.get(upload_url)
    html = response.content.decode()
    assert response.status_code == 410 and "A newer link was sent" in html
    assert "Nothing you uploaded is lost" in html and "alice@example.com" in html
    for browser in (leaked, client):
        assert browser.get(upload_url).status_code == 404  # forgotten by the session: no more hints
    assert not started.submissions.exists()

    from candidates.services import invitation_token_rotate

    new_token = invitation_token_rotate(invitation=started, actor=manager)  # what the new email carries
    assert client.get(f"/t/{new_token}/").status_code == 302
    assert client.get(upload_url).status_code == 200


def test_an_expired_link_says_so_and_whom_to_ask(client, invitation, token):
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client.get(f"/t/{token}/")
    html = response.content.decode()
    assert response.status_code == 410
    assert "This link has expired" in html
    assert "Alice Manager" in html and "alice@example.com" in html
    assert SESSION_KEY not in client.session


def test_an_expired_state_is_expired_too(client, invitation, token):
    invitation_expire(invitation=invitation)
    assert client.get(f"/t/{token}/").status_code == 410


def test_a_started_take_home_keeps_its_link_past_the_invitation_expiry(client, started, token):
    Invitation.objects.filter(pk=started.pk).update(expires_at=timezone.now() - timedelta(days=1))
    assert client.get(f"/t/{token}/").status_code == 302


def test_a_withdrawn_invitation_is_no_longer_active(client, invitation, token, manager):
    invitation_withdraw(invitation=invitation, actor=manager)
    response = client.get(f"/t/{token}/")
    assert response.status_code == 410
    assert "This link is no longer active" in response.content.decode()


def test_an_erased_candidate_link_is_no_longer_active(client, invitation, token, manager):
    candidate_erase(candidate=invitation.candidate, actor=manager)
    response = client.get(f"/t/{token}/")
    assert response.status_code == 410 and "no longer active" in response.content.decode()


def test_it_rate_limits_failed_attempts_per_client(client, invitation, token):
    for _ in range(LINK_FAILURES_ALLOWED):
        assert client.get("/t/guess-guess-guess/").status_code == 404
    response = client.get("/t/another-guess/")
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    # Another client is not blocked.
    assert client.get("/t/another-guess/", REMOTE_ADDR="10.9.8.7").status_code == 404


def test_a_valid_link_opens_from_an_address_others_have_exhausted(client, invitation, token):
    """An office or campus shares one address: someone else's wrong links must not lock a candidate out."""
    from django.test import Client

    others = Client()
    for _ in range(LINK_FAILURES_ALLOWED + 5):
        others.get("/t/guess-guess-guess/")
    assert others.get("/t/guess-guess-guess/").status_code == 429

    response = client.get(f"/t/{token}/")
    assert response.status_code == 302
    assert response["Location"] == reverse("candidates:welcome", args=[invitation.pk])
    assert client.get(f"/t/{token}x/").status_code == 429  # a wrong one from there is still refused


def test_valid_links_do_not_count_towards_the_limit(client, invitation, token):
    for _ in range(LINK_FAILURES_ALLOWED + 5):
        assert client.get(f"/t/{token}/").status_code == 302
    assert client.get("/t/guess/").status_code == 404


def test_without_a_trusted_proxy_a_forged_x_forwarded_for_changes_nothing(client, db, settings):
    assert settings.TRUSTED_PROXY_COUNT == 0
    for i in range(LINK_FAILURES_ALLOWED):
        client.get("/t/guess/", HTTP_X_FORWARDED_FOR=f"1.2.3.{i}")
    assert client.get("/t/guess/", HTTP_X_FORWARDED_FOR="5.5.5.5").status_code == 429


def test_behind_the_proxy_it_counts_the_address_the_proxy_saw(client, db, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for i in range(LINK_FAILURES_ALLOWED):
        # A client cannot dodge the limit by writing its own X-Forwarded-For entries.
        client.get("/t/guess/", HTTP_X_FORWARDED_FOR=f"1.2.3.{i}, 203.0.113.9")
    assert client.get("/t/guess/", HTTP_X_FORWARDED_FOR="5.5.5.5, 203.0.113.9").status_code == 429
    assert client.get("/t/guess/", HTTP_X_FORWARDED_FOR="203.0.113.10").status_code == 404


def test_opening_a_link_gives_a_new_session_key(client, invitation, token):
    session = client.session
    session["seen"] = True
    session.save()
    before = session.session_key
    client.get(f"/t/{token}/")
    assert client.session.session_key != before
