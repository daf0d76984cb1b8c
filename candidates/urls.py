from django.urls import path

from candidates import views

app_name = "candidates"

urlpatterns = [
    path("t/<str:token>/", views.magic_link, name="magic_link"),
    path("portal/<int:pk>/", views.welcome, name="welcome"),
    path("portal/<int:pk>/brief/", views.brief, name="brief"),
    path("portal/<int:pk>/start/", views.start, name="start"),
    path("portal/<int:pk>/starter-kit/", views.starter_kit, name="starter_kit"),
    path("portal/<int:pk>/upload/", views.upload, name="upload"),
    path("portal/<int:pk>/status/", views.status, name="status"),
]
