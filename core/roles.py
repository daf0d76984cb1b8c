"""The two staff roles. Candidates have no account: they hold a magic link."""

from django.contrib.auth.models import AnonymousUser, Group, Permission, User

MANAGERS = "managers"
REVIEWERS = "reviewers"

# app_label -> model -> actions. Managers run openings and decide; reviewers score.
ROLE_PERMISSIONS = {
    MANAGERS: {
        "assessments": {
            "exercise": ["view"],
            "assessment": ["add", "change", "view"],
            "gradingrun": ["view"],
            "proberesult": ["view"],
        },
        "core": {"auditevent": ["view"]},
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
    REVIEWERS: {
        "rubrics": {
            "review": ["view"],
            "criterionscore": ["add", "change", "view"],
        },
    },
}


def ensure_role_groups() -> None:
    for group_name, apps in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        wanted = []
        for app_label, models in apps.items():
            for model, actions in models.items():
                codenames = [f"{action}_{model}" for action in actions]
                found = list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
                if len(found) != len(codenames):
                    missing = set(codenames) - {p.codename for p in found}
                    raise RuntimeError(f"Permissions missing for {app_label}: {sorted(missing)}; migrate first.")
                wanted.extend(found)
        group.permissions.set(wanted)


def is_manager(user: User | AnonymousUser) -> bool:
    return user.is_authenticated and (user.is_superuser or _in_group(user, MANAGERS))


def is_reviewer(user: User | AnonymousUser) -> bool:
    return user.is_authenticated and _in_group(user, REVIEWERS)


def _in_group(user: User | AnonymousUser, name: str) -> bool:
    # Cached on the user object: the nav asks on every page.
    cache: set[str] | None = getattr(user, "_role_cache", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        # Not a field of User, so the type checker knows no such attribute: set it by name.
        setattr(user, "_role_cache", cache)  # noqa: B010
    return name in cache
