"""The real anthropic SDK (pinned 2.14.0) against the fake model: for every fault the SDK must do
what it does against the real API. The table in fakemodel's docstring is what these tests saw."""

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import anthropic
import httpx2
import pytest

from grader.fakemodel import FakeModel, estimate_tokens
from tests.grading.conftest import API_KEY, QUESTION, ask

ROOT = Path(__file__).resolve().parents[2]
HOUSE_JSON = {"answer": "Use the reset link.", "citations": ["kb-12", "kb-7"], "quote": "Click reset.", "score": 3}


def house_responder(body, rng):
    return json.dumps(HOUSE_JSON)


def tool_responder(body, rng):
    return {
        "content": [
            {"type": "text", "text": "Let me look that up."},
            {"type": "tool_use", "name": "search_docs", "input": {"query": "reset password", "limit": 3}},
        ]
    }


def gaps(records):
    """Seconds between the end of each attempt and the arrival of the next one."""
    return [b["arrived"] - a["ended"] for a, b in itertools.pairwise(records)]


# -- healthy answers ------------------------------------------------------------------------


def test_it_answers_like_the_api(fake, sdk):
    model = fake("ok")
    message = ask(sdk(model))

    assert isinstance(message, anthropic.types.Message)
    assert message.id.startswith("msg_01") and message.type == "message" and message.role == "assistant"
    assert message.model == "claude-test"
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert QUESTION in message.content[0].text
    body = {"messages": [{"role": "user", "content": QUESTION}]}
    assert message.usage.input_tokens == estimate_tokens(body) == 13  # ceil(51 chars / 4)
    assert message.usage.output_tokens == -(-len(message.content[0].text) // 4)

    (record,) = model.requests
    assert record["status"] == 200 and record["fault"] == "ok" and record["outcome"] == "complete"
    assert record["input_tokens"] == 13 and record["output_tokens"] == message.usage.output_tokens
    assert record["retry_count"] == 0 and record["stream"] is False
    assert record["body"]["messages"][0]["content"] == QUESTION


def test_it_records_the_sdk_headers_and_redacts_the_key(fake, sdk):
    model = fake("ok")
    ask(sdk(model))
    ask(sdk(model, timeout=7.5))
    ask(sdk(model), timeout=3)

    first, second, third = model.requests
    headers = first["headers"]
    assert headers["authorization"] == "Bearer sk-…1234"
    assert API_KEY not in json.dumps(model.requests)
    assert headers["x-stainless-retry-count"] == "0"
    assert headers["x-stainless-read-timeout"] == "600"  # the caller never set a timeout
    assert "anthropic-version" in headers
    assert first["read_timeout"] == 600.0
    # a client-level timeout shows only as the read timeout (the SDK sends x-stainless-timeout: NOT_GIVEN)
    assert second["read_timeout"] == 7.5 and second["timeout"] is None
    assert third["read_timeout"] == 3.0 and third["timeout"] == 3.0
    assert second["arrived"] >= first["ended"] >= first["arrived"]


def test_messages_stream_assembles_the_same_message(fake, sdk):
    plain, streamed = fake("ok", seed=3), fake("ok", seed=3)
    expected = ask(sdk(plain))
    client = sdk(streamed)
    with client.messages.stream(
        model="claude-test", max_tokens=256, messages=[{"role": "user", "content": QUESTION}]
    ) as events:
        text = "".join(events.text_stream)
        final = events.get_final_message()

    assert text == expected.content[0].text
    assert final.id == expected.id
    assert final.content[0].text == expected.content[0].text
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == expected.usage.input_tokens
    assert final.usage.output_tokens == expected.usage.output_tokens
    assert streamed.requests[0]["stream"] is True


def test_it_streams_tool_use_as_input_json_deltas(fake, sdk):
    model = fake("ok", responder=tool_responder)
    client = sdk(model)
    tools = [{"name": "search_docs", "description": "Search", "input_schema": {"type": "object"}}]
    with client.messages.stream(
        model="claude-test", max_tokens=256, tools=tools, messages=[{"role": "user", "content": QUESTION}]
    ) as events:
        kinds = [event.type for event in events]
        final = events.get_final_message()

    assert "input_json" in kinds
    text, tool = final.content
    assert text.text == "Let me look that up."
    assert tool.type == "tool_use" and tool.id.startswith("toolu_") and tool.name == "search_docs"
    assert tool.input == {"query": "reset password", "limit": 3}
    assert final.stop_reason == "tool_use"
    # the same reply without streaming
    again = ask(client, tools=tools)
    assert again.content[1].input == tool.input and again.stop_reason == "tool_use"


def test_a_reply_longer_than_max_tokens_is_truncated_like_the_api(fake, sdk):
    message = ask(sdk(fake("ok")), max_tokens=3)
    assert message.stop_reason == "max_tokens"
    assert len(message.content[0].text) == 12
    assert message.usage.output_tokens == 3


def test_stop_sequences_end_the_reply(fake, sdk):
    message = ask(sdk(fake("ok(text='first part. STOP second part')")), stop_sequences=["STOP"])
    assert message.content[0].text == "first part. "
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "STOP"


# -- status errors and retries ----------------------------------------------------------------


def test_429_is_retried_honouring_retry_after_ms_then_raises(fake, sdk):
    model = fake("429(retry_after_ms=200)")
    with pytest.raises(anthropic.RateLimitError) as caught:
        ask(sdk(model))

    records = model.requests
    assert [r["retry_count"] for r in records] == [0, 1, 2]
    assert all(r["status"] == 429 for r in records)
    assert all(0.19 <= gap < 0.45 for gap in gaps(records)), gaps(records)
    assert caught.value.request_id == records[-1]["request_id"]
    assert caught.value.type == "rate_limit_error"


def test_429_retry_after_in_seconds_is_honoured(fake, sdk):
    model = fake("429(retry_after=1)")
    with pytest.raises(anthropic.RateLimitError):
        ask(sdk(model, max_retries=1))
    (gap,) = gaps(model.requests)
    assert 0.99 <= gap < 1.3


def test_it_recovers_after_n_failures(fake, sdk):
    model = fake("529(retry_after_ms=20)*2,ok")
    message = ask(sdk(model))
    assert message.stop_reason == "end_turn"
    assert [(r["fault"], r["status"], r["retry_count"]) for r in model.requests] == [
        ("529", 529, 0),
        ("529", 529, 1),
        ("ok", 200, 2),
    ]


@pytest.mark.parametrize(
    ("script", "error", "attempts"),
    [
        ("529(retry_after_ms=10)", anthropic.OverloadedError, 3),
        ("500(retry_after_ms=10)", anthropic.InternalServerError, 3),
        ("503(retry_after_ms=10)", anthropic.ServiceUnavailableError, 3),
        ("400", anthropic.BadRequestError, 1),
        ("401", anthropic.AuthenticationError, 1),
        ("413", anthropic.ContentTooLargeError, 1),
        ("529(should_retry=false)", anthropic.OverloadedError, 1),
        ("400(should_retry=true, retry_after_ms=10)", anthropic.BadRequestError, 3),
    ],
)
def test_status_errors_raise_the_sdk_error_after_its_retries(fake, sdk, script, error, attempts):
    model = fake(script)
    with pytest.raises(error) as caught:
        ask(sdk(model))
    records = model.requests
    assert len(records) == attempts
    assert caught.value.status_code == records[0]["status"]
    assert caught.value.request_id == records[-1]["request_id"]
    assert caught.value.body["type"] == "error" and caught.value.type == caught.value.body["error"]["type"]


# -- time: stalls and drips -------------------------------------------------------------------


def test_a_stall_makes_a_short_timeout_fire(fake, sdk):
    model = fake("stall(s=30)")
    started = time.monotonic()
    with pytest.raises(anthropic.APITimeoutError):
        ask(sdk(model, timeout=0.3, max_retries=1))
    assert time.monotonic() - started < 3
    assert model.wait_idle(2)
    records = model.requests
    assert [r["retry_count"] for r in records] == [0, 1]
    for record in records:  # the server saw the client give up after its timeout
        assert record["status"] is None and record["outcome"] == "client_gone"
        # The client's 0.3 s runs from before the request reaches the server, and a loaded machine
        # delays both ends: what matters is that the client stayed a while, then left long before 30 s.
        assert 0.15 <= record["ended"] - record["arrived"] < 2.0


def test_a_stall_then_answers(fake, sdk):
    model = fake("stall(s=0.3)")
    started = time.monotonic()
    assert ask(sdk(model)).stop_reason == "end_turn"
    assert time.monotonic() - started >= 0.3


def test_a_drip_beats_a_per_read_timeout(fake, sdk):
    model = fake("drip(s=0.4, n=5)")
    started = time.monotonic()
    message = ask(sdk(model, timeout=1.0, max_retries=0))
    assert time.monotonic() - started >= 2.0  # twice the timeout, and no APITimeoutError
    assert message.content[0].text
    assert model.requests[0]["status"] == 200 and model.requests[0]["fault"] == "drip"


def test_a_drip_beats_a_per_read_timeout_when_streaming(fake, sdk):
    model = fake("drip(s=0.2, n=6)")
    started = time.monotonic()
    message = ask(sdk(model, timeout=0.5, max_retries=0), stream=True)
    assert time.monotonic() - started >= 1.2
    assert message.stop_reason == "end_turn"


# -- broken connections and bodies -----------------------------------------------------------


def test_a_reset_connection_is_retried_then_raises_a_connection_error(fake, sdk):
    model = fake("reset")
    with pytest.raises(anthropic.APIConnectionError) as caught:
        ask(sdk(model, max_retries=1))
    assert not isinstance(caught.value, anthropic.APITimeoutError)
    assert [(r["status"], r["outcome"]) for r in model.requests] == [(None, "reset")] * 2


def test_a_reset_then_ok_recovers(fake, sdk):
    model = fake("reset,ok")
    assert ask(sdk(model)).stop_reason == "end_turn"
    assert [r["fault"] for r in model.requests] == ["reset", "ok"]


def test_a_200_html_page_comes_back_as_a_string(fake, sdk):
    result = ask(sdk(fake("html")))
    assert isinstance(result, str) and "<html>" in result


def test_a_502_html_page_is_retried_then_an_internal_server_error(fake, sdk):
    model = fake("html(status=502)")
    with pytest.raises(anthropic.InternalServerError) as caught:
        ask(sdk(model, max_retries=1))
    assert caught.value.status_code == 502 and "502 Bad Gateway" in caught.value.body
    assert len(model.requests) == 2


def test_an_html_page_on_a_stream_yields_no_message(fake, sdk):
    with pytest.raises(AssertionError):
        ask(sdk(fake("html")), stream=True)


def test_a_200_with_broken_json_raises_a_bare_json_error(fake, sdk):
    model = fake("badjson")
    with pytest.raises(json.JSONDecodeError) as caught:
        ask(sdk(model))
    assert not isinstance(caught.value, anthropic.APIError)
    assert len(model.requests) == 1  # not retried

    with pytest.raises(json.JSONDecodeError):
        ask(sdk(model), stream=True)


# -- streaming faults ------------------------------------------------------------------------


def test_an_sse_error_event_raises_an_api_status_error_with_status_200(fake, sdk):
    model = fake("sse_error")
    with pytest.raises(anthropic.APIStatusError) as caught:
        ask(sdk(model), stream=True)
    assert caught.value.status_code == 200
    assert caught.value.body["error"]["type"] == "overloaded_error"
    assert len(model.requests) == 1  # not retried


def test_sse_error_on_a_non_streaming_request_is_the_status_error(fake, sdk):
    model = fake("sse_error")
    with pytest.raises(anthropic.OverloadedError):
        ask(sdk(model, max_retries=1))
    assert [r["status"] for r in model.requests] == [529, 529]  # retried


def test_a_stream_cut_before_message_stop_raises_nothing(fake, sdk):
    model = fake("sse_cut")
    message = ask(sdk(model), stream=True)
    assert message.stop_reason is None
    assert QUESTION.startswith(message.content[0].text.split("message: ")[1])  # partial text
    assert model.requests[0]["outcome"] == "cut" and model.requests[0]["status"] is None


def test_a_hard_cut_stream_is_a_protocol_error(fake, sdk):
    with pytest.raises(httpx2.RemoteProtocolError):
        ask(sdk(fake("sse_cut(hard=true)")), stream=True)


def test_a_cut_non_streaming_body_is_a_connection_error(fake, sdk):
    model = fake("sse_cut")
    with pytest.raises(anthropic.APIConnectionError):
        ask(sdk(model, max_retries=1))
    assert len(model.requests) == 2  # retried


# -- content faults --------------------------------------------------------------------------


def test_max_tokens_fault_truncates_the_reply(fake, sdk):
    whole = ask(sdk(fake("ok", responder=house_responder)))
    cut = ask(sdk(fake("max_tokens", responder=house_responder)))
    assert cut.stop_reason == "max_tokens"
    assert whole.content[0].text.startswith(cut.content[0].text)
    assert len(cut.content[0].text) < len(whole.content[0].text)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content[0].text)
    cut = ask(sdk(fake("max_tokens(tokens=2)")), stream=True)
    assert cut.stop_reason == "max_tokens" and len(cut.content[0].text) == 8


def test_empty_content(fake, sdk):
    for stream in (False, True):
        message = ask(sdk(fake("empty")), stream=stream)
        assert message.content == [] and message.stop_reason == "end_turn"
    message = ask(sdk(fake("empty(block=true)")))
    assert message.content[0].text == ""


def test_a_refusal(fake, sdk):
    for stream in (False, True):
        message = ask(sdk(fake("refusal(category=cyber)")), stream=stream)
        assert message.stop_reason == "refusal"
        assert message.stop_details.type == "refusal" and message.stop_details.category == "cyber"


def test_text_corruptions_of_a_json_reply(fake, sdk):
    def text(script):
        return ask(sdk(fake(script, responder=house_responder))).content[0].text

    prose = text("prose")
    assert json.loads(prose[prose.index("{") : prose.rindex("}") + 1]) == HOUSE_JSON
    with pytest.raises(json.JSONDecodeError):
        json.loads(prose)
    assert text("fenced") == f"```json\n{json.dumps(HOUSE_JSON)}\n```"
    for kind in ("truncated", "trailing_comma", "single_quotes"):
        with pytest.raises(json.JSONDecodeError):
            json.loads(text(f"invalid_json(kind={kind})"))
    wrong = json.loads(text("wrong_schema"))
    assert "answer" not in wrong
    assert wrong["citations"] == "kb-12, kb-7" and wrong["score"] == "3" and wrong["confidence"] == "high"


def test_echo_system_leaks_the_system_prompt(fake, sdk):
    message = ask(sdk(fake("echo_system")), system="SECRET escalation code 4417. Be helpful.")
    assert message.content[0].text == "SECRET escalation code 4417. Be helpful."


def test_same_seed_same_requests_same_responses(fake, sdk):
    script = "ok,prose,invalid_json,wrong_schema,max_tokens"

    def run(seed):
        client = sdk(fake(script, seed=seed, responder=house_responder))
        return [ask(client).model_dump() for _ in range(5)]

    assert run(11) == run(11)
    assert run(11) != run(12)


# -- limits ----------------------------------------------------------------------------------


def test_a_prompt_over_the_context_window_is_a_bad_request(fake, sdk):
    model = fake("ok", context_window=50)
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask(sdk(model), messages=[{"role": "user", "content": "x" * 400}])
    assert caught.value.api_message == "prompt is too long: 100 tokens > 50 maximum"
    assert model.requests[0]["fault"] == "context_window"


def test_the_tokens_per_minute_limit(fake, sdk):
    model = fake("ok", tokens_per_minute=30)
    client = sdk(model, max_retries=0)
    ask(client)  # 13 tokens
    ask(client)  # 26
    with pytest.raises(anthropic.RateLimitError) as caught:
        ask(client)  # 39 > 30
    assert 1 <= float(caught.value.response.headers["retry-after"]) <= 60
    assert [r["fault"] for r in model.requests] == ["ok", "ok", "tpm_limit"]


def test_the_concurrency_limit_with_sdk_retries(fake, sdk):
    model = fake("stall(s=0.15)", max_in_flight=2, limit_retry_after=0.05)
    client = sdk(model, max_retries=20)
    results = []

    def worker():
        results.append(ask(client).stop_reason)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert results == ["end_turn"] * 6
    assert model.peak_in_flight == 2
    served = [r for r in model.requests if r["status"] == 200]
    rejected = [r for r in model.requests if r["status"] == 429]
    assert len(served) == 6 and rejected
    assert all(r["in_flight_at_arrival"] < 2 for r in served)
    assert all(r["in_flight_at_arrival"] == 2 and r["fault"] == "concurrency_limit" for r in rejected)


# -- transports and lifecycle ----------------------------------------------------------------


def test_the_sdk_works_over_a_unix_socket(fake, tmp_path):
    path = str(tmp_path / "fake.sock")
    model = fake("429(retry_after_ms=10),ok", unix_socket=path)
    http_client = anthropic.DefaultHttpxClient(transport=httpx2.HTTPTransport(uds=path))
    with anthropic.Anthropic(base_url=model.base_url, api_key=API_KEY, http_client=http_client) as client:
        message = ask(client)
        streamed = ask(client, stream=True)
    assert message.stop_reason == streamed.stop_reason == "end_turn"
    assert [r["status"] for r in model.requests] == [429, 200, 200]
    assert oct(os.stat(path).st_mode & 0o777) == "0o666"
    model.stop()
    assert not os.path.exists(path)


@pytest.mark.parametrize("script", ["stall(s=60)", "drip(s=0.1)"])
def test_stop_returns_promptly_while_a_request_hangs(script, sdk):
    model = FakeModel(script=script).start()
    client = sdk(model, timeout=30, max_retries=0)
    errors = []
    thread = threading.Thread(target=lambda: errors.append(_try(lambda: ask(client))))
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    model.stop()
    assert time.monotonic() - started < 1.0
    thread.join(5)
    assert isinstance(errors[0], anthropic.APIConnectionError | httpx2.HTTPError)
    assert model.requests[0]["outcome"] == "stopped"


def _try(call):
    try:
        return call()
    except Exception as exc:
        return exc


def test_instances_share_nothing(fake, sdk):
    first, second = fake("529"), fake("ok")
    with pytest.raises(anthropic.OverloadedError):
        ask(sdk(first, max_retries=0))
    assert ask(sdk(second)).stop_reason == "end_turn"
    assert [r["fault"] for r in first.requests] == ["529"]
    assert [r["fault"] for r in second.requests] == ["ok"]


def test_reset_clears_records_and_restarts_the_script(fake, sdk):
    model = fake("529,ok")
    client = sdk(model, max_retries=0)
    with pytest.raises(anthropic.OverloadedError):
        ask(client)
    model.reset()
    assert model.requests == []
    with pytest.raises(anthropic.OverloadedError):
        ask(client)
    model.reset(script="refusal")
    assert ask(client).stop_reason == "refusal"
    assert [r["seq"] for r in model.requests] == [0]


def test_the_cli_serves_the_sdk_and_the_control_endpoints(tmp_path):
    responder = tmp_path / "responder.py"
    responder.write_text("def reply(body, rng):\n    return 'from a file responder'\n")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "grader.fakemodel",
            "--port",
            "0",
            "--script",
            "529(retry_after_ms=10),ok",
            "--responder",
            f"{responder}:reply",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("fakemodel listening on http://127.0.0.1:")
        base_url = line.split()[3]
        with anthropic.Anthropic(base_url=base_url, api_key=API_KEY) as client:
            assert ask(client).content[0].text == "from a file responder"
        with httpx2.Client(base_url=base_url) as http:
            records = http.get("/_fake/requests").json()
            assert [(r["fault"], r["status"], r["retry_count"]) for r in records] == [("529", 529, 0), ("ok", 200, 1)]
            assert http.post("/_fake/reset", json={"script": "refusal"}).json() == {"ok": True, "script": "refusal"}
            assert http.get("/_fake/requests").json() == []
    finally:
        process.terminate()
        assert process.wait(5) == 0


def test_the_cli_rejects_a_bad_script():
    result = subprocess.run(
        [sys.executable, "-m", "grader.fakemodel", "--script", "ok,bogus"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "unknown step 'bogus'" in result.stderr
