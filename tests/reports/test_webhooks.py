"""Decision webhooks: owned, signed the Standard Webhooks way, never inward, retried, delivered exactly once."""

import http.client
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.urls import reverse

from candidates.models import Invitation
from core.models import AuditEvent
from reports.models import WebhookDelivery, WebhookEndpoint
from reports.services import (
    decision_submit,
    webhook_deliveries_take_back_lost,
    webhook_delivery_attempt,
    webhook_headers,
)
from reports.tasks import sweep_webhook_deliveries
from tests.reports.conftest import login
from tests.workers import wait_for

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _readme_verifier():
    """The README's receiver code, run as written: if it stops verifying, the documentation is wrong."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"```python\n(import base64.*?def verify_webhook.*?)```", readme, re.S)
    assert block, "the README's webhook verifier is missing"
    namespace: dict = {}
    exec(block.group(1), namespace)  # noqa: S102 - our own README, under test
    return namespace["verify_webhook"]


verify_webhook = _readme_verifier()


class Receiver:
    """An ATS stand-in on 127.0.0.1, verifying as the README says: 401 on a bad signature, 400 on a stale
    timestamp, 409 on a replayed id; answers 500 ``fail_first`` times before accepting."""

    def __init__(self, fail_first: int = 0, secret: str = SECRET):
        self.fail_first = fail_first
        self.secret = secret
        self.requests: list[dict] = []
        self.seen_ids: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verdict = "ok"
                seen = set(receiver.seen_ids)  # a failing answer must not mark the id as handled
                try:
                    verify_webhook(receiver.secret, headers, body, seen)
                except ValueError as exc:
                    verdict = str(exc)
                except KeyError:
                    verdict = "missing header"
                failing = len(receiver.requests) < receiver.fail_first
                status = {"ok": 500 if failing else 200, "stale or future timestamp": 400, "already handled": 409}.get(
                    verdict, 401
                )
                if status == 200:
                    receiver.seen_ids = seen
                receiver.requests.append(
                    {
                        "body": json.loads(body),
                        "signature_ok": verdict not in ("bad signature", "missing header"),
                        "verdict": verdict,
                        "status": status,
                        "timestamp": headers.get("webhook-timestamp"),
                        "event": headers.get("webhook-id"),
                        "headers": headers,
                        "raw": body,
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


@pytest.fixture(autouse=True)
def _local_receivers(local_receivers):
    """Every test here talks to a receiver on 127.0.0.1."""


def _endpoint(owner, url, **extra) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(owner=owner, name="ATS", url=url, secret=SECRET, **extra)


def _reviewed(invitation) -> Invitation:
    # Setup shortcut: the review flow is tested elsewhere; the webhook only needs a decidable invitation.
    Invitation.objects.filter(pk=invitation.pk).update(state=Invitation.REVIEWED)
    invitation.refresh_from_db()
    return invitation


def test_the_signature_is_the_standard_webhooks_one():
    # The example of the Standard Webhooks specification, verified by the README's code.
    body = b'{"test": 2432232314}'
    headers = webhook_headers(
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        body=body,
        timestamp=1614265330,
    )
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    with pytest.raises(ValueError, match="stale"):
        verify_webhook(SECRET, headers, body, set())


@pytest.mark.worker
def test_a_receiver_failing_twice_gets_exactly_one_accepted_delivery(celery_worker, settings, invitation, manager):
    settings.WEBHOOK_RETRY_BASE_S = 1
    with Receiver(fail_first=2) as receiver:
        _endpoint(manager, receiver.url)
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
        _endpoint(manager, receiver.url)
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
        _endpoint(manager, receiver.url)
        decision_submit(invitation=_reviewed(invitation), outcome="reject", reason="No retries.", actor=manager)
        delivery = WebhookDelivery.objects.get()
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.SENDING)
        from django.utils import timezone

        WebhookDelivery.objects.filter(pk=delivery.pk).update(claimed_at=timezone.now())
        assert webhook_delivery_attempt(delivery_id=delivery.pk).status == WebhookDelivery.SENDING
        assert receiver.requests == []


def test_the_admin_never_shows_an_endpoints_secret(admin_client, admin_user):
    endpoint = _endpoint(admin_user, "https://ats.example.com/hook")
    page = admin_client.get(reverse("admin:reports_webhookendpoint_change", args=[endpoint.pk])).content.decode()
    assert "ATS" in page and SECRET not in page


def test_a_pending_delivery_can_be_retried_only_once_it_looks_stuck(client, invitation, manager):
    from datetime import timedelta

    from django.utils import timezone

    _endpoint(manager, "http://127.0.0.1:9/hook")
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
        WebhookEndpoint.objects.create(owner=manager, name=name, url=receiver.url, secret=SECRET)
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


# --- Finding 3: owned, never inward, not replayable ------------------------------------------------


def test_a_decision_reaches_only_the_endpoints_of_the_assessments_owner(invitation, manager, other_manager):
    with Receiver() as mine, Receiver() as theirs:
        _endpoint(manager, mine.url)
        WebhookEndpoint.objects.create(owner=other_manager, name="Their ATS", url=theirs.url, secret=SECRET)
        decision_submit(invitation=_reviewed(invitation), outcome="reject", reason="Private reason.", actor=manager)
        for delivery in WebhookDelivery.objects.all():
            webhook_delivery_attempt(delivery_id=delivery.pk)
    assert len(mine.accepted) == 1 and mine.accepted[0]["body"]["reason"] == "Private reason."
    assert theirs.requests == [] and WebhookDelivery.objects.get().endpoint.owner == manager


def test_a_captured_delivery_cannot_be_replayed_or_re_dated(invitation, manager):
    with Receiver() as receiver:
        _endpoint(manager, receiver.url)
        decision_submit(invitation=_reviewed(invitation), outcome="advance", reason="Yes.", actor=manager)
        webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
        captured = receiver.accepted[0]

        def send(headers):
            connection = http.client.HTTPConnection("127.0.0.1", receiver.server.server_address[1], timeout=10)
            connection.request("POST", "/ats/hook", body=captured["raw"], headers=headers)
            status = connection.getresponse().status
            connection.close()
            return status

        # The same message again: a receiver that remembers ids refuses it.
        assert send(captured["headers"]) == 409
        # The old "sign the body only" scheme let an attacker put a fresh time on a captured body.
        fresh = {**captured["headers"], "webhook-timestamp": str(int(captured["timestamp"]) + 1)}
        assert send(fresh) == 401
        # And a correctly signed message sent late (a replay after the receiver forgot its ids) is stale.
        old = webhook_headers(
            secret=SECRET, msg_id="new-id", body=captured["raw"], timestamp=int(captured["timestamp"]) - 600
        )
        assert send(old) == 400
    assert [r["status"] for r in receiver.requests] == [200, 409, 401, 400]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://localhost:{port}/hook",
        "http://[::1]:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://0.0.0.0:{port}/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://100.64.0.1/hook",
        "http://224.0.0.1/hook",
        "http://2130706433:{port}/hook",  # 127.0.0.1 written as one number
    ],
)
def test_a_delivery_never_reaches_an_inside_address(settings, invitation, manager, url):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        endpoint = WebhookEndpoint.objects.create(owner=manager, name="ATS", url=url.format(port=port), secret=SECRET)
        decision_submit(invitation=_reviewed(invitation), outcome="advance", reason="Yes.", actor=manager)
        attempt = webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get(endpoint=endpoint).pk)
        assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert attempt.status == WebhookDelivery.PENDING and delivery.last_error == "refused: private address"


def test_the_delivery_log_says_refused_or_could_not_connect_never_the_socket_error(settings, invitation, manager):
    # Allowed (an internal ATS) but closed: the log must not tell an open port from a closed one by errno.
    _endpoint(manager, "http://127.0.0.1:9/hook")
    WebhookEndpoint.objects.create(owner=manager, name="Scan", url="ftp://example.com/x", secret=SECRET)
    decision_submit(invitation=_reviewed(invitation), outcome="advance", reason="Yes.", actor=manager)
    for delivery in WebhookDelivery.objects.all():
        webhook_delivery_attempt(delivery_id=delivery.pk)
    errors = dict(WebhookDelivery.objects.values_list("endpoint__name", "last_error"))
    assert errors == {"ATS": "could not connect", "Scan": "refused: only http and https URLs"}


def test_a_redirect_is_not_followed(invitation, manager):
    from http.server import BaseHTTPRequestHandler

    with Receiver() as elsewhere:

        class Redirect(BaseHTTPRequestHandler):
            def do_POST(self):
                self.send_response(302)
                self.send_header("Location", elsewhere.url)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        bouncer = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        threading.Thread(target=bouncer.serve_forever, daemon=True).start()
        try:
            _endpoint(manager, f"http://127.0.0.1:{bouncer.server_address[1]}/hook")
            decision_submit(invitation=_reviewed(invitation), outcome="advance", reason="Yes.", actor=manager)
            attempt = webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
        finally:
            bouncer.shutdown()
            bouncer.server_close()
        assert elsewhere.requests == []
    delivery = WebhookDelivery.objects.get()
    assert attempt.retry and delivery.last_status_code == 302 and "redirects are not followed" in delivery.last_error


def test_a_name_that_resolves_inside_as_well_as_outside_is_refused(monkeypatch):
    import socket

    from core import outbound

    def resolve(host, port, *args, **kwargs):  # DNS is the boundary: an attacker's name with two answers
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(outbound.Refused, match="private address"):
        outbound.check_url("https://rebind.example/hook")
    assert outbound.check_url("https://rebind.example/hook", allowed_networks=["10.0.0.0/24"]).addresses


def test_the_allow_list_lets_an_internal_ats_through_and_nothing_else(invitation, manager, settings):
    with Receiver() as receiver:
        _endpoint(manager, receiver.url)
        settings.WEBHOOK_ALLOWED_NETWORKS = ["10.0.0.0/8"]
        decision_submit(invitation=_reviewed(invitation), outcome="advance", reason="Yes.", actor=manager)
        delivery = WebhookDelivery.objects.get()
        webhook_delivery_attempt(delivery_id=delivery.pk)
        assert receiver.requests == []
        settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
        webhook_delivery_attempt(delivery_id=delivery.pk)
        assert len(receiver.accepted) == 1


def test_https_checks_the_certificate_of_the_host_it_was_pinned_to(invitation, manager, tmp_path):
    import ssl
    import subprocess

    # A receiver whose certificate nobody vouches for: the pinned TLS connection must refuse it.
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    with Receiver() as receiver:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
        _endpoint(manager, receiver.url.replace("http://", "https://"))
        decision_submit(invitation=_reviewed(invitation), outcome="advance", reason="Yes.", actor=manager)
        webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
        assert receiver.requests == []
    assert WebhookDelivery.objects.get().last_error.startswith("TLS handshake failed")
