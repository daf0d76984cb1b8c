from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

# The role permissions as they stood when this migration was written (a migration must not import
# live code that later changes; core/migrations/0001 moves the audit trail's permission to core).
ROLE_PERMISSIONS = {
    "managers": {
        "assessments": {
            "exercise": ["view"],
            "assessment": ["add", "change", "view"],
            "gradingrun": ["view"],
            "proberesult": ["view"],
            "auditevent": ["view"],
        },
        "candidates": {
            "candidate": ["add", "change", "delete", "view"],
            "invitation": ["add", "change", "view"],
            "submission": ["view"],
            "decision": ["add", "change", "view"],
        },
        "rubrics": {
            "rubric": ["view"],
            "criterion": ["view"],
            "review": ["add", "change", "view"],
            "criterionscore": ["view"],
        },
    },
    "reviewers": {
        "rubrics": {
            "review": ["view"],
            "criterionscore": ["add", "change", "view"],
        },
    },
}


def create_role_groups(apps, schema_editor):
    # Permissions are normally created after all migrations ran (post_migrate); the groups
    # need them now, so create them first.
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, app_models in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for app_label, models in app_models.items():
            for model, actions in models.items():
                codenames = [f"{action}_{model}" for action in actions]
                group.permissions.add(
                    *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
                )


class Migration(migrations.Migration):
    dependencies = [
        ("assessments", "0002_initial"),
        ("candidates", "0001_initial"),
        ("rubrics", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
