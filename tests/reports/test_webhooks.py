"""Decision webhooks: signed, retried with backoff by the real worker, delivered exactly once."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from candidates.models import Invitation
from core.models import AuditEvent
from reports.models import WebhookDelivery, WebhookEndpoint
from reports.services import (
    decision_submit,
    webhook_deliveries_take_back_lost,
    webhook_delivery_attempt,
    webhook_signature,
)
from reports.tasks import sweep_webhook_deliveries
from tests.reports.conftest import login
from tests.workers import wait_for

SECRET = "whsec-test-0123456789abcdef"


class Receiver:
    """An ATS stand-in on 127.0.0.1: answers 500 ``fail_first`` times, then 200; checks every signature."""

    def __init__(self, fail_first: int = 0):
        self.fail_first = fail_first
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                ok_signature = hmac.compare_digest(expected, self.headers.get("X-Takehome-Signature", ""))
                status = 500 if len(receiver.requests) < receiver.fail_first else 200
                if not ok_signature:
                    status = 401
                receiver.requests.append(
                    {
                        "body": json.loads(body),
                        "signature_ok": ok_signature,
                        "status": status,
                        "timestamp": self.headers.get("X-Takehome-Timestamp"),
                        "event": self.headers.get("X-Takehome-Event"),
                    }
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ats/hook"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def accepted(self) -> list[dict]:
        return [r for r in self.requests if r["status"] == 200]


def _reviewed(invitation) -> Invitation:
    # Setup shortcut: the review flow is tested elsewhere; the webhook only needs a decidable invitation.
    Invitation.objects.filter(pk=invitation.pk).update(state=Invitation.REVIEWED)
    invitation.refresh_from_db()
    return invitation


def test_it_signs_the_raw_body_with_hmac_sha256():
    body = b'{"a":1}'
    assert webhook_signature(secret="k", body=body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


@pytest.mark.worker
def test_a_receiver_failing_twice_gets_exactly_one_accepted_delivery(celery_worker, settings, invitation, manager):
    settings.WEBHOOK_RETRY_BASE_S = 1
    with Receiver(fail_first=2) as receiver:
        WebhookEndpoint.objects.create(name="ATS", url=receiver.url, secret=SECRET)
        decision = decision_submit(invitation=_reviewed(invitation), outcome="advance", reason="Solid.", actor=manager)
        delivery = WebhookDelivery.objects.get()
        wait_for(
            lambda: WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.DELIVERED).exists(),
            timeout=60,
            message="the webhook to be delivered",
        )
        # A duplicate message (or a manual re-run) finds the row delivered and sends nothing.
        assert webhook_delivery_attempt(delivery_id=delivery.pk).status == WebhookDelivery.DELIVERED
        delivery.refresh_from_db()
        assert [r["status"] for r in receiver.requests] == [500, 500, 200]
    assert all(r["signature_ok"] and r["timestamp"] for r in receiver.requests)
    assert len(receiver.accepted) == 1
    assert delivery.attempts == 3 and delivery.last_status_code == 200 and delivery.delivered_at
    body = receiver.accepted[0]["body"]
    assert body["event_id"] == str(delivery.event_id) == receiver.accepted[0]["event"]
    assert body["invitation_id"] == invitation.pk and body["outcome"] == "advance" and body["reason"] == "Solid."
    assert body["candidate"]["email"] == "dana@example.com" and body["decided_at"] == decision.decided_at.isoformat()
    # The same event id on every attempt: a receiver can deduplicate on it.
    assert len({r["body"]["event_id"] for r in receiver.requests}) == 1


def test_it_gives_up_after_the_maximum_and_a_manager_can_retry(client, settings, invitation, manager):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    with Receiver(fail_first=99) as receiver:
        WebhookEndpoint.objects.create(name="ATS", url=receiver.url, secret=SECRET)
        decision_submit(invitation=_reviewed(invitation), outcome="hold", reason="Wait for the panel.", actor=manager)
        delivery = WebhookDelivery.objects.get()
        first = webhook_delivery_attempt(delivery_id=delivery.pk)
        assert first.retry and first.status == WebhookDelivery.PENDING
        second = webhook_delivery_attempt(delivery_id=delivery.pk)
        assert not second.retry and second.status == WebhookDelivery.FAILED
        assert webhook_delivery_attempt(delivery_id=delivery.pk).status == WebhookDelivery.FAILED
        assert len(receiver.requests) == 2
    delivery.refresh_from_db()
    assert delivery.last_status_code == 500 and "500" in delivery.last_error
    login(client, manager)
    page = client.get(reverse("reports:deliveries", args=[invitation.assessment_id])).content.decode()
    assert "Failed" in page and "Retry now" in page and SECRET not in page
    client.post(reverse("reports:delivery_retry", args=[invitation.assessment_id, delivery.pk]))
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.PENDING and delivery.attempts == 0


def test_a_delivery_being_sent_is_not_sent_twice(invitation, manager):
    with Receiver() as receiver:
        WebhookEndpoint.objects.create(name="ATS", url=receiver.url, secret=SECRET)
        decision_submit(invitation=_reviewed(invitation), outcome="reject", reason="No retries.", actor=manager)
        delivery = WebhookDelivery.objects.get()
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.SENDING)
        from django.utils import timezone

        WebhookDelivery.objects.filter(pk=delivery.pk).update(claimed_at=timezone.now())
        assert webhook_delivery_attempt(delivery_id=delivery.pk).status == WebhookDelivery.SENDING
        assert receiver.requests == []


def test_the_admin_never_shows_an_endpoints_secret(admin_client):
    endpoint = WebhookEndpoint.objects.create(name="ATS", url="https://ats.example.com/hook", secret=SECRET)
    page = admin_client.get(reverse("admin:reports_webhookendpoint_change", args=[endpoint.pk])).content.decode()
    assert "ATS" in page and SECRET not in page


def test_a_pending_delivery_can_be_retried_only_once_it_looks_stuck(client, invitation, manager):
    from datetime import timedelta

    from django.utils import timezone

    WebhookEndpoint.objects.create(name="ATS", url="http://127.0.0.1:9/hook", secret=SECRET)
    decision_submit(invitation=_reviewed(invitation), outcome="advance", reason="Yes.", actor=manager)
    delivery = WebhookDelivery.objects.get()
    login(client, manager)
    url = reverse("reports:delivery_retry", args=[invitation.assessment_id, delivery.pk])
    client.post(url)
    assert (
        WebhookDelivery.objects.get().attempts == 0
        and "Retry now"
        not in client.get(reverse("reports:deliveries", args=[invitation.assessment_id])).content.decode()
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(hours=1))
    page = client.get(reverse("reports:deliveries", args=[invitation.assessment_id])).content.decode()
    assert "stuck?" in page and "Retry now" in page
    client.post(url)
    assert AuditEvent.objects.filter(action="webhook.retried").count() == 1
    # The retried delivery is due now, so the sweeper does not send a second message for it.
    assert webhook_deliveries_take_back_lost() == []


def _lost_deliveries(invitation, manager, receiver) -> tuple[WebhookDelivery, WebhookDelivery, WebhookDelivery]:
    """Three endpoints on one decision, none of whose messages reached a worker (never sent on commit).

    The first is pending and an hour overdue, the second was claimed an hour ago by a worker that
    died mid-POST, the third is pending but only just created.
    """
    from datetime import timedelta

    from django.utils import timezone

    from candidates.services import decision_record
    from reports.services import webhook_deliveries_create

    for name in ("ATS one", "ATS two", "ATS three"):
        WebhookEndpoint.objects.create(name=name, url=receiver.url, secret=SECRET)
    decision = decision_record(invitation=_reviewed(invitation), outcome="advance", reason="Ship it.", actor=manager)
    overdue, silent, fresh = sorted(webhook_deliveries_create(decision=decision), key=lambda d: d.endpoint.name)
    hour_ago = timezone.now() - timedelta(hours=1)
    WebhookDelivery.objects.filter(pk=overdue.pk).update(created_at=hour_ago)
    WebhookDelivery.objects.filter(pk=silent.pk).update(
        created_at=hour_ago, status=WebhookDelivery.SENDING, claimed_at=hour_ago, attempts=1
    )
    return overdue, silent, fresh


def test_the_sweeper_takes_back_only_lost_deliveries_and_each_once_per_period(invitation, manager):
    from datetime import timedelta

    from django.utils import timezone

    with Receiver() as receiver:
        overdue, silent, fresh = _lost_deliveries(invitation, manager, receiver)
    assert sorted(webhook_deliveries_take_back_lost()) == sorted([overdue.pk, silent.pk])
    silent.refresh_from_db()
    assert silent.status == WebhookDelivery.PENDING and "silent" in silent.last_error and silent.attempts == 1
    # The next sweeps (every minute) leave them alone: the re-sent messages are on their way.
    assert webhook_deliveries_take_back_lost() == []
    assert webhook_deliveries_take_back_lost(now=timezone.now() + timedelta(minutes=9)) == []
    # Ten minutes on, a message lost again is sent again; the fresh one is overdue by then too.
    later = timezone.now() + timedelta(minutes=11)
    assert sorted(webhook_deliveries_take_back_lost(now=later)) == sorted([overdue.pk, silent.pk, fresh.pk])
    # Delivered and failed rows are never taken back.
    WebhookDelivery.objects.filter(pk=overdue.pk).update(status=WebhookDelivery.DELIVERED, delivered_at=later)
    WebhookDelivery.objects.filter(pk=silent.pk).update(status=WebhookDelivery.FAILED)
    assert webhook_deliveries_take_back_lost(now=later + timedelta(hours=1)) == [fresh.pk]


@pytest.mark.worker
def test_deliveries_whose_messages_were_lost_reach_the_receiver_through_the_sweeper(celery_worker, invitation, manager):
    with Receiver() as receiver:
        overdue, silent, fresh = _lost_deliveries(invitation, manager, receiver)
        sweep_webhook_deliveries()  # what beat runs every minute; its sends go to the real worker
        wait_for(
            lambda: WebhookDelivery.objects.filter(status=WebhookDelivery.DELIVERED).count() == 2,
            timeout=60,
            message="both lost deliveries to be delivered",
        )
        sweep_webhook_deliveries()
        assert len(receiver.requests) == 2 and len(receiver.accepted) == 2
    assert {r["event"] for r in receiver.accepted} == {str(overdue.event_id), str(silent.event_id)}
    assert all(r["signature_ok"] for r in receiver.requests)
    silent.refresh_from_db()
    assert silent.attempts == 2  # the attempt its dead worker made counts
    fresh.refresh_from_db()
    assert fresh.status == WebhookDelivery.PENDING and fresh.attempts == 0


def test_beat_runs_the_webhook_sweeper(settings):
    entries = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "reports.tasks.sweep_webhook_deliveries" in entries
