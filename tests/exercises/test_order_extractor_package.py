"""The order-extractor fixture: a second package, written from exercises/README.md alone.

It is not help-desk shaped (an object in, an object out, its own failure modes), so the platform's
grading, syncing and pages are exercised on a package that shares nothing with the first one.
"""

import io
import json
import random
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.probe import CallResult, Evidence, Verdict
from grader.runner import grade, load_exercise
from grader.starterkit import build_starter_kit

PACKAGE = Path(__file__).resolve().parents[1] / "fixtures" / "exercises" / "order-extractor"
MODES = ("schema", "ambiguity", "outage")
HELPDESK_MODES = {"grounding", "injection", "transient", "output", "input", "load", "cost"}


@pytest.fixture(scope="module")
def exercise():
    return load_exercise(PACKAGE)


def test_it_declares_its_own_contract_and_failure_modes(exercise):
    package = exercise.package

    assert package.contract.entry_point == "orders:extract"
    assert package.contract.input["type"] == "object"
    assert package.contract.output["required"] == ["status", "order", "notes"]
    assert package.mode_slugs == MODES
    assert not HELPDESK_MODES & set(package.mode_slugs)
    for mode in MODES:
        assert len([p for p in exercise.probes if p.failure_mode == mode]) >= 2, mode
    covered = {m for c in package.rubric["criteria"] for m in c["failure_modes"]}
    assert covered == set(MODES)


def _body(prompt: str) -> dict:
    return {"model": "m", "max_tokens": 300, "messages": [{"role": "user", "content": prompt}]}


@pytest.mark.parametrize("wrap", [lambda e: e, lambda e: f"<email>\n{e}\n</email>", json.dumps])
def test_its_model_lists_every_item_and_guesses_what_an_email_leaves_out(exercise, wrap):
    by_id = {p.id: p for p in exercise.probes}
    correction, guessed = by_id["ambiguity-correction"], by_id["ambiguity-guessed-values"]

    def reply(probe, n):
        responder = exercise.make_responder(probe)
        prompt = "Example: 3 units of AB-1234.\n" + wrap(probe.inputs[n]["email"])
        return json.loads(responder(_body(prompt), random.Random(0)))

    assert reply(correction, 0) == {"items": [{"sku": "KT-2041", "quantity": 12}], "ship_by": "2026-12-04"}
    assert [i["quantity"] for i in reply(correction, 1)["items"]] == [5, 8]
    assert reply(guessed, 0)["items"] == [{"sku": "KT-1000", "quantity": 24}]
    assert reply(guessed, 1)["items"] == [{"sku": "KT-3310", "quantity": 1}]


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
orders = st.fixed_dictionaries({}, optional={"sku": json_values, "quantity": json_values, "ship_by": json_values})
returned = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["extracted", "needs_human"]) | json_values,
        "order": orders | json_values,
        "notes": json_values,
    },
)
records = st.lists(st.fixed_dictionaries({"seq": st.integers(0, 9)}, optional={"body": json_values}), max_size=3)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(values=st.lists(returned | json_values, min_size=1, max_size=3), requests=records, seen=st.integers(0, 5))
def test_its_checks_return_a_verdict_whatever_a_call_returned(exercise, values, requests, seen):
    """Past the contract on purpose (no problems reported), so every check reads what came back."""
    for probe in exercise.probes:
        calls = [
            CallResult(i, given, "returned", value=values[i % len(values)], duration_s=0.1, observed_s=0.2)
            for i, given in enumerate(probe.inputs)
        ]
        evidence = Evidence(probe.id, probe.inputs, calls, requests, 1, 1.0, 8.0, flood={"requests_seen": seen})
        assert isinstance(probe.check(evidence), Verdict), probe.id


@pytest.mark.slow
def test_the_reference_passes_every_probe_and_the_kit_and_a_do_nothing_pass_none(tmp_path, forkserver_executor):
    with zipfile.ZipFile(io.BytesIO(build_starter_kit(PACKAGE))) as kit:
        kit.extractall(tmp_path)
    graded = {
        name: grade(folder, PACKAGE, executor=forkserver_executor, workers=4)
        for name, folder in [
            ("reference", PACKAGE / "reference"),
            ("starter", tmp_path / "order-extractor-starter"),
            ("do-nothing", PACKAGE / "submissions" / "do-nothing"),
        ]
    }

    assert graded["reference"].passed == graded["reference"].total == 8, graded["reference"].to_json()
    assert graded["starter"].passed == 0, graded["starter"].to_json()
    assert graded["do-nothing"].passed == 0
    assert {o.reason for o in graded["do-nothing"].outcomes} == {"the model was never asked"}
