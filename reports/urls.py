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
    path("assessments/<int:pk>/known-solutions/", views.known_solutions, name="known_solutions"),
    path("assessments/<int:pk>/deliveries/", views.deliveries, name="deliveries"),
    path("assessments/<int:pk>/deliveries/<int:delivery_pk>/retry/", views.delivery_retry, name="delivery_retry"),
    path("uploads/<int:submission_id>/debrief/", views.debrief, name="debrief"),
    path("uploads/<int:submission_id>/debrief/draft/", views.debrief_draft, name="debrief_draft"),
    path("webhooks/", views.webhooks, name="webhooks"),
    path("webhooks/<int:pk>/", views.webhook, name="webhook"),
    path("webhooks/<int:pk>/test/", views.webhook_test, name="webhook_test"),
    path("webhooks/<int:pk>/secret/", views.webhook_secret, name="webhook_secret"),
    path(
        "webhooks/<int:pk>/deliveries/<int:delivery_pk>/retry/", views.webhook_delivery_retry_view, name="webhook_retry"
    ),
    path("assessments/<int:pk>/versions/", views.versions, name="versions"),
    path("assessments/<int:pk>/versions/hiring-bar/", views.hiring_bar, name="hiring_bar"),
    path("assessments/<int:pk>/regrades/start/", views.regrade_start, name="regrade_start"),
    path("assessments/<int:pk>/regrades/<int:regrade_pk>/", views.regrade, name="regrade"),
    path("assessments/<int:pk>/regrades/<int:regrade_pk>/preview.csv", views.regrade_csv, name="regrade_csv"),
    path("assessments/<int:pk>/regrades/<int:regrade_pk>/make-live/", views.regrade_make_live, name="regrade_live"),
    path("assessments/<int:pk>/regrades/<int:regrade_pk>/discard/", views.regrade_discard, name="regrade_discard"),
    path("assessments/<int:pk>/regrades/<int:regrade_pk>/rerun/", views.regrade_rerun, name="regrade_rerun"),
    path("assessments/<int:pk>/regrades/<int:regrade_pk>/retry/", views.regrade_retry, name="regrade_retry"),
]
