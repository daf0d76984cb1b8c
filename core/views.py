"""Staff sign-in: Django's LoginView with the throttled form, answering 429 while locked."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpResponse

from core.forms import THROTTLED, LoginForm


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        lock = getattr(form, "lock", None)
        if form.has_error("__all__", THROTTLED) and lock is not None:
            response.status_code = 429
            response["Retry-After"] = str(lock.seconds_left)
        return response
