"""Answer customer questions from the Tallyhop help centre with Claude."""

import json
import os
from pathlib import Path

import anthropic

from helpdesk.prompts import SYSTEM_PROMPT

MODEL = "claude-haiku-5-5"
DEFAULT_DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"

_client = None


def _get_client():
    global _client
    if _client is None:
        _client = anthropic.Anthropic()
    return _client


def _load_articles():
    docs_dir = Path(os.environ.get("HELPDESK_DOCS_DIR") or DEFAULT_DOCS_DIR)
    articles = []
    for path in sorted(docs_dir.rglob("*.md")):
        articles.append({"id": path.stem, "text": path.read_text(encoding="utf-8")})
    return articles


def answer(question: str) -> dict:
    articles = _load_articles()
    context = "\n\n".join(f'<article id="{a["id"]}">\n{a["text"]}\n</article>' for a in articles)
    response = _get_client().messages.create(
        model=MODEL,
        max_tokens=16000,
        system=SYSTEM_PROMPT,
        messages=[{"role": "user", "content": f"{context}\n\nCustomer question: {question}"}],
    )
    reply = json.loads(response.content[0].text)
    if reply["answer"] is None:
        return {"status": "unknown", "answer": "", "citations": []}
    return {"status": "answered", "answer": reply["answer"], "citations": reply["citations"]}
