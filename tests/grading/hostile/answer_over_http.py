"""A tiny submission (copied into a temporary folder as helpdesk/__init__.py by the tests): it asks
the model over plain HTTP, so a test needs no 3-second ``import anthropic``."""

import json
import os
import urllib.request


def answer(question: str) -> dict:
    request = urllib.request.Request(  # noqa: S310 - the fake model, over http
        os.environ["ANTHROPIC_BASE_URL"] + "/v1/messages",
        data=json.dumps(
            {"model": "claude-test", "max_tokens": 64, "messages": [{"role": "user", "content": question}]}
        ).encode(),
        headers={"content-type": "application/json", "x-api-key": os.environ["ANTHROPIC_API_KEY"]},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        message = json.load(response)
    text = "".join(block["text"] for block in message["content"] if block["type"] == "text")
    return {"status": "answered", "answer": text, "citations": ["reset-password"]}
