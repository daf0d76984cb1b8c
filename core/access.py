"""Access helpers for staff views. Candidates never log in; they use magic links."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from core.roles import is_manager, is_reviewer


def _role_required(check):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


manager_required = _role_required(is_manager)
reviewer_required = _role_required(is_reviewer)
staff_required = _role_required(lambda user: is_manager(user) or is_reviewer(user))
