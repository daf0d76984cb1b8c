from django.urls import path

from assessments import views

app_name = "assessments"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("assessments/", views.assessment_list, name="list"),
    path("assessments/<int:pk>/", views.assessment_detail, name="detail"),
]
