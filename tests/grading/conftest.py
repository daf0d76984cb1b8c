"""Fixtures for the fake model: servers that stop after the test, and real SDK clients for them."""

import anthropic
import pytest

from grader.fakemodel import FakeModel

API_KEY = "sk-ant-test-0000000000001234"
QUESTION = "How do I reset my password on the customer portal?"


@pytest.fixture
def fake():
    """``fake(script, **options)`` starts a FakeModel that is stopped after the test."""
    started = []

    def start(script="ok", **options):
        model = FakeModel(script=script, **options).start()
        started.append(model)
        return model

    yield start
    for model in started:
        model.stop()


@pytest.fixture
def sdk():
    """``sdk(fake_model, **client_options)`` is a real ``anthropic.Anthropic`` pointed at it."""
    clients = []

    def connect(model, **options):
        options.setdefault("api_key", API_KEY)
        client = anthropic.Anthropic(base_url=model.base_url, **options)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


def ask(client, stream=False, **overrides):
    """One ``messages.create`` (or ``messages.stream`` + final message) with sane defaults."""
    params = {
        "model": "claude-test",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": QUESTION}],
        **overrides,
    }
    if stream:
        with client.messages.stream(**params) as events:
            return events.get_final_message()
    return client.messages.create(**params)
