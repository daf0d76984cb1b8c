"""A trial regrade end to end in headless Chromium, with the real worker grading in the sandbox.

Three candidates are graded on regrade-demo 1.0.0. Version 2.0.0 is the same package with one
probe made stricter (``short-answer``: 40 characters become 10), which flips exactly one
candidate's outcome. A manager tries 2.0.0 on the cohort, reads the preview (exactly that probe,
that rank change, that crossing of the bar), discards it (nothing changed), tries again and makes
it live: the scorecard and the comparison switch, and the old results stay visible as history.
"""

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from assessments.models import Assessment, GradingRun, ProbeResult, Regrade
from assessments.services import assessment_create
from candidates.models import Invitation
from candidates.services import candidate_get_or_create, invitation_create, invitation_start
from core.models import AuditEvent
from grader.package import load_package
from reports.models import WebhookDelivery
from rubrics.models import Rubric
from tests.browser.conftest import DESKTOP, login
from tests.builders import make_zip
from tests.workers import graded_by_the_worker
from workflows.exercises import exercise_sync
from workflows.uploads import submission_accept

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PACKAGE = Path(__file__).resolve().parents[1] / "fixtures" / "exercises" / "regrade-demo"
GRADING_TIMEOUT_S = 180

# Each candidate's answer(); the probes ask "hello" and "HELLO THERE".
SOLUTIONS = {
    # Short and cited: passes everything on both versions.
    "Ann Short": 'return {"status": "answered", "answer": question[:10], "citations": ["a1"]}',
    # 13 characters for "hello", uncited: short enough for 1.0.0 (40), too long for 2.0.0 (10).
    "Ben Medium": 'return {"status": "answered", "answer": "Answer: " + question, "citations": []}',
    # The question itself, uncited: 5 characters for "hello", short on both.
    "Cy Echo": 'return {"status": "answered", "answer": question, "citations": []}',
}


def _version_two(tmp_path: Path) -> Path:
    """regrade-demo 2.0.0: a copy of 1.0.0 whose short-answer probe allows 10 characters, not 40."""
    folder = tmp_path / "regrade-demo"
    shutil.copytree(PACKAGE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = folder / "exercise.toml"
    toml.write_text(toml.read_text().replace('version = "1.0.0"', 'version = "2.0.0"'))
    probes = folder / "hidden" / "probes.py"
    probes.write_text(probes.read_text().replace("MAX_ANSWER = 40", "MAX_ANSWER = 10"))
    return folder


def _live_state(assessment):
    """Everything live a trial must leave alone: the version, each live run and its outcomes."""
    runs = GradingRun.objects.filter(submission__invitation__assessment=assessment, live=True).order_by("pk")
    return (
        Assessment.objects.get(pk=assessment.pk).exercise_id,
        [(r.pk, r.state, r.exercise_id) for r in runs],
        sorted(ProbeResult.objects.filter(run__in=runs).values_list("run_id", "probe_id", "outcome")),
    )


def _start_trial(page, assessment, version: str) -> Regrade:
    page.goto(f"/reports/assessments/{assessment.pk}/versions/")
    page.get_by_label("Version of").select_option(label=f"{version} (newest)")
    page.get_by_role("button", name="Start trial regrade").click()
    page.get_by_text(f"Trial started on v{version}").wait_for()
    trial = Regrade.objects.get(assessment=assessment, state=Regrade.OPEN)
    # The page polls by itself until every upload is graded on the trial's version.
    page.get_by_text("Every latest upload is graded on").wait_for(timeout=GRADING_TIMEOUT_S * 1000)
    return trial


def test_a_trial_regrade_previews_exactly_what_changes_and_goes_live_or_away(
    browser, live_server, screenshot, celery_worker, manager, tmp_path
):
    exercise, _ = exercise_sync(package=load_package(PACKAGE))
    assessment = assessment_create(
        owner=manager,
        title="Applied AI engineer, winter",
        exercise=exercise,
        rubric=Rubric.objects.get(slug=exercise.rubric_slug),
        closes_at=timezone.now() + timedelta(days=30),
    )
    invitations = {}
    for name, body in SOLUTIONS.items():
        candidate = candidate_get_or_create(name=name, email=f"{name.split()[0].lower()}@example.com")
        invitation, _ = invitation_create(assessment=assessment, candidate=candidate, invited_by=manager)
        invitation_start(invitation=invitation)
        archive = make_zip({"echo/__init__.py": f"def answer(question):\n    {body}\n"})
        submission = submission_accept(invitation=invitation, archive=archive)
        invitations[name] = invitation
        run = graded_by_the_worker(submission, timeout=GRADING_TIMEOUT_S)
        assert run.state == GradingRun.DONE, run.infra_error
    assert {
        name: sorted(
            GradingRun.objects.get(submission__invitation=inv, live=True).results.values_list("probe_id", "outcome")
        )
        for name, inv in invitations.items()
    }["Ben Medium"] == [
        ("cites-source", "fail"),
        ("echo-plain", "pass"),
        ("echo-shout", "pass"),
        ("short-answer", "pass"),
    ]
    two, _ = exercise_sync(package=load_package(_version_two(tmp_path)))
    assert Assessment.objects.get(pk=assessment.pk).exercise == exercise  # pinned: a sync moves nothing

    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        login(page, manager.username)
        page.goto(f"/assessments/{assessment.pk}/")
        page.get_by_text("A newer version of this take-home, v2.0.0, is synced.").wait_for()
        page.get_by_role("link", name="Try v2.0.0").click()
        page.get_by_role("spinbutton", name="Hiring bar").fill("60")
        page.get_by_role("button", name="Save").click()
        page.get_by_text("Hiring bar set to 60%.").wait_for()
        before = _live_state(assessment)
        ben_card = f"/reports/assessments/{assessment.pk}/candidates/{invitations['Ben Medium'].pk}/"
        page.goto(ben_card)
        assert page.locator("[data-figure='probe-rate']").inner_text() == "75%"

        # --- A first trial, looked at and discarded: nothing live moves --------------------------
        trial = _start_trial(page, assessment, "2.0.0")
        assert _live_state(assessment) == before, "the live results changed while a trial was open"
        rows = page.locator("table.trial-table > tbody > tr")
        assert rows.count() == 3
        ben = page.locator("tr[data-candidate='Ben Medium']")
        assert ben.locator("[data-cell='rate']").inner_text() == "75% → 50%"
        assert ben.locator("[data-cell='rank']").inner_text().startswith("2 → 3")
        assert ben.locator("[data-cell='bar']").inner_text() == "now below"
        ben.get_by_text("1 probe").click()
        probes_text = ben.locator("[data-cell='probes']").inner_text()
        assert "short-answer" in probes_text
        assert "answer of 13 characters, within 40" in probes_text
        assert "answer of 13 characters, over 10" in probes_text
        assert "Output shape: 1 → 0" in ben.locator("[data-cell='criteria']").inner_text()
        for name in ("Ann Short", "Cy Echo"):
            other = page.locator(f"tr[data-candidate='{name}']")
            assert other.locator("[data-cell='probes']").inner_text().strip() == "none"
            assert other.locator("[data-cell='bar']").inner_text().strip() == "—"
        assert page.locator("[data-figure='changed']").inner_text() == "1"
        assert page.locator("[data-figure='probes-changed']").inner_text() == "1"
        assert page.locator("[data-figure='rank-changes']").inner_text() == "1"
        assert page.locator("[data-figure='crossing']").inner_text() == "↑0 ↓1"
        screenshot(page, "regrade-preview")
        with page.expect_download() as download:
            page.get_by_role("link", name="Download CSV").click()
        csv_text = Path(download.value.path()).read_text()
        assert "Ben Medium" in csv_text and "short-answer: pass -> fail" in csv_text

        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Discard").click()
        page.get_by_text("Trial discarded").wait_for()
        assert not GradingRun.objects.filter(trial=trial).exists()
        assert _live_state(assessment) == before
        page.goto(ben_card)
        assert page.locator("[data-figure='probe-rate']").inner_text() == "75%"
        assert not page.get_by_text("Earlier results of this upload").count()

        # --- A second trial, made live ------------------------------------------------------------
        trial = _start_trial(page, assessment, "2.0.0")
        assert _live_state(assessment) == before
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Make live").click()
        page.get_by_text("Made live: the assessment is on v2.0.0").wait_for()
        # The trial's page still says what it changed: old is now the history it replaced.
        page.get_by_role("heading", name="What making it live changed").wait_for()
        made_live = page.locator("tr[data-candidate='Ben Medium']")
        assert made_live.locator("[data-cell='rate']").inner_text() == "75% → 50%"
        assert page.locator("[data-figure='probes-changed']").inner_text() == "1"
        screenshot(page, "regrade-made-live")
        assert Assessment.objects.get(pk=assessment.pk).exercise == two
        event = AuditEvent.objects.get(action="regrade.made_live")
        assert event.actor == manager and event.target_id == str(trial.pk)
        assert WebhookDelivery.objects.count() == 0  # nobody is notified of a version change
        assert all(
            Invitation.objects.get(pk=inv.pk).state == Invitation.GRADED for inv in invitations.values()
        )  # no state moved

        page.goto(ben_card)
        assert page.locator("[data-figure='probe-rate']").inner_text() == "50%"
        assert "against exercise v2.0.0" in page.locator("#probes-title").locator("..").inner_text()
        history = page.locator("section", has=page.get_by_role("heading", name="Earlier results of this upload"))
        assert "v1.0.0" in history.inner_text() and "75%" in history.inner_text()
        history.get_by_role("link", name="View probes").click()
        page.get_by_text("You are looking at history").wait_for()
        assert "answer of 13 characters, within 40" in page.locator(".probes-table").inner_text()
        screenshot(page, "regrade-scorecard-history")

        page.goto(f"/reports/assessments/{assessment.pk}/comparison/")
        ben_row = page.locator("tr", has=page.get_by_text("Ben Medium", exact=True)).first
        assert "50%" in ben_row.inner_text()
        assert "75%" not in ben_row.inner_text()
        assert not page.get_by_text("graded against different versions").count()

        page.goto(f"/reports/assessments/{assessment.pk}/versions/")
        history_text = page.locator("ol.version-history").inner_text()
        assert "v1.0.0" in history_text and "v2.0.0" in history_text and "live now" in history_text
        screenshot(page, "regrade-versions")
    finally:
        context.close()
