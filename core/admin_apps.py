"""django.contrib.admin with core.admin_site's site: superusers only.

Apart from the site because INSTALLED_APPS imports this module before the models exist (the site's
login form needs them), and apart from core/apps.py so that module keeps one AppConfig.
"""

from django.contrib.admin.apps import AdminConfig


class SuperuserAdminConfig(AdminConfig):
    default_site = "core.admin_site.SuperuserAdminSite"
