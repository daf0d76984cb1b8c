import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def move_content_type(apps, schema_editor):
    """Keep the audit trail's content type (and so its permission and group grants): rename its app."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    old = ContentType.objects.filter(app_label="assessments", model="auditevent").first()
    if old is None:
        return
    ContentType.objects.filter(app_label="core", model="auditevent").exclude(pk=old.pk).delete()
    old.app_label = "core"
    old.save(update_fields=["app_label"])


def move_content_type_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="core", model="auditevent").update(app_label="assessments")


class Migration(migrations.Migration):
    """The audit trail, moved here from the assessments app: state only, the table keeps its name."""

    initial = True

    dependencies = [
        ("assessments", "0005_auditevent_moves_to_core"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        (
                            "actor_label",
                            models.CharField(
                                help_text="Kept when the user is deleted; 'system' for workers.", max_length=200
                            ),
                        ),
                        ("action", models.CharField(max_length=80)),
                        ("target_type", models.CharField(max_length=80)),
                        ("target_id", models.CharField(max_length=40)),
                        ("data", models.JSONField(blank=True, default=dict)),
                        ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="audit_events",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-created_at", "-id"],
                        "db_table": "assessments_auditevent",
                        "indexes": [models.Index(fields=["target_type", "target_id"], name="audit_target")],
                    },
                )
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
