from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("reviews/", include("rubrics.urls")),
    path("reports/", include("reports.urls")),
    # The candidate portal: /t/<token>/ (the magic link) and /portal/<invitation>/…
    path("", include("candidates.urls")),
    path("", include("assessments.urls")),
]
