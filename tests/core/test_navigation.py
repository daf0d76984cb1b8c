"""The staff navigation marks the tab of the section a page's URL is in, and only that one."""

import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from core.roles import REVIEWERS
from rubrics.services import review_assign
from tests.builders import graded_submission

NAV = re.compile(r'<nav class="nav" aria-label="Main">(.*?)</nav>', re.S)
CURRENT = re.compile(r'<a [^>]*aria-current="page"[^>]*>([^<]+)</a>')


@pytest.fixture
def manager_who_reviews(manager):
    """Sees every tab: Dashboard, Assessments, Reports, Reviews and My reviews."""
    manager.groups.add(Group.objects.get(name=REVIEWERS))
    return manager


def _marked_tabs(client, url) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200, url
    return CURRENT.findall(NAV.search(response.content.decode()).group(1))


@pytest.mark.parametrize(
    ("name", "args", "tab"),
    [
        ("assessments:dashboard", [], "Dashboard"),
        ("assessments:list", [], "Assessments"),
        ("assessments:detail", ["assessment"], "Assessments"),
        ("assessments:feedback", ["assessment", "invitation"], "Assessments"),
        ("reports:index", [], "Reports"),
        ("reports:overview", ["assessment"], "Reports"),
        ("reports:comparison", ["assessment"], "Reports"),
        ("reports:scorecard", ["assessment", "invitation"], "Reports"),
        ("rubrics:manage_index", [], "Reviews"),
        ("rubrics:manage", ["assessment"], "Reviews"),
        ("rubrics:disagreements", [], "Reviews"),
        ("rubrics:queue", [], "My reviews"),
    ],
)
def test_it_marks_the_tab_of_the_pages_section(client, manager_who_reviews, invitation, name, args, tab):
    objects = {"assessment": invitation.assessment.pk, "invitation": invitation.pk}
    client.force_login(manager_who_reviews)
    assert _marked_tabs(client, reverse(name, args=[objects[a] for a in args])) == [tab]


def test_it_marks_my_reviews_on_a_review_page(client, reviewer, assessment):
    review = review_assign(submission=graded_submission(assessment), reviewer=reviewer)
    client.force_login(reviewer)
    assert _marked_tabs(client, reverse("rubrics:review", args=[review.pk])) == ["My reviews"]


def test_it_marks_no_tab_on_a_page_outside_the_sections(client, manager):
    client.force_login(manager)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert CURRENT.findall(NAV.search(response.content.decode()).group(1)) == []
