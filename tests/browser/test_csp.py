"""Every page under the Content-Security-Policy, in headless Chromium: no violation, no console error.

The crawl is one list of URL names per role. A page added to the site goes into its role's list
(its arguments named after keys of ``world``); tests/core/test_csp.py fails until it is there, or
in ``NOT_PAGES`` with the reason it is no page to crawl.
"""

import shutil

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from candidates.models import Invitation
from candidates.services import candidate_get_or_create, invitation_create, invitation_token_rotate
from grader.package import load_package
from reports.models import WebhookEndpoint
from reports.services import decision_submit
from rubrics.services import review_assign
from tests.browser.conftest import login
from tests.builders import DEFAULT_FILES, add_results, graded_submission, make_zip
from tests.conftest import FIXTURES, PASSWORD
from tests.reports.conftest import Builder
from workflows.exercises import exercise_sync
from workflows.regrades import regrade_start

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# --- The crawl: one list of URL names per role, each with the ``world`` keys of its arguments ----------

ANONYMOUS_PAGES = [
    ("login", ()),
]
MANAGER_PAGES = [
    ("assessments:dashboard", ()),
    ("assessments:list", ()),
    ("assessments:new", ()),
    ("assessments:detail", ("assessment",)),
    ("assessments:edit", ("assessment",)),
    ("assessments:erase", ("assessment", "invitation")),
    ("assessments:feedback", ("assessment", "decided")),
    ("reports:index", ()),
    ("reports:overview", ("assessment",)),
    ("reports:comparison", ("assessment",)),
    ("reports:scorecard", ("assessment", "invitation")),
    ("reports:scorecard", ("assessment", "decided")),
    ("reports:versions", ("assessment",)),
    ("reports:deliveries", ("assessment",)),
    ("reports:known_solutions", ("assessment",)),
    ("reports:webhooks", ()),
    ("reports:webhook", ("endpoint",)),
    ("reports:regrade", ("assessment", "regrade")),
    ("reports:debrief", ("submission",)),
    ("rubrics:manage_index", ()),
    ("rubrics:manage", ("assessment",)),
    ("rubrics:agreement", ("assessment",)),
    ("rubrics:gold", ("submission",)),
    ("rubrics:disagreements", ()),
]
REVIEWER_PAGES = [
    ("assessments:dashboard", ()),
    ("rubrics:queue", ()),
    ("rubrics:review", ("review",)),
]
# A started take-home; the start page itself (and its button) is in the candidate's interaction test.
CANDIDATE_PAGES = [
    ("candidates:welcome", ("portal",)),
    ("candidates:brief", ("portal",)),
    ("candidates:upload", ("portal",)),
    ("candidates:status", ("portal",)),
]
# Django's admin, for a superuser (the nav links it): its templates put a nonce on what they inline.
ADMIN_PAGES = [
    ("admin:index", ()),
    ("admin:assessments_assessment_change", ("assessment",)),
    ("admin:rubrics_rubric_change", ("rubric",)),
    ("admin:candidates_invitation_changelist", ()),
]

# URL names that are no page to crawl: what they answer instead, or where they are covered.
NOT_PAGES = {
    "logout": "POST only",
    "assessments:invite": "POST only (the detail page's form)",
    "assessments:invite_csv": "POST only (the detail page's form)",
    "assessments:resend": "POST only",
    "assessments:regrade": "POST only",
    "candidates:magic_link": "redirects to the portal (every candidate test opens it)",
    "candidates:start": "the candidate's interaction test presses its button",
    "candidates:starter_kit": "a zip download",
    "rubrics:review_file": "a file download",
    "rubrics:scores": "POST only (the review page's form, without JavaScript)",
    "rubrics:score": "POST only (htmx autosave: the reviewer's interaction test)",
    "rubrics:verdict": "POST only (htmx autosave of the recommendation: the reviewer's interaction test)",
    "rubrics:submit": "POST only",
    "rubrics:reassign": "POST only",
    "rubrics:assign": "POST only",
    "rubrics:resolve": "POST only",
    "reports:comparison_csv": "a CSV download",
    "reports:scorecard_pdf": "a PDF download (WeasyPrint renders it on the server)",
    "reports:decide": "POST only (the scorecard's form)",
    "reports:delivery_retry": "POST only",
    "assessments:archive": "POST only (the detail page's form)",
    "reports:webhook_test": "POST only (the endpoint page's button)",
    "reports:webhook_secret": "POST only; shows the secret once (tests/reports/test_webhook_pages.py)",
    "reports:webhook_retry": "POST only",
    "reports:hiring_bar": "POST only (the versions page's form)",
    "reports:regrade_start": "POST only (the versions page's form)",
    "reports:regrade_csv": "a CSV download",
    "reports:regrade_live": "POST only",
    "reports:regrade_discard": "POST only (the manager's interaction test confirms it)",
    "reports:regrade_rerun": "POST only",
    "reports:regrade_retry": "POST only",
    "reports:debrief_draft": "POST only (the debrief card's button; tests/browser/test_debrief.py)",
}

# Each violation is kept in the page (window.cspViolations) and sent out as it happens, so one on a
# page the test has already left is not lost.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  var violation = {
    directive: event.violatedDirective,
    blocked: event.blockedURI,
    sample: event.sample,
    source: event.sourceFile + ":" + event.lineNumber,
  };
  window.cspViolations.push(violation);
  window.reportCspViolation(violation);
});
"""


class Watch:
    """What went wrong in the browser while a test ran: CSP violations, console errors and warnings,
    uncaught exceptions, each with the page it happened on."""

    def __init__(self, page):
        self.page = page
        self.problems: list[str] = []
        page.expose_binding("reportCspViolation", lambda source, v: self._add(source["page"].url, f"CSP {v}"))
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self._add(page.url, f"uncaught: {error}"))

    def _console(self, message) -> None:
        if message.type not in ("error", "warning", "assert"):
            return
        # A page that answers 403 or 404 on purpose logs its own status, and Chromium asks for /favicon.ico
        # where a page links no icon (the admin): neither is something a page failed to load.
        source = message.location["url"]
        if message.text.startswith("Failed to load resource") and (
            source == self.page.url or source.endswith("/favicon.ico")
        ):
            return
        self._add(self.page.url, f"console {message.type}: {message.text}")

    def _add(self, url: str, problem: str) -> None:
        self.problems.append(f"{url}: {problem}")

    def assert_clean(self) -> None:
        assert self.problems == [], "\n".join(self.problems)


@pytest.fixture
def watched(page):
    page.watch = Watch(page)
    return page


def _visit(page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.ok, f"{url} answered {response and response.status}"
    page.wait_for_load_state("networkidle")


def _crawl(page, pages, world, screenshot, role: str) -> None:
    for number, (name, keys) in enumerate(pages):
        _visit(page, reverse(name, args=[world[key] for key in keys]))
        screenshot(page, f"csp-{role}-{number:02}-{name.replace(':', '-')}")
    page.watch.assert_clean()


# --- The world the pages show --------------------------------------------------------------------------


@pytest.fixture
def no_broker(monkeypatch):
    """Nothing here is graded or delivered for real: the messages the services send go nowhere."""
    from reports.tasks import deliver_webhook
    from workflows.tasks import grade_submission, grade_trial_run

    for task in (grade_submission, grade_trial_run, deliver_webhook):
        monkeypatch.setattr(task, "delay", lambda *args, **kwargs: None)


@pytest.fixture
def world(manager, reviewer, reviewer2, assessment, tmp_path, no_broker) -> dict:
    """Enough on every page to draw its tables, charts, forms and code: the pks the crawl lists name."""
    endpoint = WebhookEndpoint.objects.create(
        owner=manager, name="ATS", url="https://ats.example.com/hook", secret="s" * 32
    )
    submission = graded_submission(assessment)
    add_results(submission.grading_runs.get(), [("transient", "pass"), ("transient", "fail"), ("injection", "error")])
    review = review_assign(submission=submission, reviewer=reviewer, actor=manager)
    build = Builder(assessment, manager, [reviewer, reviewer2])
    sam = build(
        "Sam Candidate",
        Invitation.REVIEWED,
        results=[("grounding", "pass"), ("transient", "fail")],
        levels={reviewer.username: {}, reviewer2.username: dict.fromkeys(_criteria(assessment), 0)},
    )
    decision_submit(invitation=sam, outcome="advance", reason="Clear reasoning.", actor=manager)
    build("Kim Started", Invitation.STARTED)
    build("Lee Invited")

    folder = tmp_path / "tiny-echo"
    shutil.copytree(FIXTURES / "exercises" / "tiny-echo", folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = folder / "exercise.toml"
    toml.write_text(toml.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    two, _ = exercise_sync(package=load_package(folder))
    trial = regrade_start(assessment=assessment, exercise=two, actor=manager)

    invitation = submission.invitation
    return {
        "assessment": assessment.pk,
        "rubric": assessment.rubric_id,
        "invitation": invitation.pk,
        "submission": submission.pk,
        "review": review.pk,
        "decided": sam.pk,
        "regrade": trial.pk,
        "endpoint": endpoint.pk,
        "portal": invitation.pk,
        "portal_token": invitation_token_rotate(invitation=invitation, actor=manager),
    }


def _criteria(assessment) -> list[str]:
    return list(assessment.rubric.criteria.values_list("slug", flat=True))


# --- The crawl ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_staff_page_runs_under_the_policy(watched, screenshot, world, manager, reviewer):
    page = watched
    _crawl(page, ANONYMOUS_PAGES, world, screenshot, "anonymous")
    # A login form whose CSRF cookie is gone meets Django's failure page, whose <style> has the nonce.
    page.goto(reverse("login"))
    page.context.clear_cookies()
    page.get_by_label("Username").fill(manager.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("CSRF verification failed").wait_for()
    assert page.locator("style[nonce]").count() == 1
    for url in ("/no-such-page/", "/t/not-a-real-token/"):
        assert page.goto(url).status == 404
        screenshot(page, f"csp-anonymous-404-{url.strip('/').replace('/', '-')}")
    page.watch.assert_clean()

    login(page, reviewer.username)
    _crawl(page, REVIEWER_PAGES, world, screenshot, "reviewer")

    page.context.clear_cookies()
    login(page, manager.username)
    _crawl(page, MANAGER_PAGES, world, screenshot, "manager")

    page.context.clear_cookies()
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    login(page, "root")
    _crawl(page, ADMIN_PAGES, world, screenshot, "admin")


def test_every_portal_page_runs_under_the_policy(watched, screenshot, world):
    page = watched
    page.goto(f"/t/{world['portal_token']}/")
    page.wait_for_url(f"**/portal/{world['portal']}/**")
    _crawl(page, CANDIDATE_PAGES, world, screenshot, "candidate")


# --- What the scripts do, under the policy --------------------------------------------------------------


def test_the_reviewers_htmx_autosave_and_code_pane_work(watched, world, reviewer, assessment):
    page = watched
    login(page, reviewer.username)
    _visit(page, reverse("rubrics:review", args=[world["review"]]))
    # htmx took its settings from skeleton.html's <meta>: it inlines no <style> and evals nothing.
    assert page.evaluate("[htmx.config.includeIndicatorStyles, htmx.config.allowEval]") == [False, False]
    assert page.locator("style").count() == 0
    criterion = assessment.rubric.criteria.first()
    page.locator(f"#criterion-{criterion.pk}").locator("label.level").nth(2).click()
    page.locator(f"#status-{criterion.pk}.is-saved").wait_for()
    page.get_by_role("link", name="Code", exact=True).click()  # the pane loads when its tab shows it
    page.locator(".file-tree").get_by_role("link", name="NOTES.md").click()
    page.locator("#code-file").get_by_text("NOTES.md").wait_for()
    # The code and notes (tests.builders.DEFAULT_FILES) hold <script> tags: escaped, the policy never sees them.
    page.watch.assert_clean()


def test_the_managers_filter_print_and_confirm_work(watched, world, manager):
    page = watched
    page.add_init_script("window.print = function () { window.printed = true; };")
    login(page, manager.username)

    _visit(page, reverse("reports:comparison", args=[world["assessment"]]))
    before = page.locator("#heatmap-count").inner_text()
    page.get_by_label("State").select_option(label="Decided")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**state=decided**")
    page.locator("#heatmap-count").get_by_text("1 of").wait_for()
    assert page.locator("#heatmap-count").inner_text() != before

    _visit(page, reverse("reports:scorecard", args=[world["assessment"], world["invitation"]]))
    page.get_by_role("button", name="Print").click()
    assert page.evaluate("window.printed") is True

    _visit(page, reverse("reports:regrade", args=[world["assessment"], world["regrade"]]))
    dialogs = []

    def answer(dialog, accept):
        dialogs.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    page.get_by_role("button", name="Discard").click()
    page.wait_for_timeout(300)
    assert len(dialogs) == 1 and "Discard this trial" in dialogs[0]
    assert "discarded" not in page.content().lower()
    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    page.get_by_role("button", name="Discard").click()
    page.get_by_text("discarded", exact=False).first.wait_for()
    page.watch.assert_clean()


def test_the_candidate_starts_and_uploads_with_the_upload_script(watched, world, assessment, manager):
    page = watched
    candidate = candidate_get_or_create(name="Ola Fresh", email="ola@example.com")
    invitation, _ = invitation_create(assessment=assessment, candidate=candidate, invited_by=manager)
    token = invitation_token_rotate(invitation=invitation, actor=manager)
    page.goto(f"/t/{token}/")
    page.get_by_role("heading", name="Welcome, Ola Fresh").wait_for()
    _visit(page, reverse("candidates:start", args=[invitation.pk]))
    page.get_by_role("button", name="Start now").click()
    page.get_by_role("heading", name="Your take-home").wait_for()

    # upload.js refuses a file over the limit before anything is sent.
    limit = int(page.locator("#id_archive").get_attribute("data-max-bytes"))
    posts = []
    page.on("request", lambda request: posts.append(request) if request.method == "POST" else None)
    _choose(page, "huge.zip", b"PK" + b"\0" * limit)
    page.locator("#archive-check").get_by_text("the limit is").wait_for()
    page.get_by_role("button", name="Upload").click()
    page.wait_for_timeout(300)
    assert posts == []

    # A good archive goes up through htmx, which follows the server to the status page, which polls.
    _choose(page, "solution.zip", make_zip(DEFAULT_FILES))
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(f"**/portal/{invitation.pk}/status/")
    page.get_by_text("Upload 1 received.").wait_for()
    page.wait_for_event("request", lambda request: request.headers.get("hx-request") == "true")
    page.watch.assert_clean()


def _choose(page, name: str, data: bytes) -> None:
    page.set_input_files("#id_archive", files=[{"name": name, "mimeType": "application/zip", "buffer": data}])
