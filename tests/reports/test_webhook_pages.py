"""A manager's own webhook pages: add an endpoint (secret shown once), edit it, test it, replace its secret."""

import pytest
from django.urls import reverse

from core.models import AuditEvent
from reports.models import WebhookDelivery, WebhookEndpoint
from tests.reports.test_webhooks import Receiver
from tests.workers import wait_for


@pytest.fixture(autouse=True)
def _local(local_receivers):
    """The receivers here listen on 127.0.0.1."""


def test_the_secret_is_shown_once_and_never_again(client, manager):
    client.force_login(manager)
    with Receiver() as receiver:
        response = client.post(reverse("reports:webhooks"), {"name": "Greenhouse", "url": receiver.url, "active": "on"})
    endpoint = WebhookEndpoint.objects.get()
    page = response.content.decode()
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert endpoint.owner == manager and endpoint.secret.startswith("whsec_") and endpoint.secret in page
    for url in [reverse("reports:webhooks"), reverse("reports:webhook", args=[endpoint.pk])]:
        again = client.get(url).content.decode()
        assert "Greenhouse" in again and endpoint.secret not in again
    assert AuditEvent.objects.filter(action="webhook.endpoint_created", actor=manager).exists()


def test_a_new_secret_replaces_the_old_one_and_is_shown_once(client, manager):
    client.force_login(manager)
    endpoint = WebhookEndpoint.objects.create(owner=manager, name="ATS", url="https://ats.example.com/h", secret="x")
    page = client.post(reverse("reports:webhook_secret", args=[endpoint.pk])).content.decode()
    endpoint.refresh_from_db()
    assert endpoint.secret != "x" and endpoint.secret in page and "old secret stopped working" in page


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.2:8080/hook", "Refused: private address."),
        ("http://169.254.169.254/latest/", "Refused: private address."),
        ("ftp://example.com/hook", "Refused: only http and https URLs."),
        ("http://user:pw@example.com/hook", "Refused: a URL with a user name or password in it."),
    ],
)
def test_the_form_refuses_urls_deliveries_would_refuse(client, manager, url, message):
    client.force_login(manager)
    response = client.post(reverse("reports:webhooks"), {"name": "Inside", "url": url, "active": "on"})
    assert response.status_code == 400 and message in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_editing_an_endpoint_keeps_its_secret(client, manager):
    client.force_login(manager)
    endpoint = WebhookEndpoint.objects.create(owner=manager, name="ATS", url="https://ats.example.com/h", secret="k")
    response = client.post(
        reverse("reports:webhook", args=[endpoint.pk]), {"name": "ATS (paused)", "url": "https://ats.example.com/h"}
    )
    endpoint.refresh_from_db()
    assert response.status_code == 302 and endpoint.name == "ATS (paused)" and not endpoint.active
    assert endpoint.secret == "k"


@pytest.mark.worker
def test_send_test_event_reaches_the_receiver_signed_and_shows_delivered(client, celery_worker, manager):
    client.force_login(manager)
    with Receiver() as receiver:
        client.post(reverse("reports:webhooks"), {"name": "ATS", "url": receiver.url, "active": "on"})
        endpoint = WebhookEndpoint.objects.get()
        receiver.secret = endpoint.secret
        client.post(reverse("reports:webhook_test", args=[endpoint.pk]))
        wait_for(
            lambda: WebhookDelivery.objects.filter(status=WebhookDelivery.DELIVERED).exists(),
            timeout=60,
            message="the test event to be delivered",
        )
    assert [r["verdict"] for r in receiver.requests] == ["ok"]
    assert receiver.accepted[0]["body"]["event"] == "webhook.test"
    page = client.get(reverse("reports:webhook", args=[endpoint.pk])).content.decode()
    assert "Test event" in page and "Delivered" in page
