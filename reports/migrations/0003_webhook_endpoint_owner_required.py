# The owner becomes required in a migration of its own: PostgreSQL refuses to ALTER a table with
# deferred foreign-key checks pending from the data step, which runs in 0002's transaction.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0002_webhook_endpoints_owned"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhookendpoint",
            name="owner",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="webhook_endpoints", to=settings.AUTH_USER_MODEL),
        ),
    ]
