"""The reviewers' recommendations per candidate, on the comparison and in its CSV (#20, point 4)."""

import csv
import io

from django.urls import reverse

from candidates.models import Invitation
from rubrics.models import Review
from tests.reports.conftest import login, result

RESULTS = [result("g1", "grounding", "pass")]


def _csv(client, assessment, **params):
    response = client.get(reverse("reports:comparison_csv", args=[assessment.pk]), params)
    return {line["candidate"]: line for line in csv.DictReader(io.StringIO(response.content.decode()))}


def test_it_shows_each_candidates_recommendations_and_sorts_by_them(client, manager, assessment, build):
    ada = build("Ada", Invitation.REVIEWED, results=RESULTS, recommendations={"bob": "no", "carol": "strong_no"})
    bo = build("Bo", Invitation.REVIEWED, results=RESULTS, recommendations={"bob": "strong_yes", "carol": "yes"})
    cy = build("Cy", Invitation.GRADED, results=RESULTS)
    login(client, manager)
    url = reverse("reports:comparison", args=[assessment.pk])

    html = client.get(url, {"sort": "recommendation"}).content.decode()

    assert html.index(f'data-invitation="{bo.pk}"') < html.index(f'data-invitation="{ada.pk}"')
    assert html.index(f'data-invitation="{ada.pk}"') < html.index(f'data-invitation="{cy.pk}"')
    row = html[html.index(f'data-invitation="{bo.pk}"') :].split("</tr>", 1)[0]
    assert ">1 × Strong yes</span>" in row and ">1 × Yes</span>" in row and "No</span>" not in row
    row = html[html.index(f'data-invitation="{cy.pk}"') :].split("</tr>", 1)[0]
    assert "rec-chip" not in row


def test_the_csv_counts_recommendations_and_averages_them_as_numbers(client, manager, assessment, build, reviewer):
    build("Ada", Invitation.REVIEWED, results=RESULTS, recommendations={"bob": "strong_yes", "carol": "no"})
    build("Cy", Invitation.GRADED, results=RESULTS)
    bo = build("Bo", Invitation.REVIEWED, results=RESULTS)
    # A review submitted before reviewers gave recommendations: counted apart, never guessed.
    Review.objects.filter(submission__invitation=bo, reviewer=reviewer).update(recommendation="")
    login(client, manager)

    lines = _csv(client, assessment)

    ada, bo_line, cy = lines["Ada"], lines["Bo"], lines["Cy"]
    assert [ada[f"recommend_{v}"] for v in ("strong_yes", "yes", "no", "strong_no")] == ["1", "0", "1", "0"]
    assert ada["recommendation_mean"] == "0.5" and ada["recommendations_missing"] == "0"
    assert (bo_line["recommend_yes"], bo_line["recommendations_missing"]) == ("1", "1")
    assert float(bo_line["recommendation_mean"]) == 1
    assert cy["recommend_yes"] == "0" and cy["recommendation_mean"] == ""
