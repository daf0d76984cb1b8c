from django.urls import path

from assessments import views

app_name = "assessments"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("assessments/", views.assessment_list, name="list"),
    path("assessments/new/", views.assessment_new, name="new"),
    path("assessments/<int:pk>/", views.assessment_detail, name="detail"),
    path("assessments/<int:pk>/edit/", views.assessment_edit, name="edit"),
    path("assessments/<int:pk>/archive/", views.assessment_archive_view, name="archive"),
    path("assessments/<int:pk>/invite/", views.invite, name="invite"),
    path("assessments/<int:pk>/invite/csv/", views.invite_csv, name="invite_csv"),
    path("assessments/<int:pk>/invitations/<int:invitation_pk>/resend/", views.invitation_resend, name="resend"),
    path("assessments/<int:pk>/invitations/<int:invitation_pk>/erase/", views.invitation_erase, name="erase"),
    path("assessments/<int:pk>/invitations/<int:invitation_pk>/feedback/", views.invitation_feedback, name="feedback"),
    path("assessments/<int:pk>/runs/<int:run_pk>/regrade/", views.grading_run_regrade, name="regrade"),
]
