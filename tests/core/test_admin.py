"""The admin is for superusers only (#15, finding 1): no group and no is_staff flag opens it."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from candidates.models import Invitation
from candidates.services import invitation_start
from core.roles import MANAGERS, REVIEWERS, ensure_role_groups
from rubrics.services import review_assign
from tests.builders import make_zip
from workflows.uploads import submission_accept


@pytest.mark.parametrize("fixture", ["manager", "other_manager", "reviewer"])
def test_staff_flag_and_role_do_not_open_the_admin(client, request, fixture):
    user = request.getfixturevalue(fixture)
    user.is_staff = True  # what the README's word "staff" once invited an administrator to set
    user.save()
    client.force_login(user)
    for url in ["/admin/", "/admin/candidates/candidate/", "/admin/rubrics/review/", "/admin/assessments/assessment/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url


def test_no_group_grants_any_permission(db):
    ensure_role_groups()
    for group in Group.objects.all():
        assert list(group.permissions.all()) == [], group.name
    assert set(Group.objects.values_list("name", flat=True)) >= {MANAGERS, REVIEWERS}


def test_a_superuser_uses_the_admin(admin_client):
    assert admin_client.get("/admin/").status_code == 200
    assert admin_client.get("/admin/assessments/assessment/").status_code == 200


def test_the_admin_offers_no_add_around_the_workflows(admin_client, invitation, reviewer):
    invitation_start(invitation=invitation)
    submission = submission_accept(invitation=invitation, archive=make_zip({}))
    review = review_assign(submission=submission, reviewer=reviewer)
    for model in [
        "assessments/assessment",
        "assessments/gradingrun",
        "candidates/candidate",
        "candidates/invitation",
        "rubrics/review",
        "rubrics/disagreement",
    ]:
        assert admin_client.get(f"/admin/{model}/add/").status_code == 403, model
    page = admin_client.get(reverse("admin:assessments_assessment_change", args=[invitation.assessment_id]))
    form_fields = set(page.context["adminform"].form.fields)
    # What workflows own is shown, never editable: the version, the archive, the hiring bar, the timestamps.
    assert not form_fields & {"exercise", "archived_at", "created_at", "hiring_bar"}
    review_page = admin_client.get(reverse("admin:rubrics_review_change", args=[review.pk]))
    assert not set(review_page.context["adminform"].form.fields) & {"state", "reviewer", "submission"}


def test_a_submission_is_named_by_pseudonym_never_by_the_candidate(invitation):
    invitation_start(invitation=invitation)
    submission = submission_accept(invitation=invitation, archive=make_zip({}))
    assert invitation.candidate.name not in str(submission)
    assert Invitation.objects.get(pk=invitation.pk).pseudonym in str(submission)
