from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from core.views import LoginView

urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("reviews/", include("rubrics.urls")),
    path("reports/", include("reports.urls")),
    # The candidate portal: /t/<token>/ (the magic link) and /portal/<invitation>/…
    path("", include("candidates.urls")),
    path("", include("assessments.urls")),
]
