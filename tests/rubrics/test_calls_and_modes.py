"""The review page as a reviewer reads it: failure modes in the exercise's words, and each call shown
whatever the exercise's contract (a tree of the input and the returned value, or the package's own
``templates/call.html``)."""

import logging
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.template import Context
from django.urls import reverse

from assessments.models import Exercise
from grader.package import load_package
from rubrics.call_templates import package_call_template
from rubrics.services import review_assign
from tests.builders import evidence, graded_submission, package_files_write
from workflows.exercises import exercise_sync

HOSTILE = "<script>steal('ledger')</script>"


def _call(**fields) -> dict:
    call = {
        "index": 0,
        "input": "hello",
        "outcome": "returned",
        "value": {"ok": True},
        "problems": [],
        "raised": None,
        "duration_s": 0.2,
        "observed_s": 0.3,
    }
    return call | fields


def _result(probe_id: str, mode: str, calls: list[dict], outcome: str = "pass") -> dict:
    return {
        "probe_id": probe_id,
        "failure_mode": mode,
        "outcome": outcome,
        "reason": f"{probe_id}: {outcome}",
        "evidence": {"description": f"What {probe_id} does.", "calls": calls, "requests": []},
        "duration_s": 1.0,
    }


def _review_page(client, reviewer, assessment, results, **upload) -> str:
    submission = graded_submission(assessment, results=results, **upload)
    review = review_assign(submission=submission, reviewer=reviewer)
    client.force_login(reviewer)
    response = client.get(reverse("rubrics:review", args=[review.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    return html[html.index('id="evidence-title"') : html.index('id="code-title"')]


def _calls(evidence_html: str) -> list[str]:
    return [part.split("</dl>", 1)[0] for part in evidence_html.split('<dl class="call">')[1:]]


# --- Failure modes --------------------------------------------------------------------------------


def test_the_evidence_is_grouped_under_the_exercises_modes_with_their_staff_descriptions(
    client, reviewer, custom_assessment
):
    results = [
        _result("dup-charge", "idempotency", [_call()]),
        _result("shuffled", "ordering", [_call()], "fail"),
        _result("from-before", "retired-mode", [_call()]),
    ]

    html = _review_page(client, reviewer, custom_assessment, results)

    titles = [part.split("</h3>", 1)[0] for part in html.split("<h3>")[1:]]
    # The package's order, then a slug no version declares (old data), titled from its slug.
    assert titles == ["Event ordering", "Idempotency", "Retired mode"]
    assert '<p class="mode-desc">Staff: each probe replays a payment with the same key' in html
    assert "webhooks are delivered shuffled and duplicated" in html


def test_the_rubric_says_which_of_the_exercises_modes_a_criterion_covers(client, reviewer, custom_assessment):
    submission = graded_submission(custom_assessment, results=[("idempotency", "pass"), ("ordering", "fail")])
    review = review_assign(submission=submission, reviewer=reviewer)
    client.force_login(reviewer)

    html = client.get(reverse("rubrics:review", args=[review.pk])).content.decode()

    # Each mode's title links to that mode's evidence, beside which the reviewer reads it.
    link = '<a href="#mode-{}" class="mode-link">{}</a>'
    assert f"Suggestion from the probes ({link.format('idempotency', 'Idempotency')}): <strong>level 3</strong>" in html
    assert f"Suggestion from the probes ({link.format('ordering', 'Event ordering')}): <strong>level 0</strong>" in html
    assert 'id="mode-idempotency"' in html and 'id="mode-ordering"' in html


# --- Calls, whatever the contract -----------------------------------------------------------------


def test_an_object_input_and_a_nested_value_are_shown_as_trees(client, reviewer, custom_assessment):
    call = _call(
        input={"account": "acc-1", "amount": 42, "tags": ["refund", "eu"]},
        value={
            "status": "posted",
            "ledger": {"balance": 10.5, "entries": [{"id": "e1", "reversed": False, "memo": None}]},
            "empty": {},
        },
    )

    (shown,) = _calls(_review_page(client, reviewer, custom_assessment, [_result("p", "idempotency", [call])]))

    given, returned = shown.split("<dt>Returned")
    assert (
        '<span class="jt-key">account</span><span class="jt-punct">:</span> <span class="jt-str">"acc-1"</span>'
        in given
    )
    assert (
        '<span class="jt-key">amount</span><span class="jt-punct">:</span> <span class="jt-number">42</span>' in given
    )
    assert '<span class="jt-key">tags</span><span class="jt-punct">:</span> <span class="jt-punct">[</span>' in given
    assert '<span class="jt-str">"refund"</span>' in given
    # Nested objects are nested lists: ledger holds entries, which holds one object.
    ledger = returned[returned.index('<span class="jt-key">ledger</span>') :]
    assert ledger.index("balance") < ledger.index("entries") < ledger.index('"e1"')
    assert ledger.count("<ul>") >= 3
    assert '<span class="jt-literal">false</span>' in returned and '<span class="jt-literal">null</span>' in returned
    assert (
        '<span class="jt-key">empty</span><span class="jt-punct">:</span> <span class="jt-empty">{}</span>' in returned
    )
    assert returned.startswith('<span class="call-time">0.3 s</span></dt>')


def test_candidate_text_in_a_value_its_keys_and_the_input_is_escaped(client, reviewer, custom_assessment):
    call = _call(input={"note": HOSTILE}, value={"answer": HOSTILE, HOSTILE: [HOSTILE]}, problems=[HOSTILE])

    html = _review_page(client, reviewer, custom_assessment, [_result("p", "idempotency", [call])])

    assert "<script>" not in html
    assert html.count("&lt;script&gt;steal(&#x27;ledger&#x27;)&lt;/script&gt;") == 5


def test_a_long_string_is_cut_with_the_rest_behind_show_more(client, reviewer, custom_assessment):
    call = _call(value={"essay": "a" * 400 + "b" * 600})

    (shown,) = _calls(_review_page(client, reviewer, custom_assessment, [_result("p", "idempotency", [call])]))

    assert '<span class="jt-str">"' + "a" * 400 + "…</span>" in shown
    assert "<summary>show 600 more characters</summary>" in shown and "b" * 600 + '"</span>' in shown


def test_what_a_call_did_instead_of_returning_is_a_badge_and_its_problems_are_listed(
    client, reviewer, custom_assessment
):
    calls = [
        _call(outcome="raised", value=None, raised="KeyError: 'amount'"),
        _call(outcome="timed_out", value=None),
        _call(outcome="not_run", value=None),
        _call(value="posted", problems=["is a string, not an object"]),
    ]

    raised, timed_out, not_run, wrong = _calls(
        _review_page(client, reviewer, custom_assessment, [_result("p", "idempotency", calls, "fail")])
    )

    assert (
        '<span class="badge badge-bad">raised</span> <span class="call-text">KeyError: &#x27;amount&#x27;</span>'
        in raised
    )
    assert '<span class="badge badge-bad">timed out</span>' in timed_out
    assert '<span class="badge badge-bad">not run</span>' in not_run
    assert '<span class="jt-str">"posted"</span>' in wrong and "<li>is a string, not an object</li>" in wrong


def test_a_call_stored_before_inputs_were_json_still_renders(client, reviewer, custom_assessment):
    old = {
        "index": 0,
        "question": "How do I export invoices?",
        "outcome": "returned",
        "value": {"keys": ["status", "answer"], "status": "answered", "answer": "From Reports.", "citations": []},
        "problems": [],
        "raised": None,
        "observed_s": 1.2,
    }

    (shown,) = _calls(_review_page(client, reviewer, custom_assessment, [_result("p", "idempotency", [old])]))

    assert '<dt>Input</dt><dd><span class="call-text">How do I export invoices?</span></dd>' in shown
    assert (
        '<span class="jt-key">answer</span><span class="jt-punct">:</span> <span class="jt-str">"From Reports."</span>'
        in shown
    )
    assert ">keys<" not in shown  # the old summary's list of keys was never something the code returned


# --- The package's own view of a call -------------------------------------------------------------


@pytest.fixture
def helpdesk_assessment(assessment):
    """An assessment of the real help-desk package (synced here, with its rubric)."""
    exercise, _ = exercise_sync(package=load_package(Path(settings.BASE_DIR) / "exercises" / "helpdesk-answerer"))
    assessment.exercise = exercise
    assessment.save(update_fields=["exercise"])
    return assessment


def test_the_help_desk_review_page_shows_calls_with_its_package_template(client, reviewer, helpdesk_assessment):
    hostile = evidence()
    hostile["calls"][0]["value"]["answer"] = HOSTILE
    results = [
        {
            "probe_id": "grounding-1",
            "failure_mode": "grounding",
            "outcome": "pass",
            "reason": "ok",
            "evidence": evidence(),
        },
        {"probe_id": "grounding-2", "failure_mode": "grounding", "outcome": "fail", "reason": "x", "evidence": hostile},
    ]
    upload = {"files": {"helpdesk/__init__.py": "def answer(question):\n    return {}\n"}}

    html = _review_page(client, reviewer, helpdesk_assessment, results, **upload)

    assert html.count('<div class="call-custom">') == 2 and "jt-key" not in html
    second, first = _calls(html)  # failures first
    assert "<dt>Question</dt><dd>How often are bank feeds checked?</dd>" in first
    assert '<span class="badge">answered</span> Every 4 hours. <span class="muted">cites bank-feeds</span>' in first
    assert '<span class="muted">(1.1 s)</span>' in first
    assert "&lt;script&gt;steal(" in second and "<script>" not in html
    assert "<h3>Grounding</h3>" in html and "right article is found in a large corpus" in html


def _write_call_template(exercise, text: str) -> None:
    package_files_write(exercise, {"templates/call.html": text})


def test_a_package_template_is_given_the_stored_call_and_its_output_is_escaped(
    client, reviewer, custom_assessment, custom_exercise
):
    _write_call_template(custom_exercise, '<p class="ledger-call">{{ call.input.account }} → {{ call.value.memo }}</p>')
    call = _call(input={"account": "acc-9"}, value={"memo": HOSTILE})

    html = _review_page(client, reviewer, custom_assessment, [_result("p", "idempotency", [call])])

    assert '<div class="call-custom"><p class="ledger-call">acc-9 → &lt;script&gt;steal(' in html
    assert "<script>" not in html and '<dl class="call">' not in html


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{% if %}broken{% endif %}", "does not compile"),
        ("{% load humanize %}{{ call.input|intcomma }}", "does not compile"),  # no tag library beyond the built-ins
        ('{% include "rubrics/review.html" %}', "failed on 1 of 1 calls"),  # nor any other file
    ],
)
def test_a_broken_package_template_falls_back_to_the_generic_view_with_a_warning(
    client, reviewer, custom_assessment, custom_exercise, caplog, template, why
):
    _write_call_template(custom_exercise, template)

    with caplog.at_level(logging.WARNING, logger="rubrics.call_templates"):
        html = _review_page(client, reviewer, custom_assessment, [_result("p", "idempotency", [_call(input="hi")])])

    assert "call-custom" not in html
    assert '<dt>Input</dt><dd><span class="call-text">hi</span></dd>' in html
    assert any(why in record.getMessage() for record in caplog.records)


def test_a_changed_package_template_is_read_again(client, reviewer, custom_assessment, custom_exercise):
    _write_call_template(custom_exercise, "<p>first view</p>")
    submission = graded_submission(custom_assessment, results=[_result("p", "idempotency", [_call()])])
    review = review_assign(submission=submission, reviewer=reviewer)
    client.force_login(reviewer)
    page = reverse("rubrics:review", args=[review.pk])
    assert "<p>first view</p>" in client.get(page).content.decode()

    _write_call_template(custom_exercise, "<p>second view</p>")

    assert "<p>second view</p>" in client.get(page).content.decode()


def test_a_template_edited_in_place_is_compiled_again(tmp_path):
    """The compiled template is kept per file until the file changes (it is read on every review page)."""
    path = tmp_path / "templates" / "call.html"
    path.parent.mkdir()
    path.write_text("<p>first view</p>")
    assert package_call_template(str(tmp_path)).render(Context({})) == "<p>first view</p>"

    path.write_text("<p>second view</p>")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    assert package_call_template(str(tmp_path)).render(Context({})) == "<p>second view</p>"


def test_the_review_page_shows_evidence_when_the_exercise_files_cannot_be_had(
    client, reviewer, custom_assessment, custom_exercise
):
    """Never stored, and the folder it was synced from holds other files: the generic view, not a 500."""
    Exercise.objects.filter(pk=custom_exercise.pk).update(checksum="0" * 64)

    html = _review_page(client, reviewer, custom_assessment, [_result("p", "idempotency", [_call(input="hi")])])

    assert '<dt>Input</dt><dd><span class="call-text">hi</span></dd>' in html


def test_the_admin_names_modes_as_the_exercise_does(client, custom_assessment):
    submission = graded_submission(custom_assessment, results=[("idempotency", "pass"), ("retired-mode", "fail")])
    client.force_login(User.objects.create_superuser("root", "root@example.com", "x"))

    exercises = client.get(reverse("admin:assessments_exercise_changelist")).content.decode()
    run = client.get(reverse("admin:assessments_gradingrun_change", args=[submission.grading_runs.get().pk]))
    rubric = client.get(reverse("admin:rubrics_rubric_change", args=[custom_assessment.rubric.pk]))

    assert "Event ordering, Idempotency" in exercises
    assert "Idempotency (idempotency)" in run.content.decode() and "Retired mode (retired-mode)" in run.content.decode()
    assert '<div class="readonly">Idempotency</div>' in rubric.content.decode()
