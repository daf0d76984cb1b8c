"""The two staff roles. Candidates have no account: they hold a magic link."""

from django.contrib.auth.models import AnonymousUser, Group, User

MANAGERS = "managers"
REVIEWERS = "reviewers"

# The roles are groups without model permissions: the app's own views decide by group (and by
# ownership, per object), and the admin is for superusers only (core.admin_site). A permission
# given to a group would mean nothing in the app and could only widen what the admin shows.
ROLE_GROUPS = (MANAGERS, REVIEWERS)


def ensure_role_groups() -> None:
    """Make the role groups, and take away any model permission someone gave them by hand."""
    for group_name in ROLE_GROUPS:
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.clear()


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
