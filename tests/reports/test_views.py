import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from candidates.models import Decision, Invitation
from core.models import AuditEvent
from reports.models import ReferenceRun, WebhookDelivery, WebhookEndpoint
from tests.reports.conftest import Builder, login, result

REVIEWED = dict(
    results=[result("g1", "grounding", "pass"), result("g2", "grounding", "fail"), result("i1", "input", "error")],
    levels={"bob": {"grounding": 3, "notes": 1}, "carol": {"grounding": 2, "notes": 2}},
)


def _urls(assessment, invitation, delivery_pk=1):
    a, i = assessment.pk, invitation.pk
    return {
        "get": [
            reverse("reports:index"),
            reverse("reports:overview", args=[a]),
            reverse("reports:comparison", args=[a]),
            reverse("reports:comparison_csv", args=[a]),
            reverse("reports:scorecard", args=[a, i]),
            reverse("reports:scorecard_pdf", args=[a, i]),
            reverse("reports:deliveries", args=[a]),
        ],
        "post": [reverse("reports:decide", args=[a, i]), reverse("reports:delivery_retry", args=[a, delivery_pk])],
    }


def test_it_refuses_every_report_to_reviewers_and_outsiders(client, invitation, reviewer, outsider):
    urls = _urls(invitation.assessment, invitation)
    for user in (reviewer, outsider):
        login(client, user)
        for url in urls["get"]:
            assert client.get(url).status_code == 403, url
        for url in urls["post"]:
            assert client.post(url, {"outcome": "advance", "reason": "x"}).status_code == 403, url


def test_it_sends_anonymous_visitors_to_the_login(client, invitation):
    for url in _urls(invitation.assessment, invitation)["get"]:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_it_hides_another_managers_assessment(client, invitation, other_manager):
    login(client, other_manager)
    urls = _urls(invitation.assessment, invitation)
    for url in urls["get"][1:]:
        assert client.get(url).status_code == 404, url
    for url in urls["post"]:
        assert client.post(url, {"outcome": "advance", "reason": "x"}).status_code == 404, url
    assert invitation.assessment.title not in client.get(reverse("reports:index")).content.decode()


def test_it_shows_the_overview_with_svg_charts(client, manager, assessment, build):
    build("Ada Reviewed", Invitation.REVIEWED, **REVIEWED)
    build("Bo Invited")
    login(client, manager)
    html = client.get(reverse("reports:overview", args=[assessment.pk])).content.decode()
    assert html.count("<svg") == 3
    assert 'data-figure="completion">100%<' in html
    assert 'data-figure="infra-errors">1<' in html
    assert '<tr data-mode="grounding">' in html and 'data-col="rate">50%<' in html
    assert "cdn" not in html.lower()


def test_it_shows_the_comparison_with_the_reference_anchor(client, manager, assessment, build):
    ada = build("Ada Reviewed", Invitation.REVIEWED, **REVIEWED)
    login(client, manager)
    url = reverse("reports:comparison", args=[assessment.pk])
    assert "Not graded yet" in client.get(url).content.decode()
    ReferenceRun.objects.create(exercise=assessment.exercise, results=[result("g1", "grounding", "pass")])
    html = client.get(url, {"sort": "grounding", "dir": "desc", "state": "reviewed", "min_pass": "10"}).content.decode()
    assert 'data-row="reference"' in html and f'data-invitation="{ada.pk}"' in html
    assert 'aria-sort="descending"' in html
    assert "1 of 1 candidate shown" in html
    assert "No candidate matches" in client.get(url, {"min_pass": "90"}).content.decode()
    fragment = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<div id="heatmap">')


def test_it_exports_the_comparison_as_csv_with_numbers_a_spreadsheet_can_sum(client, manager, assessment, build):
    ada = build("Ada Reviewed", Invitation.REVIEWED, **REVIEWED)
    build("=HYPERLINK(1)", Invitation.STARTED)
    login(client, manager)
    response = client.get(reverse("reports:comparison_csv", args=[assessment.pk]))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    line = rows[0]
    assert (line["group"], line["candidate"], line["state"]) == ("with_results", "Ada Reviewed", "reviewed")
    assert line["probe_pass_rate"] == "0.5" and line["grounding_pass_rate"] == "0.5" and line["input_pass_rate"] == ""
    assert (line["probes_passed"], line["probes_failed"], line["infra_errors"]) == ("1", "1", "1")
    # Mean levels per failure mode and per criterion, and the weighted total, as numbers.
    assert line["grounding_rubric"] == "2.5" and line["criterion_notes_level"] == "1.5"
    assert line["rubric_total"] == "6.5" and line["rubric_max"] == "9"
    assert line["time_spent_seconds"] == "1800" and line["time_spent"] == "30 min"
    assert line["started_at"] == ada.started_at.astimezone(UTC).isoformat(timespec="seconds")
    assert datetime.fromisoformat(line["last_upload_at"]) - datetime.fromisoformat(line["started_at"]) == timedelta(
        minutes=30
    )
    # Never submitted: below, in its own group, with empty cells rather than dashes.
    other = rows[1]
    assert other["group"] == "no_results" and other["probe_pass_rate"] == other["rubric_total"] == ""
    assert other["time_spent_seconds"] == other["last_upload_at"] == "" and "—" not in response.content.decode()
    # A name a spreadsheet would run as a formula is defused.
    assert other["candidate"] == "'=HYPERLINK(1)"


def test_the_csv_link_carries_the_filters_and_order_and_the_file_has_the_rows_on_screen(
    client, manager, assessment, build
):
    ada = build("Ada Reviewed", Invitation.REVIEWED, **REVIEWED)
    strong = dict(REVIEWED, levels={"bob": {"grounding": 3, "notes": 3}, "carol": {"grounding": 3, "notes": 3}})
    eve = build("Eve Reviewed", Invitation.REVIEWED, **strong)
    build("Cy Graded", Invitation.GRADED, results=[result("g1", "grounding", "pass")])
    build("Bo Invited")
    login(client, manager)
    url = reverse("reports:comparison", args=[assessment.pk])
    # Filtered in place by htmx: the swapped part holds the download link, with the new query.
    fragment = client.get(url, {"state": "reviewed", "min_pass": "10"}, headers={"HX-Request": "true"})
    html = fragment.content.decode()
    csv_url = reverse("reports:comparison_csv", args=[assessment.pk])
    link = f'href="{csv_url}?state=reviewed&amp;min_pass=10&amp;sort=total&amp;dir=desc"'
    assert link in html and "Clear filters" in html
    on_screen = [int(part.split('"', 1)[0]) for part in html.split('data-invitation="')[1:]]
    assert on_screen == [eve.pk, ada.pk]
    exported = client.get(csv_url, {"state": "reviewed", "min_pass": "10", "sort": "total", "dir": "desc"})
    names = [line["candidate"] for line in csv.DictReader(io.StringIO(exported.content.decode()))]
    assert names == ["Eve Reviewed", "Ada Reviewed"]
    # Another order on screen, the same order in the file.
    html = client.get(url, {"sort": "name", "dir": "desc"}).content.decode()
    assert f'href="{csv_url}?sort=name&amp;dir=desc"' in html
    exported = client.get(csv_url, {"sort": "name", "dir": "desc"}).content.decode()
    names = [line["candidate"] for line in csv.DictReader(io.StringIO(exported))]
    assert names == ["Eve Reviewed", "Cy Graded", "Ada Reviewed", "Bo Invited"]
    assert html.index("Eve Reviewed") < html.index("Cy Graded") < html.index("Ada Reviewed")


def test_it_orders_the_comparison_by_total_then_probes_with_the_never_submitted_below(
    client, manager, assessment, build
):
    build("Ann Invited")
    build("Cy Graded", Invitation.GRADED, results=[result("g1", "grounding", "pass")])
    build("Ada Reviewed", Invitation.REVIEWED, **REVIEWED)
    build("Bo Started", Invitation.STARTED)
    login(client, manager)
    html = client.get(reverse("reports:comparison", args=[assessment.pk])).content.decode()
    assert 'aria-sort="descending"><a href="?sort=total&amp;dir=asc" aria-label="Rubric total">Total ▼' in html
    assert "best first: rubric total, then probe pass rate" in html
    group = html.index('data-group="no-results"')
    assert html.index("Ada Reviewed") < html.index("Cy Graded") < group < html.index("Ann Invited")
    assert group < html.index("Bo Started") and "2 candidates never submitted or not graded yet" in html
    # Sorted by name, the group still comes last.
    html = client.get(reverse("reports:comparison", args=[assessment.pk]), {"sort": "name"}).content.decode()
    group = html.index('data-group="no-results"')
    assert html.index("Ada Reviewed") < html.index("Cy Graded") < group < html.index("Ann Invited")


def test_it_renders_the_scorecard_and_its_pdf(client, manager, assessment, build):
    ada = build("Ada Reviewed", Invitation.REVIEWED, **REVIEWED)
    login(client, manager)
    html = client.get(reverse("reports:scorecard", args=[assessment.pk, ada.pk])).content.decode()
    assert 'data-figure="rubric-total">6.5<' in html and "bob on notes" in html
    assert 'data-figure="exact">0%<' in html and 'data-figure="within-one">100%<' in html
    response = client.get(reverse("reports:scorecard_pdf", args=[assessment.pk, ada.pk]))
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_a_decision_needs_a_reason_and_is_audited_and_announced(client, manager, assessment, build):
    ada = build("Ada Reviewed", Invitation.REVIEWED, **REVIEWED)
    endpoint = WebhookEndpoint.objects.create(
        owner=manager, name="ATS", url="http://127.0.0.1:9/hook", secret="s3cret-value"
    )
    WebhookEndpoint.objects.create(owner=manager, name="Off", url="http://127.0.0.1:9/off", secret="x", active=False)
    login(client, manager)
    url = reverse("reports:decide", args=[assessment.pk, ada.pk])
    response = client.post(url, {"outcome": "advance", "reason": "   "})
    assert response.status_code == 400 and not Decision.objects.exists()
    response = client.post(url, {"outcome": "advance", "reason": "Strong retries and grounding."})
    assert response.status_code == 302
    ada.refresh_from_db()
    assert ada.state == Invitation.DECIDED and ada.decision.reason == "Strong retries and grounding."
    assert AuditEvent.objects.filter(action="decision.recorded", target_id=str(ada.pk)).exists()
    delivery = WebhookDelivery.objects.get()
    assert delivery.endpoint == endpoint and delivery.status == WebhookDelivery.PENDING
    assert f'"event_id":"{delivery.event_id}"' in delivery.body and '"outcome":"advance"' in delivery.body
    page = client.get(reverse("reports:deliveries", args=[assessment.pk])).content.decode()
    assert "Pending" in page and "ATS" in page and "s3cret-value" not in page


def test_it_refuses_a_decision_before_the_reviews_are_in(client, manager, assessment, build):
    cy = build("Cy Graded", Invitation.GRADED)
    login(client, manager)
    response = client.post(reverse("reports:decide", args=[assessment.pk, cy.pk]), {"outcome": "reject", "reason": "x"})
    assert response.status_code == 400 and not Decision.objects.exists()


@pytest.mark.parametrize("view", ["reports:overview", "reports:comparison", "reports:comparison_csv"])
def test_it_costs_the_same_queries_for_3_or_12_candidates(
    client, manager, assessment, build, view, django_assert_max_num_queries
):
    login(client, manager)
    url = reverse(view, args=[assessment.pk])

    def grow(n):
        while build.n < n:
            build(f"Cand {build.n:02d}", Invitation.REVIEWED, **REVIEWED)

    grow(3)
    client.get(url)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    grow(12)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(url).status_code == 200
    assert len(small.captured_queries) <= 12


def test_it_pages_a_long_comparison_and_keeps_sort_and_filters(client, manager, assessment, build, monkeypatch):
    monkeypatch.setattr("reports.views.COMPARISON_PAGE_SIZE", 2)
    for name in ("Ann", "Bo", "Cy", "Di", "Ed"):
        build(f"{name} Started", Invitation.STARTED)
    login(client, manager)
    url = reverse("reports:comparison", args=[assessment.pk])
    html = client.get(url, {"sort": "name", "dir": "desc", "state": "started", "page": "2"}).content.decode()
    assert "5 of 5 candidates shown (3–4 on this page)" in html
    assert "Cy Started" in html and "Bo Started" in html and "Ed Started" not in html
    assert "state=started&amp;sort=name&amp;dir=desc&amp;page=3" in html
    csv_rows = client.get(reverse("reports:comparison_csv", args=[assessment.pk])).content.decode().splitlines()
    assert len(csv_rows) == 1 + 5  # the CSV has every row, not one page


def test_candidates_graded_against_different_exercise_versions_are_flagged(client, manager, assessment, build):
    from assessments.models import Exercise, GradingRun

    build("Ada Reviewed", Invitation.REVIEWED, **REVIEWED)
    bo = build("Bo Graded", Invitation.GRADED, results=[result("g1", "grounding", "pass")])
    login(client, manager)
    overview = reverse("reports:overview", args=[assessment.pk])
    comparison = reverse("reports:comparison", args=[assessment.pk])
    assert "different versions" not in client.get(overview).content.decode()

    # Bo's upload was graded after a probe fix shipped as a new version.
    fixed = Exercise.objects.get(pk=assessment.exercise.pk)
    fixed.pk, fixed.version, fixed.is_current = None, "9.0.0", False
    fixed.save()
    GradingRun.objects.filter(submission__invitation=bo).update(exercise=fixed)
    version = assessment.exercise.version
    for url in (overview, comparison):
        page = client.get(url).content.decode()
        assert "graded against different versions" in page
        assert f"v{version} (1 candidate)" in page and "v9.0.0 (1 candidate)" in page
    exported = client.get(reverse("reports:comparison_csv", args=[assessment.pk])).content.decode()
    rows = list(csv.DictReader(io.StringIO(exported)))
    by_name = {r["candidate"]: r["exercise_version"] for r in rows}
    assert by_name["Ada Reviewed"] == version and by_name["Bo Graded"] == "9.0.0"
    card = client.get(reverse("reports:scorecard", args=[assessment.pk, bo.pk])).content.decode()
    assert "against exercise v9.0.0" in card


def test_every_report_names_the_modes_as_the_exercise_declares_them(
    client, manager, reviewer, reviewer2, custom_assessment
):
    build = Builder(custom_assessment, manager, [reviewer, reviewer2])
    results = [result("dup", "idempotency", "pass"), result("late", "ordering", "fail"), result("x", "old-one", "pass")]
    ada = build("Ada Reviewed", Invitation.REVIEWED, results=results, levels={"bob": {"safe-retries": 3}})
    login(client, manager)
    a = custom_assessment.pk

    card = client.get(reverse("reports:scorecard", args=[a, ada.pk])).content.decode()
    modes = card[card.index('id="probes-title"') : card.index('id="rubric-title"')]
    # The package's order (ordering first), its titles and staff descriptions; then a slug it does not declare.
    assert modes.index("Event ordering") < modes.index("Idempotency") < modes.index("Old one")
    assert '<span class="mode-desc">Staff: webhooks are delivered shuffled' in modes
    rubric = card[card.index('id="rubric-title"') :]
    assert 'Safe retries<span class="muted small"> · Idempotency</span>' in rubric
    assert 'Convergence<span class="muted small"> · Event ordering</span>' in rubric

    comparison = client.get(reverse("reports:comparison", args=[a])).content.decode()
    heads = [part.split("</th>", 1)[0].rsplit(">", 1)[1] for part in comparison.split('class="mode-head"')[1:]]
    assert heads == ["Event ordering", "Idempotency", "Old one"]
    assert 'aria-label="Idempotency probe pass rate"' in comparison

    overview = client.get(reverse("reports:overview", args=[a])).content.decode()
    table = overview[overview.index('id="modes-table"') :]
    assert table.index(">Event ordering<") < table.index(">Idempotency<") < table.index(">Old one<")

    exported = client.get(reverse("reports:comparison_csv", args=[a])).content.decode()
    header = next(csv.reader(io.StringIO(exported)))
    assert header[10:16] == [
        "ordering_pass_rate", "ordering_rubric", "idempotency_pass_rate", "idempotency_rubric",
        "old-one_pass_rate", "old-one_rubric",
    ]  # fmt: skip
    ada_line = next(r for r in csv.DictReader(io.StringIO(exported)) if r["candidate"] == "Ada Reviewed")
    assert ada_line["idempotency_pass_rate"] == "1" and ada_line["ordering_pass_rate"] == "0"

    pdf = client.get(reverse("reports:scorecard_pdf", args=[a, ada.pk]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
