"""The staff sign-in forms: Django's, with failed attempts throttled (core.login_throttle)."""

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_variables

from core.clients import client_address
from core.login_throttle import (
    ACCOUNT,
    LoginLock,
    login_attempt_begin,
    login_attempt_failed,
    login_attempt_succeeded,
)

THROTTLED = "throttled"


def _lock_message(lock: LoginLock) -> str:
    who = "for this username" if lock.scope == ACCOUNT else "from your network"
    wait = ngettext("%(n)d minute", "%(n)d minutes", lock.minutes_left) % {"n": lock.minutes_left}
    return f"Too many failed sign-ins {who}. For your security, sign-in is paused: try again in {wait}."


class LoginForm(AuthenticationForm):
    lock: LoginLock | None = None

    @sensitive_variables()
    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return self.cleaned_data
        client = client_address(self.request) if self.request is not None else ""
        self.lock = login_attempt_begin(username=username, client=client)
        if self.lock is not None:
            # Refused before the password is hashed: a locked attempt costs no CPU and tells nothing.
            raise forms.ValidationError(_lock_message(self.lock), code=THROTTLED)
        self.user_cache = authenticate(self.request, username=username, password=password)
        if self.user_cache is None:
            login_attempt_failed(username=username, client=client)
            raise self.get_invalid_login_error()
        login_attempt_succeeded(username=username, client=client)
        self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class AdminLoginForm(LoginForm, AdminAuthenticationForm):
    """The admin's sign-in counts against the same limits: it is the same password."""
