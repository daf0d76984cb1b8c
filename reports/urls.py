from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.index, name="index"),
    path("assessments/<int:pk>/", views.overview, name="overview"),
    path("assessments/<int:pk>/comparison/", views.comparison, name="comparison"),
    path("assessments/<int:pk>/comparison.csv", views.comparison_csv, name="comparison_csv"),
    path("assessments/<int:pk>/candidates/<int:invitation_pk>/", views.scorecard, name="scorecard"),
    path(
        "assessments/<int:pk>/candidates/<int:invitation_pk>/scorecard.pdf", views.scorecard_pdf, name="scorecard_pdf"
    ),
    path("assessments/<int:pk>/candidates/<int:invitation_pk>/decide/", views.decide, name="decide"),
    path("assessments/<int:pk>/deliveries/", views.deliveries, name="deliveries"),
    path("assessments/<int:pk>/deliveries/<int:delivery_pk>/retry/", views.delivery_retry, name="delivery_retry"),
]
