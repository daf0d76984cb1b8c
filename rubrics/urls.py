from django.urls import path

from rubrics import views

app_name = "rubrics"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("<int:review_id>/", views.review_detail, name="review"),
    path("<int:review_id>/file/", views.review_file, name="review_file"),
    path("<int:review_id>/scores/", views.review_scores, name="scores"),
    path("<int:review_id>/scores/<int:criterion_id>/", views.review_score, name="score"),
    path("<int:review_id>/verdict/", views.review_verdict, name="verdict"),
    path("<int:review_id>/submit/", views.review_submit_view, name="submit"),
    path("<int:review_id>/reassign/", views.review_reassign_view, name="reassign"),
    path("manage/", views.manage_index, name="manage_index"),
    path("manage/<int:assessment_id>/", views.manage, name="manage"),
    path("manage/<int:assessment_id>/agreement/", views.agreement, name="agreement"),
    path("submissions/<int:submission_id>/assign/", views.submission_assign, name="assign"),
    path("submissions/<int:submission_id>/gold/", views.gold, name="gold"),
    path("disagreements/", views.disagreements, name="disagreements"),
    path("disagreements/<int:disagreement_id>/resolve/", views.disagreement_resolve_view, name="resolve"),
]
