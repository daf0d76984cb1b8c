"""The happy path: the real anthropic SDK from the runtime talks to the fake model outside."""

import json
import os

import anthropic

report = {"base_url": os.environ["ANTHROPIC_BASE_URL"]}
try:
    import django  # noqa: F401

    report["django"] = "importable"
except ImportError:
    report["django"] = "missing"
client = anthropic.Anthropic(max_retries=0, timeout=10)
message = client.messages.create(
    model="claude-test", max_tokens=64, messages=[{"role": "user", "content": "How do I reset my password?"}]
)
report["text"] = "".join(block.text for block in message.content if block.type == "text")
report["anthropic"] = anthropic.__version__
print(json.dumps(report), flush=True)
