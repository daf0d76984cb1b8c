"""Raw HTTP against the fake model: the JSON shapes, headers and SSE events it puts on the wire,
the script grammar, and the concurrency limit under 50 simultaneous requests."""

import http.client
import json
import socket
import threading
import time

import pytest

from grader.fakemodel import FakeModel, Step, estimate_tokens, parse_script
from tests.grading.conftest import API_KEY

BODY = {"model": "claude-test", "max_tokens": 64, "messages": [{"role": "user", "content": "Where is my order?"}]}
AUTH = {"authorization": f"Bearer {API_KEY}", "anthropic-version": "2023-06-01", "content-type": "application/json"}


def post(model, body=None, headers=None, path="/v1/messages", connection=None):
    """POST a JSON body; returns (status, lower-cased headers, raw body bytes)."""
    conn = connection or http.client.HTTPConnection("127.0.0.1", model.port, timeout=10)
    payload = body if isinstance(body, bytes) else json.dumps(BODY if body is None else body).encode()
    conn.request("POST", path, body=payload, headers=AUTH if headers is None else headers)
    response = conn.getresponse()
    data = response.read()
    result = response.status, {k.lower(): v for k, v in response.getheaders()}, data
    if connection is None:
        conn.close()
    return result


def events(raw):
    """Parse an SSE body into [(event name, data dict)]."""
    parsed = []
    for block in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.strip("\n").splitlines() if ": " in line)
        if "event" in lines:
            parsed.append((lines["event"], json.loads(lines["data"])))
    return parsed


# -- message shapes --------------------------------------------------------------------------


def test_it_returns_a_message_shaped_like_the_api(fake):
    model = fake("ok")
    status, headers, raw = post(model)
    message = json.loads(raw)

    assert status == 200
    assert headers["content-type"] == "application/json"
    assert headers["request-id"].startswith("req_011") and headers["content-length"] == str(len(raw))
    assert list(message) == [
        "model",
        "id",
        "type",
        "role",
        "content",
        "stop_reason",
        "stop_sequence",
        "stop_details",
        "usage",
    ]
    assert message["id"].startswith("msg_01") and message["type"] == "message" and message["role"] == "assistant"
    assert message["content"] == [{"type": "text", "text": message["content"][0]["text"]}]
    assert (message["stop_reason"], message["stop_sequence"], message["stop_details"]) == ("end_turn", None, None)
    assert message["usage"] == {
        "input_tokens": 5,  # ceil(len("Where is my order?") / 4)
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": message["usage"]["output_tokens"],
        "service_tier": "standard",
    }
    assert model.requests[0]["request_id"] == headers["request-id"]


def test_it_keeps_the_connection_alive(fake):
    model = fake("ok")
    conn = http.client.HTTPConnection("127.0.0.1", model.port, timeout=5)
    post(model, connection=conn)
    first_socket = conn.sock
    status, headers, _ = post(model, connection=conn)
    assert status == 200 and headers["connection"] == "keep-alive"
    assert conn.sock is first_socket  # the same TCP connection served both
    conn.close()


def test_x_api_key_is_accepted_and_redacted_and_missing_auth_is_401(fake):
    model = fake("ok")
    status, _, _ = post(model, headers={"x-api-key": "sk-ant-api03-secretsecret-WXYZ"})
    assert status == 200
    assert model.requests[0]["headers"]["x-api-key"] == "sk-…WXYZ"

    status, _, raw = post(model, headers={"content-type": "application/json"})
    assert status == 401
    assert json.loads(raw)["error"] == {"type": "authentication_error", "message": "x-api-key header is required"}


@pytest.mark.parametrize(
    ("script", "status", "error_type"),
    [
        ("400", 400, "invalid_request_error"),
        ("401", 401, "authentication_error"),
        ("403", 403, "permission_error"),
        ("404", 404, "not_found_error"),
        ("413", 413, "request_too_large"),
        ("429", 429, "rate_limit_error"),
        ("500", 500, "api_error"),
        ("503", 503, "api_error"),
        ("504", 504, "timeout_error"),
        ("529", 529, "overloaded_error"),
        ("500(type=overloaded_error, message='Try later')", 500, "overloaded_error"),
    ],
)
def test_errors_are_shaped_like_the_api(fake, script, status, error_type):
    got, headers, raw = post(fake(script))
    body = json.loads(raw)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert list(body) == ["type", "error", "request_id"] and body["type"] == "error"
    assert list(body["error"]) == ["type", "message"] and body["error"]["type"] == error_type
    assert body["error"]["message"]
    assert headers["request-id"] == body["request_id"]


def test_retry_headers(fake):
    _, headers, _ = post(fake("429"))
    assert headers["retry-after"] == "1" and "retry-after-ms" not in headers
    _, headers, _ = post(fake("429(retry_after_ms=1500)"))
    assert headers["retry-after"] == "2" and headers["retry-after-ms"] == "1500"
    _, headers, _ = post(fake("429(retry_after=none)"))
    assert "retry-after" not in headers
    _, headers, _ = post(fake("529"))
    assert "retry-after" not in headers and "x-should-retry" not in headers
    _, headers, _ = post(fake("529(retry_after=30, should_retry=false)"))
    assert headers["retry-after"] == "30" and headers["x-should-retry"] == "false"


def test_validation_errors(fake):
    model = fake("ok")
    status, _, raw = post(model, body=b"{not json")
    assert status == 400 and json.loads(raw)["error"]["type"] == "invalid_request_error"
    status, _, raw = post(model, body={"model": "m", "messages": BODY["messages"]})
    assert status == 400 and json.loads(raw)["error"]["message"] == "max_tokens: Field required"
    status, _, raw = post(model, body={**BODY, "messages": [{"role": "robot", "content": "hi"}]})
    assert status == 400 and "messages.0.role" in json.loads(raw)["error"]["message"]
    assert [r["fault"] for r in model.requests] == ["invalid_request"] * 3
    # A body the API refuses is not a body the checks may read: only its reason and an excerpt stay.
    refused = model.requests[1]
    assert refused["body"] is None and refused["invalid"] == "max_tokens: Field required"
    assert json.loads(refused["body_excerpt"]) == {"model": "m", "messages": BODY["messages"]}


def test_a_body_over_the_size_limit_is_413(fake):
    model = fake("ok", max_body_bytes=1000)
    status, headers, raw = post(model, body={**BODY, "system": "x" * 2000})
    assert status == 413 and json.loads(raw)["error"]["type"] == "request_too_large"
    assert headers["connection"] == "close"


def test_a_path_prefix_is_accepted_and_unknown_paths_are_404(fake):
    model = fake("ok")
    assert post(model, path="/p/probe-7/v1/messages")[0] == 200
    status, _, raw = post(model, path="/v1/complete")
    assert status == 404 and json.loads(raw)["error"]["type"] == "not_found_error"
    assert model.requests[0]["path"] == "/p/probe-7/v1/messages"


def test_count_tokens(fake):
    model = fake("529")
    status, _, raw = post(model, path="/v1/messages/count_tokens", body={"model": "m", "messages": BODY["messages"]})
    assert status == 200 and json.loads(raw) == {"input_tokens": 5}
    assert model.requests[0]["fault"] == "count_tokens"


def test_estimate_tokens_counts_system_messages_and_tools():
    body = {
        "system": [{"type": "text", "text": "abcd" * 10}],  # 40
        "messages": [
            {"role": "user", "content": "abcd"},  # 4
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "find", "input": {"q": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "abcdefgh"}]},  # 8
        ],
        "tools": [{"name": "find"}],  # '[{"name":"find"}]' = 17
    }
    # tool_use: "find" + '{"q":1}' = 4 + 7
    assert estimate_tokens(body) == -(-(40 + 4 + 11 + 8 + 17) // 4) == 20
    assert estimate_tokens({"messages": []}) == 1


# -- streaming on the wire -------------------------------------------------------------------


def test_a_stream_has_the_api_event_sequence(fake):
    status, headers, raw = post(fake("ok"), body={**BODY, "stream": True})
    assert status == 200
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["transfer-encoding"] == "chunked"
    sequence = events(raw)
    names = [name for name, _ in sequence]
    deltas = names.count("content_block_delta")
    assert deltas >= 2
    assert names == ["message_start", "content_block_start", "ping"] + ["content_block_delta"] * deltas + [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(name == data["type"] for name, data in sequence)
    start = sequence[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["usage"]["input_tokens"] == 5
    assert sequence[1][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert all(data["delta"]["type"] == "text_delta" for name, data in sequence if name == "content_block_delta")
    delta = sequence[-2][1]
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"]["output_tokens"] >= 1


def test_a_streamed_tool_use_sends_input_json_deltas(fake):
    def responder(body, rng):
        return {"content": [{"type": "tool_use", "name": "lookup", "input": {"order": "A-1234", "full": True}}]}

    _, _, raw = post(fake("ok", responder=responder), body={**BODY, "stream": True})
    sequence = events(raw)
    block = sequence[1][1]["content_block"]
    assert block["type"] == "tool_use" and block["name"] == "lookup" and block["input"] == {}
    partial = [d["delta"]["partial_json"] for n, d in sequence if n == "content_block_delta"]
    assert partial[0] == "" and len(partial) > 2
    assert json.loads("".join(partial)) == {"order": "A-1234", "full": True}
    assert sequence[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_sse_error_and_sse_cut_on_the_wire(fake):
    _, _, raw = post(fake("sse_error(type=api_error, after=2)"), body={**BODY, "stream": True})
    sequence = events(raw)
    assert [n for n, _ in sequence] == ["message_start", "content_block_start", "error"]
    assert sequence[-1][1] == {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}

    model = fake("sse_cut(after=3)")
    status, _, raw = post(model, body={**BODY, "stream": True})
    assert status == 200
    assert [n for n, _ in events(raw)] == ["message_start", "content_block_start", "ping"]
    assert model.requests[0]["status"] is None and model.requests[0]["outcome"] == "cut"


def test_a_stall_sends_nothing_until_its_time(fake):
    model = fake("stall(s=0.5)")
    with socket.create_connection(("127.0.0.1", model.port)) as sock:
        payload = json.dumps(BODY).encode()
        head = f"POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\ncontent-length: {len(payload)}\r\n\r\n"
        sock.sendall(head.encode() + payload)
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        sock.settimeout(2)
        assert sock.recv(12) == b"HTTP/1.1 200"


def test_a_drip_sends_headers_then_a_byte_at_a_time(fake):
    model = fake("drip(s=0.2, n=3)")
    conn = http.client.HTTPConnection("127.0.0.1", model.port, timeout=5)
    conn.request("POST", "/v1/messages", body=json.dumps(BODY), headers=AUTH)
    started = time.monotonic()
    response = conn.getresponse()
    assert response.status == 200 and time.monotonic() - started < 0.15  # headers at once
    arrivals = []
    while chunk := response.read1(65536):
        arrivals.append((time.monotonic() - started, chunk))
    assert [c for _, c in arrivals[:3]] == [b"\n"] * 3
    assert all(t >= 0.2 * (i + 1) - 0.02 for i, (t, _) in enumerate(arrivals[:3]))  # one every 0.2 s
    assert arrivals[2][0] < 2
    assert json.loads(b"".join(c for _, c in arrivals))["type"] == "message"  # leading whitespace is legal JSON
    conn.close()


def test_badjson_and_html_bodies(fake):
    status, headers, raw = post(fake("badjson"))
    assert status == 200 and headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    status, headers, raw = post(fake("html(status=503)"))
    assert status == 503 and headers["content-type"] == "text/html"
    assert b"<title>503 Service Unavailable</title>" in raw


def test_a_reset_sends_no_response(fake):
    model = fake("reset")
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        post(model)
    assert model.requests[0]["status"] is None and model.requests[0]["outcome"] == "reset"


# -- the concurrency limit -------------------------------------------------------------------


def test_fifty_concurrent_requests_against_a_limit_of_four(fake):
    model = fake("stall(s=2)", max_in_flight=4)  # long enough for all 50 to arrive while 4 are held
    barrier = threading.Barrier(50)
    results = []

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", model.port, timeout=10)
        conn.connect()
        barrier.wait()
        conn.request("POST", "/v1/messages", body=json.dumps(BODY), headers=AUTH)
        response = conn.getresponse()
        results.append((response.status, response.getheader("retry-after"), json.loads(response.read())))
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)

    served = [r for r in results if r[0] == 200]
    rejected = [r for r in results if r[0] == 429]
    assert len(served) == 4 and len(rejected) == 46
    assert all(retry_after == "1" and body["error"]["type"] == "rate_limit_error" for _, retry_after, body in rejected)

    records = model.requests
    assert model.peak_in_flight == 4
    assert sorted(r["status"] for r in records) == [200] * 4 + [429] * 46
    assert all(r["in_flight_at_arrival"] < 4 and r["fault"] == "stall" for r in records if r["status"] == 200)
    assert all(
        r["in_flight_at_arrival"] == 4 and r["fault"] == "concurrency_limit" for r in records if r["status"] == 429
    )
    # never more than four served at once, by the records' own clocks
    served_spans = [(r["arrived"], r["ended"]) for r in records if r["status"] == 200]
    assert max(sum(a <= t < e for a, e in served_spans) for t, _ in served_spans) == 4
    assert all(r["ended"] < min(e for _, e in served_spans) for r in records if r["status"] == 429)


# -- control endpoints -----------------------------------------------------------------------


def test_control_endpoints_are_off_in_process_by_default(fake):
    model = fake("ok")
    conn = http.client.HTTPConnection("127.0.0.1", model.port, timeout=5)
    conn.request("GET", "/_fake/requests")
    assert conn.getresponse().status == 404
    conn.close()


def test_control_endpoints_when_enabled(fake):
    model = fake("529,ok", control_endpoints=True)
    post(model)
    conn = http.client.HTTPConnection("127.0.0.1", model.port, timeout=5)
    conn.request("GET", "/_fake/requests")
    records = json.loads(conn.getresponse().read())
    assert [(r["seq"], r["fault"], r["status"]) for r in records] == [(0, "529", 529)]
    conn.request("POST", "/_fake/reset", body=json.dumps({"script": "bogus"}))
    response = conn.getresponse()
    assert response.status == 400 and "unknown step 'bogus'" in json.loads(response.read())["error"]
    conn.request("POST", "/_fake/reset", body=b"")
    assert json.loads(conn.getresponse().read()) == {"ok": True, "script": "529,ok"}
    conn.close()
    assert model.requests == []
    assert post(model)[0] == 529  # the script starts over


# -- the script grammar ----------------------------------------------------------------------


def test_parse_script_reads_steps_parameters_and_counts():
    steps = parse_script(" 529*3 , 429(retry_after=2, should_retry=false),stall(s=0.5),ok(text='a, (b)'), html ")
    assert [(s.name, s.params, s.count) for s in steps] == [
        ("529", {}, 3),
        ("429", {"retry_after": 2.0, "should_retry": False}, 1),
        ("stall", {"s": 0.5}, 1),
        ("ok", {"text": "a, (b)"}, 1),
        ("html", {}, 1),
    ]
    assert steps[1].source == "429(retry_after=2, should_retry=false)" and steps[1].status == 429
    assert parse_script('ok(text="say \\"hi\\"")')[0].params == {"text": 'say "hi"'}
    assert parse_script("429(retry_after=none)")[0].params == {"retry_after": None}
    assert parse_script("invalid_json(kind=trailing_comma)")[0].params == {"kind": "trailing_comma"}
    assert isinstance(steps[0], Step)
    for name in ("ok", "reset", "badjson", "max_tokens", "empty", "refusal", "sse_error", "sse_cut", "drip"):
        assert parse_script(name)[0].name == name


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("", "empty"),
        ("bogus", "unknown step 'bogus'"),
        ("ok,", "expected a step name"),
        ("200", "not an error status"),
        ("stall(x=1)", "takes no parameter 'x'"),
        ("stall(s=-1)", "must be a finite number >= 0"),
        ("429(retry_after=soon)", "429(retry_after=soon)"),
        ("ok*0", "at least 1"),
        ("ok(text='open", "unterminated"),
        ("529 ok", "expected ',' between steps"),
        ("invalid_json(kind=weird)", "must be one of"),
        ("drip(s=1", "expected ',' or ')'"),
    ],
)
def test_parse_script_rejects_bad_scripts_clearly(script, message):
    with pytest.raises(ValueError, match="bad fake-model script") as caught:
        parse_script(script)
    assert message in str(caught.value)


def test_steps_are_consumed_one_per_request_and_the_last_repeats(fake):
    model = fake("529*2,ok,500")
    assert [post(model)[0] for _ in range(6)] == [529, 529, 200, 500, 500, 500]
    assert [r["step"] for r in model.requests] == ["529", "529", "ok", "500", "500", "500"]


def test_rejected_requests_do_not_consume_steps(fake):
    model = fake("529,ok")
    assert post(model, body=b"nope")[0] == 400
    assert post(model)[0] == 529
    assert post(model)[0] == 200


def test_a_failing_responder_is_a_500_not_a_hang(fake):
    def responder(body, rng):
        raise RuntimeError("exercise bug")

    status, _, raw = post(fake("ok", responder=responder))
    assert status == 500 and "exercise bug" in json.loads(raw)["error"]["message"]


def test_stop_is_idempotent_and_frees_the_port():
    model = FakeModel().start()
    port = model.port
    model.stop()
    model.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
