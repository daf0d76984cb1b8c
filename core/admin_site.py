"""The admin, for superusers only.

Staff work in the app, whose every view checks the role and the owner. The admin can do neither
(it knows model permissions, not tenants or blind review), so no group, and no ``is_staff`` flag on
its own, opens it: a manager given ``is_staff`` still gets the login page.
"""

from django.contrib import admin
from django.http import HttpRequest

from core.forms import AdminLoginForm


class SuperuserAdminSite(admin.AdminSite):
    site_header = "Failure-mode take-homes: administration"
    site_title = "Take-homes admin"
    # The admin's own sign-in counts failures against the same limits as the staff one.
    login_form = AdminLoginForm

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_superuser)
