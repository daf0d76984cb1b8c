from django.db import migrations


class Migration(migrations.Migration):
    """The audit trail moves to the core app; its table stays where it is (core names it)."""

    dependencies = [("assessments", "0004_gradingrun_superseded")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditEvent")],
            database_operations=[],
        )
    ]
