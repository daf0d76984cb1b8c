"""owned_assessment_or_404: a manager's own assessment, any for a superuser, 404 for anyone else's, in every app."""

import pytest
from django.contrib.auth.models import User
from django.http import Http404
from django.urls import reverse

from assessments.selectors import owned_assessment_or_404

# One manager page per app that opens an assessment by its id.
PAGES = ["assessments:detail", "reports:overview", "reports:comparison", "rubrics:manage", "rubrics:agreement"]


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", "root@example.com", "root-password")


def test_it_gives_the_owner_their_assessment(manager, assessment):
    assert owned_assessment_or_404(user=manager, pk=assessment.pk) == assessment


def test_it_refuses_another_managers_assessment_with_404(other_manager, assessment):
    with pytest.raises(Http404):
        owned_assessment_or_404(user=other_manager, pk=assessment.pk)


def test_it_gives_a_superuser_any_assessment(superuser, assessment):
    assert owned_assessment_or_404(user=superuser, pk=assessment.pk) == assessment


def test_it_answers_404_for_an_assessment_that_does_not_exist(manager):
    with pytest.raises(Http404):
        owned_assessment_or_404(user=manager, pk=999_999)


@pytest.mark.parametrize("name", PAGES)
def test_every_app_hides_another_managers_assessment(client, other_manager, assessment, name):
    client.force_login(other_manager)
    assert client.get(reverse(name, args=[assessment.pk])).status_code == 404


@pytest.mark.parametrize("name", PAGES)
def test_every_app_opens_any_assessment_for_a_superuser(client, superuser, assessment, name):
    client.force_login(superuser)
    assert client.get(reverse(name, args=[assessment.pk])).status_code == 200
