"""The role groups lose their model permissions: the admin is for superusers only now.

Managers and reviewers work in the app, whose views decide by group and by owner. The permissions
0003 gave the groups only ever opened the admin, which ignores owners and blind review.
"""

from django.db import migrations


def clear_role_permissions(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=["managers", "reviewers"]):
        group.permissions.clear()


class Migration(migrations.Migration):
    dependencies = [
        ("assessments", "0012_assessment_reviewers_and_retention"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(clear_role_permissions, migrations.RunPython.noop)]
