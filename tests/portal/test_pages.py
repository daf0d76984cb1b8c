"""The portal pages as a candidate sees them, without JavaScript (the test client)."""

import io
import threading
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from assessments.models import Assessment, Exercise, GradingRun, ProbeResult
from assessments.services import grading_run_claim, grading_run_fail_attempt, grading_run_finish, grading_run_heartbeat
from candidates.models import Invitation, StoredArchive, Submission
from candidates.selectors import exercise_brief_html
from candidates.services import (
    UploadRejected,
    decision_record,
    invitation_create,
    invitation_feedback_release,
    invitation_mark_graded,
    invitation_mark_reviewed,
    invitation_token_rotate,
)
from grader.package import package_checksum
from tests.builders import DAMAGES, damaged_zip, graded_submission, make_zip, zip_bomb
from workflows.uploads import submission_accept, submission_upload

pytestmark = pytest.mark.django_db


def url(name, invitation):
    return reverse(f"candidates:{name}", args=[invitation.pk])


def upload(client, invitation, data: bytes, notes: str = "", *, filename="solution.zip", **headers):
    return client.post(
        url("upload", invitation),
        {"archive": SimpleUploadedFile(filename, data, content_type="application/zip"), "notes": notes},
        headers=headers,
    )


# --- Welcome, brief, start ---------------------------------------------------------------------


def test_the_welcome_page_says_what_is_measured_the_time_the_deadline_and_the_data_kept(portal, invitation, settings):
    settings.DATA_RETENTION_MONTHS = 9
    html = portal.get(url("welcome", invitation)).content.decode()
    assert "Welcome, Dana Candidate" in html
    assert "failure-mode thinking" in html
    assert "1 hour, from the moment you press Start" in html
    assert invitation.expires_at.strftime("%Y") in html and "Start by" in html
    assert "kept for 9 months after the decision" in html
    assert "erase your data" in html


def test_the_brief_is_rendered_markdown(portal, invitation):
    response = portal.get(url("brief", invitation))
    assert response.status_code == 200
    assert "<h1>Tiny echo" in response.content.decode()


def _synced_from(exercise, folder):
    """``exercise`` as if its version had been synced from ``folder`` (the brief is read from its files)."""
    exercise.package_path, exercise.checksum = str(folder), package_checksum(folder)
    return exercise


def test_the_brief_is_sanitised(tmp_path, exercise):
    (tmp_path / "brief.md").write_text(
        "# Hi\n\n<script>alert(1)</script>\n\n[x](javascript:alert(2)) <img src=https://evil.example/p.png>"
        '\n\n<a href="https://example.com" onclick="steal()">ok</a>\n\n```\ncode <b>\n```\n'
    )
    html = exercise_brief_html(_synced_from(exercise, tmp_path))
    assert "<h1>Hi</h1>" in html
    assert "<script" not in html and "javascript:" not in html and "onclick" not in html
    assert "<img" not in html and "evil.example" not in html
    assert "code &lt;b&gt;" in html
    assert 'rel="noopener noreferrer"' in html


def test_the_brief_reads_commonmark_style_lists(tmp_path, exercise):
    (tmp_path / "brief.md").write_text(
        "Modes:\n- a\n- b\n\n1. **One**. Intro:\n   - nested x\n   - nested y\n\n   More on one.\n2. **Two**.\n"
        "\n```\n- not a list\nline\n```\n"
    )
    html = exercise_brief_html(_synced_from(exercise, tmp_path))
    assert "<p>Modes:</p>\n<ul>\n<li>a</li>" in html
    assert "<ul>\n<li>nested x</li>\n<li>nested y</li>\n</ul>" in html
    assert "<strong>Two</strong>" in html and html.count("<li>") == 6
    assert "- not a list\nline" in html


def test_start_asks_first_then_starts_the_clock(portal, invitation):
    response = portal.get(url("start", invitation))
    html = response.content.decode()
    assert "the clock starts" in html and "Your deadline if you start now" in html
    invitation.refresh_from_db()
    assert invitation.started_at is None
    response = portal.post(url("start", invitation))
    assert response.status_code == 302 and response["Location"] == url("upload", invitation)
    invitation.refresh_from_db()
    assert invitation.state == Invitation.STARTED
    assert invitation.due_at == invitation.started_at + timedelta(minutes=invitation.assessment.time_limit_minutes)


def test_the_deadline_is_the_close_when_that_comes_first(portal, invitation):
    closes = timezone.now() + timedelta(minutes=20)
    Assessment.objects.filter(pk=invitation.assessment_id).update(closes_at=closes)
    html = portal.get(url("start", invitation)).content.decode()
    assert "before your full time budget would run out" in html
    portal.post(url("start", invitation))
    invitation.refresh_from_db()
    assert invitation.due_at == closes


def test_a_second_start_does_not_move_the_clock(portal, started):
    due = started.due_at
    response = portal.post(url("start", started))
    assert response.status_code == 302
    started.refresh_from_db()
    assert started.due_at == due


def test_upload_and_kit_wait_for_start(portal, invitation):
    assert portal.get(url("upload", invitation))["Location"] == url("start", invitation)
    assert portal.get(url("starter_kit", invitation))["Location"] == url("start", invitation)


def test_the_starter_kit_downloads_after_start(portal, started):
    response = portal.get(url("starter_kit", started))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="tiny-echo-starter-kit.zip"'
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        names = zf.namelist()
    assert "tiny-echo-starter/echo/__init__.py" in names
    assert not any("hidden" in n or "reference" in n for n in names)


# --- Upload ------------------------------------------------------------------------------------------


def test_the_upload_page_offers_the_kit_and_the_form_with_limits(portal, started):
    html = portal.get(url("upload", started)).content.decode()
    assert url("starter_kit", started) in html
    assert 'accept=".zip,application/zip"' in html and 'data-max-bytes="5242880"' in html
    assert 'enctype="multipart/form-data"' in html and 'hx-encoding="multipart/form-data"' in html
    assert "<code>echo/</code>" in html and "10 files" in html


def test_a_valid_upload_is_stored_and_queued(portal, started, valid_zip):
    response = upload(portal, started, valid_zip, notes="")
    assert response.status_code == 302 and response["Location"] == url("status", started)
    submission = Submission.objects.get(invitation=started)
    assert submission.number == 1 and submission.size_bytes == len(valid_zip)
    assert submission.notes == "# Notes\n\nRetries first."
    assert submission.grading_runs.get().state == GradingRun.QUEUED
    started.refresh_from_db()
    assert started.state == Invitation.SUBMITTED


def test_notes_from_the_box_and_notes_md_are_both_kept_box_first(started, valid_zip):
    submission = submission_upload(invitation=started, archive=valid_zip, notes="Typed notes.")
    assert submission.notes.startswith("Typed notes.")
    assert submission.notes.endswith("Retries first.")


def test_a_folder_around_the_package_is_fine(started):
    data = make_zip({"my-solution/echo/__init__.py": "x = 1\n", "my-solution/notes.md": "lower-case name"})
    assert submission_upload(invitation=started, archive=data).notes == "lower-case name"


def test_a_single_module_satisfies_the_entry_point(started):
    assert submission_upload(invitation=started, archive=make_zip({"echo.py": "def answer(q): return q\n"}))


def _nothing_stored(invitation, settings):
    assert not Submission.objects.filter(invitation=invitation).exists()
    assert not GradingRun.objects.exists()
    assert not StoredArchive.objects.filter(submission__invitation=invitation).exists()
    assert not Path(settings.MEDIA_ROOT).exists() or not any(Path(settings.MEDIA_ROOT).rglob("*.zip"))


def test_a_zip_bomb_is_refused_and_nothing_is_stored(portal, started, settings):
    response = upload(portal, started, zip_bomb())
    html = response.content.decode()
    assert response.status_code == 400
    assert "Nothing was stored." in html and "The archive unpacks to 60 MB; the limit is 50 MB." in html
    _nothing_stored(started, settings)


def test_an_archive_without_the_package_is_refused_clearly(portal, started, settings):
    response = upload(portal, started, make_zip({"src/other.py": "x = 1\n", "README.md": "hi"}))
    assert response.status_code == 400
    assert "The archive has no `echo/` package at its root." in response.content.decode()
    _nothing_stored(started, settings)


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"not a zip at all", "solution.zip", "This is not a zip archive"),
        (b"PK\x03\x04", "solution.tar.gz", "Upload a .zip archive."),
        ({f"echo/m{i}.py": "x" for i in range(11)}, "solution.zip", "the limit is 10"),
        ({"../escape.py": "x", "echo/__init__.py": ""}, "solution.zip", "climbs out of the archive"),
    ],
)
def test_broken_archives_are_refused_with_a_reason(portal, started, settings, data, filename, message):
    data = make_zip(data) if isinstance(data, dict) else data
    response = upload(portal, started, data, filename=filename)
    assert response.status_code == 400
    assert message in response.content.decode()
    _nothing_stored(started, settings)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"echo/" + "a" * 300 + ".py": "x"}, "the file name is 303 bytes long; a file or folder name may be at most"),
        ({"/".join(["echo", *["d" * 200] * 6, "x.py"]): "x"}, "its path is 1215 bytes long; the limit is 1024 bytes"),
        ({"/".join(["echo"] * 30) + "/x.py": "x"}, "is nested 31 folders deep; the limit is 20"),
        ({"echo/invoice\u202egnp.py": "x"}, r"&#x27;echo/invoice\u202egnp.py&#x27; has an invisible or control"),
        ({"echo/\u2067x\u2069.py": "x"}, r"(U+2067 RIGHT-TO-LEFT ISOLATE)"),
        ({"echo/caf\u00e9.py": "1", "echo/cafe\u0301.py": "2"}, r"&#x27;echo/cafe\u0301.py&#x27; appears twice"),
    ],
)
def test_names_no_file_system_holds_or_that_disguise_are_refused_naming_the_entry_safely(
    portal, started, settings, members, message
):
    response = upload(portal, started, make_zip({"echo/__init__.py": "", **members}))
    html = response.content.decode()
    assert response.status_code == 400
    assert "Nothing was stored." in html and message in html
    assert not any(ch in html for ch in "\u202e\u2067\u2069\u0301")  # the trick is shown escaped, not played
    _nothing_stored(started, settings)


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_archive_is_refused_with_a_400_not_a_500(portal, started, settings, damage):
    response = upload(portal, started, damaged_zip(damage))
    html = response.content.decode()
    assert response.status_code == 400
    assert "Nothing was stored." in html and ("cannot be read" in html or "This is not a zip archive" in html)
    _nothing_stored(started, settings)


def test_an_archive_over_the_size_limit_is_refused_before_unpacking(portal, started, settings):
    started.assessment.exercise.limits = {"max_compressed_bytes": 1000, "max_files": 10}
    started.assessment.exercise.save()
    response = upload(portal, started, b"PK" + b"x" * 2000)
    assert response.status_code == 400
    assert "the limit is 0.000953674 MB" in response.content.decode() or "the limit is" in response.content.decode()
    _nothing_stored(started, settings)


def test_the_htmx_upload_gets_the_form_fragment_on_error_and_a_client_redirect_on_success(portal, started, valid_zip):
    response = upload(portal, started, b"junk", HX_Request="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="upload-form"' in html and "This is not a zip archive" in html
    response = upload(portal, started, valid_zip, HX_Request="true")
    assert response.status_code == 200 and response["HX-Redirect"] == url("status", started)


def test_resubmission_keeps_every_upload(portal, started, valid_zip):
    upload(portal, started, valid_zip)
    upload(portal, started, make_zip({"echo/__init__.py": "# v2\n"}))
    assert list(Submission.objects.filter(invitation=started).values_list("number", flat=True)) == [2, 1]
    html = portal.get(url("status", started)).content.decode()
    assert html.count("<code title=") == 2


def _past_due(invitation):
    Invitation.objects.filter(pk=invitation.pk).update(
        started_at=timezone.now() - timedelta(hours=2), due_at=timezone.now() - timedelta(minutes=1)
    )


def test_a_late_upload_is_refused_with_a_clear_message(portal, started, valid_zip, settings):
    _past_due(started)
    response = upload(portal, started, valid_zip)
    html = response.content.decode()
    assert response.status_code == 400
    assert "The deadline has passed, so uploads are closed. Nothing was stored." in html
    assert "Uploads are closed" in html
    _nothing_stored(started, settings)
    htmx = upload(portal, started, valid_zip, HX_Request="true")
    assert htmx["HX-Redirect"] == url("upload", started)


def test_after_the_deadline_the_pages_say_what_happens_next(portal, started, valid_zip):
    submission_upload(invitation=started, archive=valid_zip)
    _past_due(started)
    html = portal.get(url("upload", started)).content.decode()
    assert "Uploads are closed" in html and "What happens next" in html
    status = portal.get(url("status", started)).content.decode()
    assert "What happens next" in status and "will contact you by email" in status


# --- Status ------------------------------------------------------------------------------------------


def _run(started, valid_zip):
    submission = submission_upload(invitation=started, archive=valid_zip)
    return submission, submission.grading_runs.get()


def test_status_before_any_upload_is_an_empty_state(portal, started):
    html = portal.get(url("status", started)).content.decode()
    assert "No upload yet" in html and "hx-trigger" not in html


def test_status_received_polls(portal, started, valid_zip):
    _run(started, valid_zip)
    html = portal.get(url("status", started)).content.decode()
    assert "<strong>Received.</strong>" in html
    assert 'hx-trigger="every 2s"' in html and "<noscript>" in html


def test_status_checking_shows_probes_done_of_total_and_the_fragment_alone(portal, started, valid_zip):
    _submission, run = _run(started, valid_zip)
    lease = grading_run_claim(run=run)
    grading_run_heartbeat(run=run, lease_token=lease, done=7, total=20)
    response = portal.get(url("status", started), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html and 'id="status-live"' in html
    assert "Checks done: 7 of 20" in html and '<progress id="run-progress-bar" max="20" value="7">' in html
    assert 'hx-trigger="every 2s"' in html


def test_status_checked_stops_polling_and_says_nothing_about_results(portal, started, valid_zip):
    _submission, run = _run(started, valid_zip)
    lease = grading_run_claim(run=run)
    grading_run_finish(
        run=run,
        lease_token=lease,
        results=[
            {"probe_id": "secret-probe-429", "failure_mode": "transient", "outcome": "fail", "reason": "no retry"},
            {"probe_id": "secret-probe-inject", "failure_mode": "injection", "outcome": "pass", "reason": "held"},
        ],
        isolation={},
    )
    invitation_mark_graded(invitation=started)
    html = portal.get(url("status", started)).content.decode()
    assert "<strong>Checked.</strong>" in html and "hx-trigger" not in html
    for secret in ["secret-probe", "no retry", "held", "transient", "Transient", "injection", "fail", "pass"]:
        assert secret not in html


def test_status_on_a_retry_blames_our_side_not_the_candidate(portal, started, valid_zip):
    _submission, run = _run(started, valid_zip)
    lease = grading_run_claim(run=run)
    grading_run_fail_attempt(run=run, lease_token=lease, error="sandbox did not start")
    html = portal.get(url("status", started)).content.decode()
    assert "We hit a problem on our side and are re-checking your submission; nothing is lost" in html
    assert "sandbox" not in html

    # The attempts are used up: no "re-checking" that is not happening, no progress bar that never moves.
    GradingRun.objects.filter(pk=run.pk).update(state=GradingRun.FAILED_INFRA)
    html = portal.get(url("status", started)).content.decode()
    assert "Our checks could not run on our side. The hiring team has been told" in html
    assert "you do not need to do anything" in html
    assert "re-checking" not in html and "Preparing the checks" not in html and "sandbox" not in html
    assert "hx-trigger" in html  # it keeps polling, so the page moves on by itself once the checks run


def test_status_under_review_and_decided(portal, started, valid_zip, manager, reviewer):
    from rubrics.services import review_assign

    submission = graded_submission(invitation=started, archive=valid_zip, results=[])
    review_assign(submission=submission, reviewer=reviewer, actor=manager)
    assert "<strong>Under review.</strong>" in portal.get(url("status", started)).content.decode()
    invitation_mark_reviewed(invitation=started)
    decision_record(invitation=started, outcome="reject", reason="Private reason text.", actor=manager)
    html = portal.get(url("status", started)).content.decode()
    assert "<strong>Decided.</strong>" in html and "will contact you by email" in html
    assert "Private reason text" not in html and "reject" not in html.lower()
    assert "Feedback from the automatic checks" not in html


RESULTS = [
    {"probe_id": "t1", "failure_mode": "transient", "outcome": "pass", "reason": "r"},
    {"probe_id": "t2", "failure_mode": "transient", "outcome": "pass", "reason": "r"},
    {"probe_id": "t3", "failure_mode": "transient", "outcome": "error", "reason": "infra"},
    {"probe_id": "i1", "failure_mode": "injection", "outcome": "pass", "reason": "r"},
    {"probe_id": "i2", "failure_mode": "injection", "outcome": "fail", "reason": "leaked SECRET-CODE"},
    {"probe_id": "g1", "failure_mode": "grounding", "outcome": "fail", "reason": "made up"},
    {"probe_id": "c1", "failure_mode": "cost", "outcome": "error", "reason": "infra"},
]


def test_released_feedback_shows_one_verdict_per_failure_mode_and_nothing_more(
    portal, started, valid_zip, manager, reviewer
):
    graded_submission(invitation=started, archive=valid_zip, results=RESULTS)
    invitation_mark_reviewed(invitation=started)
    decision_record(invitation=started, outcome="advance", reason="Good.", actor=manager)
    invitation_feedback_release(invitation=started, actor=manager)
    html = portal.get(url("status", started)).content.decode()
    assert "Feedback from the automatic checks" in html
    rows = html[html.index("<tbody>", html.index("feedback-title")) :]
    assert rows.index("Grounding") < rows.index("Injection") < rows.index("Transient")
    assert '<span class="verdict verdict-handled">Handled</span>' in html
    assert '<span class="verdict verdict-partly">Partly handled</span>' in html
    assert '<span class="verdict verdict-not_handled">Not handled</span>' in html
    assert "Cost" not in rows  # only infrastructure errors: no verdict at all
    for secret in ["t1", "i2", "g1", "SECRET-CODE", "made up", "infra"]:
        assert secret not in rows
    assert ProbeResult.objects.count() == len(RESULTS)


def _released_feedback(client, invitation, manager, results, *, graded_under=None) -> str:
    """``invitation``'s status page, as its candidate sees it once feedback on ``results`` is released."""
    token = invitation_token_rotate(invitation=invitation, actor=manager)
    assert client.get(f"/t/{token}/").status_code == 302
    submission = graded_submission(invitation=invitation, results=results)
    if graded_under:
        submission.grading_runs.update(exercise=graded_under)
    invitation_mark_reviewed(invitation=invitation)
    decision_record(invitation=invitation, outcome="advance", reason="Good.", actor=manager)
    invitation_feedback_release(invitation=invitation, actor=manager)
    html = client.get(url("status", invitation)).content.decode()
    return html[html.index("<tbody>", html.index("feedback-title")) :]


def test_feedback_names_and_explains_the_modes_as_the_exercise_declares_them(
    client, custom_assessment, candidate, manager
):
    invitation, _ = invitation_create(assessment=custom_assessment, candidate=candidate, invited_by=manager)
    results = [("idempotency", "pass"), ("ordering", "fail"), ("ordering", "pass"), ("old-slug", "fail")]

    rows = _released_feedback(client, invitation, manager, results)

    # The package's order (ordering is declared first), its titles and its one-line hints for candidates.
    assert rows.index("Event ordering") < rows.index("Idempotency") < rows.index("Old slug")
    assert "Events that arrive late or out of order." in rows
    assert "The same request sent twice must not act twice." in rows
    assert "Staff:" not in rows  # the staff description stays with the staff


def test_feedback_on_a_run_graded_under_another_version_uses_that_versions_words(
    client, custom_assessment, custom_exercise, candidate, manager
):
    older = Exercise.objects.create(
        **{f: getattr(custom_exercise, f) for f in ("slug", "title", "checksum", "package_path", "entry_point")},
        version="1.0.0",
        time_limit_minutes=60,
        rubric_slug="ledger-sync",
        is_current=False,
        failure_modes=[
            {"slug": "idempotency", "title": "Duplicate requests", "hint": "Said in 1.0.0.", "description": ""}
        ],
    )
    invitation, _ = invitation_create(assessment=custom_assessment, candidate=candidate, invited_by=manager)

    rows = _released_feedback(
        client, invitation, manager, [("idempotency", "pass"), ("ordering", "pass")], graded_under=older
    )

    assert "Duplicate requests" in rows and "Said in 1.0.0." in rows and "Idempotency" not in rows
    # A mode 1.0.0 does not declare keeps the assessment's version's words.
    assert "Event ordering" in rows


# --- Source only: what is left out, what is refused ------------------------------------------------

PYC = b"\xcb\r\r\n\x01\x00\x00\x00" + b"\x00" * 40
COMPILED = "compiled Python: we run your source files"


def test_an_upload_with_compiled_python_is_accepted_and_the_pages_name_what_was_left_out(portal, started):
    data = make_zip(
        {
            "echo/__init__.py": "def answer(q):\n    return q\n",
            "echo/__pycache__/__init__.cpython-312.pyc": PYC,
            "echo/model.pyc": PYC + b"more",
        }
    )

    response = upload(portal, started, data)

    assert response.status_code == 302
    submission = Submission.objects.get(invitation=started)
    assert submission.ignored_files == [
        {"path": "echo/__pycache__/__init__.cpython-312.pyc", "size": 48, "reason": COMPILED},
        {"path": "echo/model.pyc", "size": 52, "reason": COMPILED},
    ]
    html = portal.get(url("status", started)).content.decode()
    assert (
        "Upload 1 received. The automatic checks start in a moment. We ignored 2 files: "
        "echo/__pycache__/__init__.cpython-312.pyc and echo/model.pyc (compiled Python: we run your source files)."
    ) in html
    uploads = html.split('id="uploads-title"', 1)[1]
    assert '<code>echo/__pycache__/__init__.cpython-312.pyc</code> <span class="muted">48\xa0bytes</span>' in uploads
    assert "<code>echo/model.pyc</code>" in uploads and "Compiled Python: we run your source files" in uploads
    assert "<details>" not in uploads  # two files are shown as they are


def test_many_left_out_files_are_folded_away_on_the_status_page(portal, started):
    pycs = {f"echo/__pycache__/m{i}.cpython-312.pyc": PYC for i in range(5)}
    submission_upload(invitation=started, archive=make_zip({"echo/__init__.py": "x = 1\n"} | pycs))

    uploads = portal.get(url("status", started)).content.decode().split('id="uploads-title"', 1)[1]

    assert "<details><summary>5 files</summary>" in uploads
    assert all(f"<code>{path}</code>" in uploads for path in pycs)


def test_an_upload_with_a_native_extension_is_refused_naming_it_and_nothing_is_stored(portal, started, settings):
    data = make_zip({"echo/__init__.py": "from echo._fast import answer\n", "echo/_fast.so": b"\x7fELF" + b"\0" * 60})

    response = upload(portal, started, data)

    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was stored." in html
    assert "&#x27;echo/_fast.so&#x27; is a compiled native extension; upload source files only." in html
    _nothing_stored(started, settings)


# --- At most MAX_UPLOADS_PER_INVITATION uploads --------------------------------------------------------


def test_the_upload_page_says_how_many_uploads_are_left_once_one_was_made(portal, started, valid_zip):
    assert "uploads left" not in portal.get(url("upload", started)).content.decode()
    for _ in range(3):
        submission_upload(invitation=started, archive=valid_zip)

    html = portal.get(url("upload", started)).content.decode()

    assert "7 of 10 uploads left." in html and 'id="upload-form"' in html
    assert "7 of 10 uploads left." in portal.get(url("status", started)).content.decode()


def test_the_tenth_upload_is_accepted_and_the_eleventh_refused_before_anything_is_stored(
    portal, started, valid_zip, settings
):
    for _ in range(9):
        submission_upload(invitation=started, archive=valid_zip)
    assert upload(portal, started, valid_zip).status_code == 302
    stored = sorted(StoredArchive.objects.filter(submission__invitation=started).values_list("pk", flat=True))
    assert len(stored) == 10

    response = upload(portal, started, make_zip({"echo/__init__.py": "# the eleventh\n"}))

    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was stored." in html
    assert (
        "You have uploaded 10 times, the most this take-home accepts; your latest upload (number 10, received "
    ) in html
    assert ") is the one assessed. If you need to replace it, write to Alice Manager (alice@example.com)." in html
    assert Submission.objects.filter(invitation=started).count() == 10
    assert GradingRun.objects.filter(submission__invitation=started).count() == 10
    assert sorted(StoredArchive.objects.filter(submission__invitation=started).values_list("pk", flat=True)) == stored
    # With htmx the whole page reloads: it no longer offers the form.
    htmx = upload(portal, started, valid_zip, HX_Request="true")
    assert htmx["HX-Redirect"] == url("upload", started)
    assert "every upload this take-home accepts is used" in portal.get(url("upload", started)).content.decode()
    assert Submission.objects.filter(invitation=started).count() == 10


def test_once_every_upload_is_used_the_pages_offer_no_upload_form(portal, started, valid_zip, settings):
    settings.MAX_UPLOADS_PER_INVITATION = 2
    for _ in range(2):
        submission_upload(invitation=started, archive=valid_zip)

    page = portal.get(url("upload", started)).content.decode()
    status = portal.get(url("status", started)).content.decode()

    assert 'id="upload-form"' not in page and "You have uploaded 2 times, the most this take-home accepts" in page
    assert "Upload a new version" not in status and "No uploads left" in status


def test_the_upload_limit_is_counted_again_under_the_lock_when_the_upload_is_stored(started, valid_zip, settings):
    # Past the friendly check in submission_upload, the row-locked count in submission_accept decides.
    settings.MAX_UPLOADS_PER_INVITATION = 1
    submission_accept(invitation=started, archive=valid_zip)

    with pytest.raises(UploadRejected, match="You have uploaded 1 times, the most this take-home accepts"):
        submission_accept(invitation=started, archive=valid_zip)

    assert Submission.objects.filter(invitation=started).count() == 1


@pytest.mark.skipif(
    "postgresql" not in django_settings.DATABASES["default"]["ENGINE"],
    reason="row locks: SQLite has none (it serialises whole transactions instead)",
)
@pytest.mark.django_db(transaction=True)
def test_two_uploads_at_once_cannot_both_be_the_one_too_many(started, valid_zip, settings):
    settings.MAX_UPLOADS_PER_INVITATION = 2
    submission_accept(invitation=started, archive=valid_zip)
    outcomes = []

    def upload_now():
        try:
            invitation = Invitation.objects.get(pk=started.pk)
            outcomes.append(submission_accept(invitation=invitation, archive=valid_zip).number)
        except UploadRejected as exc:
            outcomes.append(str(exc))
        finally:
            connection.close()

    # Both uploads start while the invitation's row is held, so both are inside submission_accept at once.
    with transaction.atomic():
        Invitation.objects.select_for_update().get(pk=started.pk)
        threads = [threading.Thread(target=upload_now) for _ in range(2)]
        for thread in threads:
            thread.start()
        _wait_for_sessions_waiting_on_a_lock(2)
    for thread in threads:
        thread.join(timeout=60)

    accepted = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, str)]
    assert accepted == [2] and len(refused) == 1 and "the most this take-home accepts" in refused[0]
    assert Submission.objects.filter(invitation=started).count() == 2


def _wait_for_sessions_waiting_on_a_lock(count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # else one snapshot for the whole transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return
            time.sleep(0.05)
    pytest.fail(f"{count} uploads never waited on the invitation's row lock")
