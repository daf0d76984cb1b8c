"""Runs in the box: import the runtime's SDK and ask the fake model once, through the socket."""

import anthropic


def answer(question: str) -> dict:
    client = anthropic.Anthropic(max_retries=0, timeout=30)
    message = client.messages.create(
        model="self-check", max_tokens=50, messages=[{"role": "user", "content": question}]
    )
    text = "".join(block.text for block in message.content if block.type == "text")
    return {"reply": text, "anthropic": anthropic.__version__}
