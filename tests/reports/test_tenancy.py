"""A second hiring team sees and changes nothing of the first, on every staff page and action.

The URL list is not written by hand: every named route of the staff apps is taken from the URL
configuration and filled with the first manager's objects, so a page added later is covered the
day it is added (a route this test cannot fill fails it, rather than being skipped).
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from assessments.models import Regrade
from candidates.models import Invitation
from reports.models import WebhookDelivery, WebhookEndpoint
from rubrics.models import Disagreement, Review
from tests.reports.conftest import result

STAFF_NAMESPACES = ("assessments", "reports", "rubrics")
PRIVATE = ("Dana Tenant", "dana.tenant@example.com", "Applied AI engineer, autumn", "Tenant ATS", "hidden-reason")


def _routes() -> list[tuple[str, list[str]]]:
    routes = []
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and entry.namespace in STAFF_NAMESPACES:
            for pattern in entry.url_patterns:
                assert isinstance(pattern, URLPattern)
                routes.append((f"{entry.namespace}:{pattern.name}", list(pattern.pattern.converters)))
    return routes


@pytest.fixture
def first_team(build, manager, reviewer, settings):
    """Everything one manager owns, one of each kind a URL can name."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    invitation = build("Dana Tenant", Invitation.REVIEWED, results=[result("p1", "retries", "pass")])
    Invitation.objects.filter(pk=invitation.pk).update(state=Invitation.REVIEWED)
    invitation.candidate.__class__.objects.filter(pk=invitation.candidate_id).update(email="dana.tenant@example.com")
    submission = invitation.submissions.get()
    run = submission.grading_runs.get()
    review = Review.objects.filter(submission=submission, reviewer=reviewer).get()
    criterion = invitation.assessment.rubric.criteria.first()
    endpoint = WebhookEndpoint.objects.create(
        owner=manager, name="Tenant ATS", url="http://127.0.0.1:9/hook", secret="whsec_AAAA"
    )
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, invitation=invitation, body='{"reason": "hidden-reason"}', status=WebhookDelivery.FAILED
    )
    regrade = Regrade.objects.create(
        assessment=invitation.assessment,
        exercise=invitation.assessment.exercise,
        from_exercise=invitation.assessment.exercise,
        started_by=manager,
    )
    disagreement = Disagreement.objects.create(submission=submission, criterion=criterion, low=0, high=3)
    return {
        "pk": invitation.assessment_id,
        "assessment_id": invitation.assessment_id,
        "invitation_pk": invitation.pk,
        "run_pk": run.pk,
        "delivery_pk": delivery.pk,
        "regrade_pk": regrade.pk,
        "review_id": review.pk,
        "criterion_id": criterion.pk,
        "submission_id": submission.pk,
        "disagreement_id": disagreement.pk,
        "_endpoint": endpoint,
    }


def _kwargs(name: str, params: list[str], team: dict) -> dict:
    kwargs = {param: team[param] for param in params}
    if name.startswith("reports:webhook") and "pk" in kwargs:
        kwargs["pk"] = team["_endpoint"].pk  # the webhook pages' pk is the endpoint's
    return kwargs


def test_every_staff_route_is_checked():
    names = {name for name, _ in _routes()}
    # The pages this issue added are among them: a renamed route must not slip out of the check.
    assert {
        "assessments:new",
        "assessments:edit",
        "assessments:archive",
        "reports:webhooks",
        "reports:webhook",
    } <= names
    assert len(names) > 40


def test_a_second_manager_gets_nothing_of_the_first_on_any_route(client, first_team, other_manager):
    client.force_login(other_manager)
    checked = 0
    for name, params in _routes():
        url = reverse(name, kwargs=_kwargs(name, params, first_team))
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            body = response.content.decode(errors="replace")
            if params:
                # Another team's object: not found (or the role's 403, or a GET on a POST-only action).
                assert response.status_code in (403, 404, 405), f"{method.upper()} {url}: {response.status_code}"
            else:
                # Their own lists: reachable, with nothing of the first team in them.
                assert response.status_code in (200, 302, 400, 403, 405), f"{method.upper()} {url}"
            leaked = [text for text in PRIVATE if text in body]
            assert not leaked, f"{method.upper()} {url} shows {leaked}"
            checked += 1
    assert checked > 80
    # And nothing changed: no decision, no archive, no retry, no new secret, no test event.
    endpoint = first_team["_endpoint"]
    endpoint.refresh_from_db()
    assert endpoint.secret == "whsec_AAAA"
    assert WebhookDelivery.objects.count() == 1 and WebhookDelivery.objects.get().status == WebhookDelivery.FAILED
    assert not Invitation.objects.filter(decision__isnull=False).exists()
    assert Invitation.objects.get(pk=first_team["invitation_pk"]).assessment.archived_at is None


def test_the_dashboard_counts_only_the_managers_own_gradings(client, first_team, manager, other_manager):
    client.force_login(other_manager)
    assert client.get(reverse("assessments:dashboard")).context["grading"]["done"] == 0
    client.force_login(manager)
    assert client.get(reverse("assessments:dashboard")).context["grading"]["done"] == 1
