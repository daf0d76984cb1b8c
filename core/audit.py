"""Writing the audit trail. Append-only: services write it, nothing edits it."""

from typing import Any

from django.contrib.auth.models import User
from django.db import models

from core.models import AuditEvent

SYSTEM = "system"


def audit_record(
    *, actor: User | str | None, action: str, target: models.Model | None, data: dict[str, Any] | None = None
) -> AuditEvent:
    """``target`` None: the event is about no row (a sign-in lock on a name that is no account's)."""
    if actor is None or isinstance(actor, str):
        label, user = actor or SYSTEM, None
    else:
        label, user = actor.get_username(), actor
    return AuditEvent.objects.create(
        actor=user,
        actor_label=label,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        data=data or {},
    )
