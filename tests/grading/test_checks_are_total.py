"""Hidden checks are total: nothing a candidate can send makes one raise.

A check (or a responder) that raises is the platform's error, and an error must never be something
a submission can bring about. So: arbitrary JSON bodies, headers and raw bytes are thrown at a real
fake model over a real socket, with the responder of any probe of any bundled exercise; arbitrary
events stand in for what the harness reported, and every check of every bundled exercise is run
over the records. Each must return a verdict; the stored evidence
must be JSON that PostgreSQL accepts (no NaN, bounded).
"""

import json
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assessments.grading.engine import db_safe
from grader.fakemodel import FakeModel
from grader.probe import Evidence, Verdict
from grader.runner import _call_result, load_exercise

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "exercises"
EXERCISES = [ROOT / "exercises" / "helpdesk-answerer", FIXTURES / "tiny-echo", FIXTURES / "order-extractor"]
SCRIPTS = ["ok", "429", "529", "badjson", "max_tokens", "prose", "fenced", "wrong_schema", "empty", "refusal"]

_RESPONDERS = {path.name: load_exercise(path) for path in EXERCISES}
_PROBES = [(probe, loaded.output_schema) for loaded in _RESPONDERS.values() for probe in loaded.probes]

# --- what a hostile client can send ---------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
blocks = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": json_values}),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["tool_use", "tool_result", "image", "x"])},
        optional={
            "content": json_values,
            "input": json_values,
            "name": json_values,
            "text": json_values,
        },
    ),
    json_values,
)
messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant", "system", 5]),
            "content": st.text() | st.lists(blocks, max_size=3),
        }
    )
    | json_values,
    max_size=4,
)


# Each field is either of a plausible shape or of any other type at all (type confusion is what
# breaks a reader: an int where a list was expected).
def _or_anything(strategy):
    return st.one_of(strategy, scalars, json_values)


near_valid_bodies = st.fixed_dictionaries(
    {
        "model": _or_anything(st.text(min_size=1, max_size=20)),
        "max_tokens": _or_anything(st.integers(1, 100_000)),
        "messages": _or_anything(messages),
    },
    optional={
        "system": _or_anything(st.text() | st.lists(blocks, max_size=3)),
        "stream": _or_anything(st.booleans()),
        "stop_sequences": _or_anything(st.lists(st.text(max_size=5), max_size=3)),
        "tools": json_values,
        "temperature": json_values,
        "metadata": json_values,
    },
)
bodies = st.one_of(
    near_valid_bodies.map(lambda b: json.dumps(b).encode()),
    near_valid_bodies.map(lambda b: json.dumps(b).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.just(b"[" * 100_000),  # nesting past the JSON parser's recursion limit
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
extra_headers = st.dictionaries(
    st.sampled_from(
        ["x-stainless-retry-count", "x-stainless-read-timeout", "x-stainless-timeout", "x-api-key", "authorization"]
    )
    | header_text.filter(lambda h: h.strip() and ":" not in h),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "-1", "0", "2.5"]) | header_text,
    max_size=5,
)
# Usually authenticated (else the fake stops at the 401 and reads no body), sometimes not.
headers = st.one_of(extra_headers.map(lambda h: {"x-api-key": "sk-ant-k", **h}), extra_headers)
paths = st.sampled_from(["/v1/messages", "/v1/messages/count_tokens", "/p/x/v1/messages", "/other"])

# --- what the harness (or the candidate's code, writing on its channel) can report ----------------

views = st.fixed_dictionaries(
    {},
    optional={
        "keys": json_values,
        "status": st.sampled_from(["answered", "unknown", "unavailable", "rejected"]) | json_values,
        "answer": st.text() | json_values,
        "citations": st.lists(st.text(max_size=20) | json_values, max_size=3) | json_values,
    },
)
# Most reported calls keep the contract, or the checks would stop at the contract and never read
# the model traffic; the rest are anything at all.
contract_keeping = st.fixed_dictionaries(
    {
        "outcome": st.just("returned"),
        "value": st.fixed_dictionaries(
            {
                "keys": st.just(["answer", "citations", "status"]),
                "status": st.sampled_from(["answered", "unknown", "unavailable", "rejected"]),
                "answer": st.text(max_size=80),
                "citations": st.lists(st.text(max_size=20), min_size=1, max_size=3),
            }
        ),
        "problems": st.just([]),
        "duration_s": st.floats(0, 5),
    }
)
anything = st.fixed_dictionaries(
    {"outcome": st.sampled_from(["returned", "raised"]) | json_values},
    optional={
        "value": views | json_values,
        "problems": json_values,
        "raised": json_values,
        "duration_s": st.floats() | json_values,
    },
)
events = st.one_of(contract_keeping, contract_keeping, contract_keeping, anything)


def _send(fake: FakeModel, path: str, head: dict, body: bytes) -> None:
    lines = [f"POST {path} HTTP/1.1", "host: fake", f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in head.items()]
    lines.append("connection: close")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection((fake.host, fake.port), timeout=5) as sock:
        sock.sendall(raw)
        while sock.recv(65536):
            pass


@pytest.mark.slow
@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    exercise=st.sampled_from(sorted(_RESPONDERS)),
    which=st.integers(0, 1_000),
    script=st.sampled_from(SCRIPTS),
    traffic=st.lists(st.tuples(paths, headers, bodies), min_size=1, max_size=4),
    reported=st.lists(events, min_size=1, max_size=4),
)
def test_every_check_returns_a_verdict_whatever_was_sent(exercise, which, script, traffic, reported):
    loaded = _RESPONDERS[exercise]
    responder = loaded.make_responder(loaded.probes[which % len(loaded.probes)])
    fake = FakeModel(script=script, responder=responder).start()
    try:
        for path, head, body in traffic:
            _send(fake, path, head, body)
        fake.wait_idle(timeout=5)
        records, flood = fake.requests, fake.flood
    finally:
        fake.stop()

    # Responders are total too: one that raises is the package's bug, which a submission must
    # never be able to bring about (it would turn the candidate's probe into an error).
    assert [r["seq"] for r in records if r.get("fault") == "responder_error"] == []
    for probe, schema in _PROBES:
        calls = [
            _call_result(i, given, reported[i % len(reported)], observed=0.5, output_schema=schema)
            for i, given in enumerate(probe.inputs)
        ]
        evidence = Evidence(probe.id, probe.inputs, calls, records, 1, 1.0, 20.0, flood=flood)
        verdict = probe.check(evidence)  # must not raise
        assert isinstance(verdict, Verdict), probe.id
        stored = db_safe(evidence.to_json())
        json.dumps(stored, allow_nan=False)  # what PostgreSQL's jsonb accepts
        assert len(json.dumps(stored)) < 400_000


def test_a_refused_body_reaches_no_check():
    """The poisoned request of the integrity report: ``"messages": 5`` made 16-18 of 40 checks raise."""
    fake = FakeModel(script="ok").start()
    try:
        _send(
            fake,
            "/v1/messages",
            {"x-api-key": "k"},
            json.dumps({"model": "m", "max_tokens": 5, "messages": 5}).encode(),
        )
        fake.wait_idle(timeout=5)
        (record,) = fake.requests
    finally:
        fake.stop()

    assert record["status"] == 400 and record["body"] is None
    assert record["invalid"] == "messages: Field required"
    assert '"messages": 5' in record["body_excerpt"]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_a_header_never_records_a_number_json_cannot_hold(value):
    fake = FakeModel(script="ok").start()
    try:
        body = json.dumps({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}).encode()
        _send(fake, "/v1/messages", {"x-api-key": "k", "x-stainless-read-timeout": value}, body)
        fake.wait_idle(timeout=5)
        (record,) = fake.requests
    finally:
        fake.stop()

    assert record["status"] == 200 and record["read_timeout"] is None
