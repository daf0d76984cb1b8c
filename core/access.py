"""Access helpers for staff views. Candidates never log in; they use magic links."""

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, Protocol

from django.contrib.auth.models import AnonymousUser, User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase

from core.roles import is_manager, is_reviewer

type View[R: HttpRequest, **P] = Callable[Concatenate[R, P], HttpResponseBase]


class _ViewDecorator(Protocol):
    def __call__[R: HttpRequest, **P](self, view: View[R, P], /) -> View[R, P]: ...


def _role_required(check: Callable[[User | AnonymousUser], bool]) -> _ViewDecorator:
    def decorator[R: HttpRequest, **P](view: View[R, P]) -> View[R, P]:
        @wraps(view)
        def wrapped(request: R, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
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
