"""The versions page and a trial regrade's pages: only the assessment's manager sees or acts on them."""

import csv
import io
import shutil

import pytest
from django.urls import reverse

from assessments.models import Assessment, GradingRun, Regrade
from core.models import AuditEvent
from grader.package import load_package
from tests.builders import graded_submission
from tests.conftest import FIXTURES
from tests.reports.conftest import login
from workflows.exercises import exercise_sync
from workflows.regrades import regrade_start


@pytest.fixture
def version_two(exercise, tmp_path):
    folder = tmp_path / "tiny-echo"
    shutil.copytree(FIXTURES / "exercises" / "tiny-echo", folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = folder / "exercise.toml"
    toml.write_text(toml.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    two, _ = exercise_sync(package=load_package(folder))
    return two


@pytest.fixture
def trial(assessment, version_two, manager):
    graded_submission(assessment, name='=HYPERLINK("http://x")', email="formula@example.com")
    return regrade_start(assessment=assessment, exercise=version_two, actor=manager)


def _urls(assessment, trial):
    a, r = assessment.pk, trial.pk
    get = [
        reverse("reports:versions", args=[a]),
        reverse("reports:regrade", args=[a, r]),
        reverse("reports:regrade_csv", args=[a, r]),
    ]
    post = [
        reverse("reports:regrade_start", args=[a]),
        reverse("reports:hiring_bar", args=[a]),
        reverse("reports:regrade_live", args=[a, r]),
        reverse("reports:regrade_discard", args=[a, r]),
        reverse("reports:regrade_rerun", args=[a, r]),
        reverse("reports:regrade_retry", args=[a, r]),
    ]
    return get, post


def _nothing_moved(assessment, trial, runs_before):
    trial.refresh_from_db()
    assessment = Assessment.objects.get(pk=assessment.pk)
    assert trial.state == Regrade.OPEN and trial.reruns == 0
    assert assessment.hiring_bar is None
    assert sorted(GradingRun.objects.values_list("pk", "state", "live")) == runs_before
    assert not AuditEvent.objects.filter(action__in=["regrade.made_live", "regrade.discarded", "regrade.rerun"])


def test_it_refuses_versions_and_trials_to_reviewers_and_outsiders(client, assessment, trial, reviewer, outsider):
    get, post = _urls(assessment, trial)
    runs = sorted(GradingRun.objects.values_list("pk", "state", "live"))
    for user in (reviewer, outsider):
        login(client, user)
        for url in get:
            assert client.get(url).status_code == 403, url
        for url in post:
            assert client.post(url, {"hiring_bar": "10", "exercise": trial.exercise_id}).status_code == 403, url
    client.logout()
    for url in get:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
    _nothing_moved(assessment, trial, runs)


def test_it_hides_another_managers_versions_and_trials(client, assessment, trial, other_manager):
    login(client, other_manager)
    get, post = _urls(assessment, trial)
    runs = sorted(GradingRun.objects.values_list("pk", "state", "live"))
    for url in get:
        assert client.get(url).status_code == 404, url
    for url in post:
        assert client.post(url, {"hiring_bar": "10", "exercise": trial.exercise_id}).status_code == 404, url
    _nothing_moved(assessment, trial, runs)


def test_a_trial_of_one_assessment_is_not_found_under_another(client, assessment, trial, manager):
    from assessments.services import assessment_create

    other = assessment_create(
        owner=manager,
        title="Other",
        exercise=assessment.exercise,
        rubric=assessment.rubric,
        closes_at=assessment.closes_at,
    )
    login(client, manager)
    assert client.get(reverse("reports:regrade", args=[other.pk, trial.pk])).status_code == 404
    assert client.post(reverse("reports:regrade_discard", args=[other.pk, trial.pk])).status_code == 404
    trial.refresh_from_db()
    assert trial.state == Regrade.OPEN


def test_the_manager_sees_the_trial_in_progress_and_cannot_make_it_live_yet(client, assessment, trial, manager):
    login(client, manager)
    html = client.get(reverse("reports:regrade", args=[assessment.pk, trial.pk])).content.decode()
    assert "0 of 1 uploads graded on v0.2.0" in html
    assert 'hx-trigger="every 3s"' in html  # it updates by itself while the trial runs
    response = client.post(reverse("reports:regrade_live", args=[assessment.pk, trial.pk]), follow=True)
    assert "Not ready to make live: 1 of 1 uploads are still being graded" in response.content.decode()
    trial.refresh_from_db()
    assert trial.state == Regrade.OPEN
    assert Assessment.objects.get(pk=assessment.pk).exercise_id == trial.from_exercise_id


def test_a_second_trial_is_refused_with_a_clear_error(client, assessment, trial, manager):
    login(client, manager)
    response = client.post(reverse("reports:regrade_start", args=[assessment.pk]), {"exercise": trial.exercise_id})
    assert response.status_code == 400
    assert "A trial is already open for this assessment" in response.content.decode()
    assert Regrade.objects.count() == 1


def test_a_version_of_another_exercise_cannot_be_picked(client, assessment, manager, custom_exercise, version_two):
    graded_submission(assessment)
    login(client, manager)
    response = client.post(reverse("reports:regrade_start", args=[assessment.pk]), {"exercise": custom_exercise.pk})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not Regrade.objects.exists()


@pytest.mark.parametrize("value", ["101", "-1", "abc"])
def test_a_hiring_bar_outside_0_to_100_is_refused(client, assessment, manager, value):
    login(client, manager)
    response = client.post(reverse("reports:hiring_bar", args=[assessment.pk]), {"hiring_bar": value})
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert Assessment.objects.get(pk=assessment.pk).hiring_bar is None


def test_the_hiring_bar_is_set_cleared_and_audited(client, assessment, manager):
    login(client, manager)
    client.post(reverse("reports:hiring_bar", args=[assessment.pk]), {"hiring_bar": "70"})
    assert Assessment.objects.get(pk=assessment.pk).hiring_bar == 70
    client.post(reverse("reports:hiring_bar", args=[assessment.pk]), {"hiring_bar": ""})
    assert Assessment.objects.get(pk=assessment.pk).hiring_bar is None
    events = AuditEvent.objects.filter(action="assessment.hiring_bar").order_by("pk")
    assert [(e.data["from"], e.data["to"]) for e in events] == [(None, 70), (70, None)]


def test_the_preview_csv_cannot_smuggle_a_formula_into_a_spreadsheet(client, assessment, trial, manager):
    login(client, manager)
    response = client.get(reverse("reports:regrade_csv", args=[assessment.pk, trial.pk]))
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["candidate", "email", "old_version", "new_version"]
    assert rows[1][0] == '\'=HYPERLINK("http://x")'
    assert rows[1][2:4] == ["0.1.0", "0.2.0"]
