"""Writes for the reports: the reference anchor, decisions with their webhooks, webhook attempts.

Decision webhooks, for an ATS to listen to. A manager adds endpoints on their Webhooks page (URL,
active flag; the secret is made there and shown once). Every active endpoint of the assessment's
owner gets one POST per decision event, signed the Standard Webhooks way
(https://www.standardwebhooks.com/):

    POST <url>
    Content-Type: application/json
    webhook-id: <the event id, a UUID; the same on every retry of this event>
    webhook-timestamp: <unix seconds of this attempt>
    webhook-signature: v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<raw body>">

    {"event": "decision.recorded", "event_id": "…", "invitation_id": 12,
     "assessment": {"id": 3, "title": "…"}, "candidate": {"name": "…", "email": "…", "pseudonym": "7F3A"},
     "outcome": "advance" | "reject" | "hold", "reason": "…", "decided_at": "ISO 8601", "decided_by": "username"}

The HMAC key is the secret's base64 part (after ``whsec_``). Because the timestamp is signed, a
receiver that refuses timestamps older than a few minutes and ids it has already seen cannot be
fed an old message again. "Send test event" posts ``{"event": "webhook.test", …}`` the same way.

A 2xx answer marks the delivery delivered; anything else (or no answer) is retried by the Celery
task after WEBHOOK_RETRY_BASE_S × 2^(attempt-1) seconds, up to WEBHOOK_MAX_ATTEMPTS, then marked
failed (a manager can "Retry now"). A message the broker loses (a restart) is re-sent by the beat
sweeper once the delivery is ten minutes overdue. Requests never reach private addresses and never
follow redirects (core.outbound). Changing a decision is a new event.
"""

import base64
import hashlib
import hmac
import json
import logging
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from assessments.grading.engine import grade_in_sandbox
from assessments.models import Exercise
from assessments.packages import exercise_dir
from candidates.models import Decision, Invitation
from candidates.services import InvitationError, decision_record
from core import outbound
from core.audit import audit_record
from reports.models import STUCK_AFTER, ReferenceRun, WebhookDelivery, WebhookEndpoint
from reports.selectors.deliveries import decision_endpoints
from reports.tasks import deliver_webhook as deliver_webhook_task

log = logging.getLogger(__name__)

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
# A delivery stuck in "sending" this long after its claim lost its worker; it may be taken again.
SENDING_STALE_AFTER = timedelta(minutes=5)


# --- The reference solution's row ------------------------------------------------------------------


def reference_grade(
    *,
    exercise: Exercise,
    solution_dir: Path | None = None,
    grade_fn: Callable[[Path, Path], tuple[list[dict[str, Any]], dict[str, Any]]] | None = None,
) -> ReferenceRun:
    """Grade the exercise's ``reference/`` (or ``solution_dir``) in the sandbox and store it as the anchor.

    Run from the ``reference_grade`` command, never at import or page load: it runs every probe.
    The solution is copied to a scratch folder first, exactly as an upload would be unpacked.
    """
    grade_fn = grade_fn or grade_in_sandbox
    package = exercise_dir(exercise)
    source = Path(solution_dir) if solution_dir else package / "reference"
    if not source.is_dir():
        raise FileNotFoundError(f"{exercise} has no reference solution at {source}.")
    with tempfile.TemporaryDirectory(prefix="reference-") as scratch:
        work = Path(scratch) / "submission"
        shutil.copytree(source, work, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        results, isolation = grade_fn(work, package)
    stored = [
        {key: result[key] for key in ("probe_id", "failure_mode", "outcome", "score", "reason") if key in result}
        for result in results
    ]
    reference, _ = ReferenceRun.objects.update_or_create(
        exercise=exercise, defaults={"results": stored, "isolation": isolation, "graded_at": timezone.now()}
    )
    audit_record(actor=None, action="reference.graded", target=reference, data={"results": len(stored)})
    return reference


# --- Decisions, announced to the ATS ---------------------------------------------------------------


def decision_submit(*, invitation: Invitation, outcome: str, reason: str, actor: User) -> Decision:
    """Record the decision (audited by decision_record) and queue one signed webhook per endpoint of its owner.

    The deliveries are rows in the same transaction; their tasks are sent only on commit, so an
    ATS never hears of a decision that was rolled back.
    """
    with transaction.atomic():
        decision = decision_record(invitation=invitation, outcome=outcome, reason=reason, actor=actor)
        deliveries = webhook_deliveries_create(decision=decision)
    for delivery in deliveries:
        _enqueue_on_commit(delivery.pk)
    return decision


def _enqueue_on_commit(delivery_id: int) -> None:
    # Read now, in the process that made the decision, so every worker backs off the same way.
    base = settings.WEBHOOK_RETRY_BASE_S
    transaction.on_commit(lambda: deliver_webhook_task.delay(delivery_id, retry_base_s=base))


def decision_payload(*, decision: Decision, event_id: str) -> dict[str, Any]:
    invitation = decision.invitation
    candidate = invitation.candidate
    assessment = invitation.assessment
    return {
        "event": "decision.recorded",
        "event_id": event_id,
        "invitation_id": invitation.pk,
        "assessment": {"id": assessment.pk, "title": assessment.title},
        "candidate": {"name": candidate.name, "email": candidate.email, "pseudonym": invitation.pseudonym},
        "outcome": decision.outcome,
        "reason": decision.reason,
        "decided_at": decision.decided_at.isoformat(),
        "decided_by": decision.decided_by.get_username() if decision.decided_by else None,
    }


def webhook_deliveries_create(*, decision: Decision) -> list[WebhookDelivery]:
    """One delivery per active endpoint of the assessment's owner: no other team hears of it."""
    deliveries = []
    endpoints = list(decision_endpoints(assessment=decision.invitation.assessment))
    for endpoint in endpoints:
        delivery = WebhookDelivery(endpoint=endpoint, invitation=decision.invitation)
        delivery.body = json.dumps(
            decision_payload(decision=decision, event_id=str(delivery.event_id)), separators=(",", ":"), sort_keys=True
        )
        delivery.save()
        deliveries.append(delivery)
    return deliveries


# --- A manager's endpoints -------------------------------------------------------------------------


class EndpointError(Exception):
    """A change to an endpoint that cannot be made; the message is for the manager."""


def webhook_url_check(url: str) -> None:
    """Refuse, with a reason, a URL that deliveries would refuse (private address, not http(s)…)."""
    try:
        outbound.check_url(url, allowed_networks=settings.WEBHOOK_ALLOWED_NETWORKS)
    except outbound.Refused as exc:
        reason = str(exc)
        raise EndpointError(reason[:1].upper() + reason[1:] + ".") from None


def webhook_endpoint_create(*, owner: User, name: str, url: str, active: bool = True) -> WebhookEndpoint:
    """A new endpoint with a fresh secret; the caller shows ``endpoint.secret`` once and never again."""
    webhook_url_check(url)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            owner=owner, name=name, url=url, active=active, secret=webhook_secret_new()
        )
        audit_record(actor=owner, action="webhook.endpoint_created", target=endpoint, data={"url": url})
    return endpoint


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, actor: User, name: str, url: str, active: bool) -> None:
    if url != endpoint.url:
        webhook_url_check(url)
    changed = {
        field: value
        for field, value in {"name": name, "url": url, "active": active}.items()
        if getattr(endpoint, field) != value
    }
    if not changed:
        return
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(**changed)
        audit_record(actor=actor, action="webhook.endpoint_changed", target=endpoint, data=changed)
    for field, value in changed.items():
        setattr(endpoint, field, value)


def webhook_endpoint_new_secret(*, endpoint: WebhookEndpoint, actor: User) -> str:
    """Replace the secret (a leaked one, a lost one); deliveries from now on are signed with the new one."""
    secret = webhook_secret_new()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret=secret)
        audit_record(actor=actor, action="webhook.secret_replaced", target=endpoint, data={})
    endpoint.secret = secret
    return secret


def webhook_test_send(*, endpoint: WebhookEndpoint, actor: User) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for this endpoint (active or not): signed and logged like a decision."""
    delivery = WebhookDelivery(endpoint=endpoint, invitation=None, event=WebhookDelivery.TEST)
    delivery.body = json.dumps(
        {
            "event": WebhookDelivery.TEST,
            "event_id": str(delivery.event_id),
            "endpoint": endpoint.name,
            "sent_by": actor.get_username(),
            "sent_at": timezone.now().isoformat(),
        },
        separators=(",", ":"),
        sort_keys=True,
    )
    with transaction.atomic():
        delivery.save()
        audit_record(
            actor=actor, action="webhook.test_sent", target=endpoint, data={"event_id": str(delivery.event_id)}
        )
        _enqueue_on_commit(delivery.pk)
    return delivery


# --- One attempt at a delivery ---------------------------------------------------------------------


def webhook_secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def _secret_key(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    return secret.encode("utf-8")  # an endpoint made before secrets were generated here


def webhook_signature(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks ``webhook-signature`` value: the id and the timestamp are signed with the body."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()).decode("ascii")


def webhook_headers(*, secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "User-Agent": "failure-mode-takehomes-webhook/2",
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: webhook_signature(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body),
    }


@dataclass
class Attempt:
    """What one attempt did: ``retry`` says the task should try again later."""

    status: str
    retry: bool = False
    attempts: int = 0


def webhook_delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> Attempt:
    """Claim the delivery, POST it once, record what happened.

    The claim is a conditional update, so two copies of the task (a redelivered message, a
    retry racing a manual resend) cannot both send: only a pending row, or one whose sender went
    silent, is taken. A delivered row is never sent again.
    """
    now = now or timezone.now()
    claimable = WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.PENDING)
    stale = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.SENDING, claimed_at__lt=now - SENDING_STALE_AFTER
    )
    claimed = claimable.update(status=WebhookDelivery.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        claimed = stale.update(claimed_at=now, attempts=F("attempts") + 1)
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None:
        return Attempt(status="missing")
    if not claimed:
        return Attempt(status=delivery.status, attempts=delivery.attempts)
    code, error = _post(delivery)
    if code is not None and 200 <= code < 300:
        WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.SENDING).update(
            status=WebhookDelivery.DELIVERED,
            delivered_at=timezone.now(),
            last_status_code=code,
            last_error="",
            next_retry_at=None,
        )
        audit_record(
            actor=None,
            action="webhook.delivered",
            target=delivery.invitation or delivery.endpoint,
            data={
                "event_id": str(delivery.event_id),
                "endpoint": delivery.endpoint.name,
                "attempts": delivery.attempts,
            },
        )
        return Attempt(status=WebhookDelivery.DELIVERED, attempts=delivery.attempts)
    give_up = delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS
    WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.SENDING).update(
        status=WebhookDelivery.FAILED if give_up else WebhookDelivery.PENDING,
        last_status_code=code,
        last_error=error[:500],
    )
    log.warning("webhook delivery %s attempt %s failed: %s", delivery.pk, delivery.attempts, error[:200])
    return Attempt(
        status=WebhookDelivery.FAILED if give_up else WebhookDelivery.PENDING,
        retry=not give_up,
        attempts=delivery.attempts,
    )


def webhook_delivery_schedule(*, delivery_id: int, countdown: float) -> None:
    """Record when the next attempt is due, for the deliveries page."""
    WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.PENDING).update(
        next_retry_at=timezone.now() + timedelta(seconds=countdown)
    )


def webhook_delivery_retry(*, delivery: WebhookDelivery, actor: User) -> WebhookDelivery:
    """A manager's "Retry now" on a failed (or stuck pending) delivery: pending again, sent on commit."""
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().filter(pk=delivery.pk).first()
        if locked is None or not locked.can_retry:
            raise InvitationError("Only a failed delivery, or one stuck waiting, can be retried.")
        # Due now: the sweeper counts it lost only if this new message has not been taken in 10 minutes.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.PENDING, attempts=0, next_retry_at=timezone.now()
        )
        audit_record(
            actor=actor,
            action="webhook.retried",
            target=delivery.invitation or delivery.endpoint,
            data={"event_id": str(delivery.event_id)},
        )
        _enqueue_on_commit(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def webhook_deliveries_take_back_lost(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Deliveries whose message was lost, made due again; returns their ids for the sweeper to re-send.

    Two kinds: pending well past its due time (the message or its retry vanished with a broker
    restart) and sending with a claim far older than any attempt can take (the worker died
    mid-POST; that attempt counts as failed). Each row is touched by a conditional update, so a
    lost message costs one re-send per STUCK_AFTER, however often the sweep runs, and two sweepers
    never take the same row. The claim in ``webhook_delivery_attempt`` still guards the sending.
    """
    now = now or timezone.now()
    overdue = Q(status=WebhookDelivery.PENDING) & (
        Q(next_retry_at__lt=now - STUCK_AFTER) | Q(next_retry_at__isnull=True, created_at__lt=now - STUCK_AFTER)
    )
    silent = Q(status=WebhookDelivery.SENDING, claimed_at__lt=now - SENDING_STALE_AFTER)
    taken = []
    candidates = WebhookDelivery.objects.filter(overdue | silent).order_by("pk").values_list("pk", "status")[:limit]
    for pk, status in list(candidates):
        if status == WebhookDelivery.PENDING:
            changed = WebhookDelivery.objects.filter(Q(pk=pk) & overdue).update(next_retry_at=now)
        else:
            changed = WebhookDelivery.objects.filter(Q(pk=pk) & silent).update(
                status=WebhookDelivery.PENDING,
                next_retry_at=now,
                last_error="The worker sending this went silent; sent again.",
            )
        if changed:
            log.info("webhook delivery %s looked lost (%s); sending it again", pk, status)
            taken.append(pk)
    return taken


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    body = delivery.body.encode("utf-8")
    return outbound.post(
        delivery.endpoint.url,
        body=body,
        headers=webhook_headers(secret=delivery.endpoint.secret, msg_id=str(delivery.event_id), body=body),
        timeout=settings.WEBHOOK_TIMEOUT_S,
        allowed_networks=settings.WEBHOOK_ALLOWED_NETWORKS,
    )
