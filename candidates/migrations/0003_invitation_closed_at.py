from django.db import migrations, models


def closed_at_from_history(apps, schema_editor):
    """Ended invitations get the time they ended: the decision, else the audited expiry or withdrawal."""
    Invitation = apps.get_model("candidates", "Invitation")
    Decision = apps.get_model("candidates", "Decision")
    AuditEvent = apps.get_model("assessments", "AuditEvent")
    for decision in Decision.objects.all().only("invitation_id", "decided_at"):
        Invitation.objects.filter(pk=decision.invitation_id).update(closed_at=decision.decided_at)
    ended = Invitation.objects.filter(state__in=["expired", "withdrawn"], closed_at__isnull=True)
    for invitation in ended.only("pk", "state", "created_at"):
        event = (
            AuditEvent.objects.filter(
                target_type="candidates.invitation",
                target_id=str(invitation.pk),
                action=f"invitation.{invitation.state}",
            )
            .order_by("-created_at")
            .first()
        )
        Invitation.objects.filter(pk=invitation.pk).update(
            closed_at=event.created_at if event else invitation.created_at
        )


class Migration(migrations.Migration):
    dependencies = [
        ("candidates", "0002_invitation_feedback_released_at"),
        ("assessments", "0003_role_groups"),
    ]

    operations = [
        migrations.AddField(
            model_name="invitation",
            name="closed_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When it ended: the (latest) decision, the expiry or the withdrawal. "
                "Retention counts from here.",
                null=True,
            ),
        ),
        migrations.RunPython(closed_at_from_history, migrations.RunPython.noop),
    ]
