"""Recording a decision: the ATS is named only when one is told, and open disagreements ask to confirm."""

from django.contrib.messages import get_messages
from django.urls import reverse

from candidates.models import Decision, Invitation
from reports.models import WebhookDelivery, WebhookEndpoint
from rubrics.models import Disagreement
from rubrics.services import disagreement_resolve
from tests.reports.conftest import login, result

AGREED = dict(
    results=[result("g1", "grounding", "pass")],
    levels={"bob": {"grounding": 2, "notes": 2}, "carol": {"grounding": 3, "notes": 2}},
)
# Two levels apart on both criteria: two flags.
SPLIT = dict(
    results=[result("g1", "grounding", "pass")],
    levels={"bob": {"grounding": 0, "notes": 1}, "carol": {"grounding": 2, "notes": 3}},
)


def _decide(client, assessment, invitation, **extra):
    data = {"outcome": "reject", "reason": "No retries anywhere."} | extra
    return client.post(reverse("reports:decide", args=[assessment.pk, invitation.pk]), data)


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_without_an_active_endpoint_the_decision_says_nothing_of_an_ats(client, manager, assessment, build):
    ada = build("Ada Reviewed", Invitation.REVIEWED, **AGREED)
    WebhookEndpoint.objects.create(
        owner=manager, name="Paused ATS", url="http://127.0.0.1:9/h", secret="x", active=False
    )
    login(client, manager)
    scorecard = client.get(reverse("reports:scorecard", args=[assessment.pk, ada.pk])).content.decode()
    assert "No webhook endpoint is set up, so no ATS hears of decisions." in scorecard
    assert f'<a href="{reverse("reports:webhooks")}">Add one under Webhooks</a>' in scorecard
    assert "Sent with the decision" not in scorecard

    response = _decide(client, assessment, ada)
    assert response.status_code == 302
    assert _messages(response) == ["Decision recorded: Reject."]
    assert not WebhookDelivery.objects.exists()


def test_with_an_active_endpoint_the_decision_names_it(client, manager, other_manager, assessment, build):
    ada = build("Ada Reviewed", Invitation.REVIEWED, **AGREED)
    WebhookEndpoint.objects.create(owner=manager, name="Greenhouse", url="http://127.0.0.1:9/h", secret="x")
    WebhookEndpoint.objects.create(owner=other_manager, name="Theirs", url="http://127.0.0.1:9/t", secret="x")
    login(client, manager)
    scorecard = client.get(reverse("reports:scorecard", args=[assessment.pk, ada.pk])).content.decode()
    assert "Sent with the decision to Greenhouse." in scorecard and "No webhook endpoint" not in scorecard
    response = _decide(client, assessment, ada)
    assert _messages(response) == ["Decision recorded: Reject. On its way to Greenhouse: see “Sent to the ATS” below."]
    assert WebhookDelivery.objects.get().endpoint.name == "Greenhouse"


def test_open_disagreements_stop_a_decision_until_confirmed(client, manager, assessment, build):
    ada = build("Ada Reviewed", Invitation.REVIEWED, **SPLIT)
    login(client, manager)
    scorecard = client.get(reverse("reports:scorecard", args=[assessment.pk, ada.pk])).content.decode()
    assert "2 disagreements still open on this upload." in scorecard
    assert (
        "Grounding: reviewers gave 0 and 2" in scorecard and "Failure-mode notes: reviewers gave 1 and 3" in scorecard
    )
    grounding = Disagreement.objects.get(criterion__slug="grounding")
    assert f"?assessment={assessment.pk}#disagreement-{grounding.pk}" in scorecard
    assert 'name="decide_anyway"' in scorecard

    response = _decide(client, assessment, ada)
    page = response.content.decode()
    assert response.status_code == 400 and not Decision.objects.exists()
    assert "2 disagreements on this upload are still open: resolve them first, or tick “Decide anyway”" in page
    ada.refresh_from_db()
    assert ada.state == Invitation.REVIEWED

    response = _decide(client, assessment, ada, decide_anyway="on")
    assert response.status_code == 302 and Decision.objects.get().outcome == "reject"


def test_resolved_disagreements_need_no_confirmation(client, manager, assessment, build):
    ada = build("Ada Reviewed", Invitation.REVIEWED, **SPLIT)
    for disagreement in Disagreement.objects.all():
        disagreement_resolve(disagreement=disagreement, level=1, note="Anchors read again.", actor=manager)
    login(client, manager)
    scorecard = client.get(reverse("reports:scorecard", args=[assessment.pk, ada.pk])).content.decode()
    assert "still open" not in scorecard and 'name="decide_anyway"' not in scorecard
    assert _decide(client, assessment, ada).status_code == 302 and Decision.objects.exists()


def test_a_disagreement_flagged_after_the_page_was_drawn_stops_the_decision_too(client, manager, assessment, build):
    ada = build("Ada Reviewed", Invitation.REVIEWED, **AGREED)
    login(client, manager)
    assert (
        'name="decide_anyway"'
        not in client.get(reverse("reports:scorecard", args=[assessment.pk, ada.pk])).content.decode()
    )
    Disagreement.objects.create(
        submission=ada.submissions.get(), criterion=assessment.rubric.criteria.get(slug="notes"), low=0, high=3
    )
    response = _decide(client, assessment, ada)
    assert response.status_code == 400 and "1 disagreement on this upload is still open" in response.content.decode()
    assert not Decision.objects.exists()
