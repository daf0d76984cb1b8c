from django.urls import path

from rubrics import views

app_name = "rubrics"

urlpatterns = [
    path("", views.queue, name="queue"),
]
