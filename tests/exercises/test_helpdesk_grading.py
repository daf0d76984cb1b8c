"""Where a repair of a reply in the wrong shape is fair, and where it is not: one probe, judged closely.

How the whole exercise ranks submissions (the reference on every probe three runs in a row, the
starter kit under its ceiling, a solution written blind near the top, the partly hardened one in
between, degenerate strategies near the floor, each mutant of the reference failing the probes of
the defence it lost) is declared in ``exercises/helpdesk-answerer/submissions.toml`` and checked by
``manage.py exercise verify`` in ``test_packages_verify.py``.
"""

import pytest

from grader.runner import grade

from .helpdesk import EXERCISE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def executor(forkserver_executor):
    return forkserver_executor


_WRONG_SCHEMA_VARIANT = """
import json, os, re
from pathlib import Path
import anthropic

def answer(question):
    docs = Path(os.environ["HELPDESK_DOCS_DIR"])
    words = set(re.findall(r"[a-z0-9]+", question.lower()))
    picked = [p for p in docs.glob("*.md") if set(p.stem.split("-")) <= words][:3]
    articles = "\\n\\n".join(f"<article id=\\"{p.stem}\\">{p.read_text()}</article>" for p in picked)
    client = anthropic.Anthropic(max_retries=0, timeout=5)
    reply = client.messages.create(
        model="any", max_tokens=400, messages=[{"role": "user", "content": articles + "\\n\\n" + question}]
    )
    text = reply.content[0].text
    data = json.loads(text)
    cited = data.get("citations") or []
    %s
"""

WRONG_SCHEMA_VARIANTS = {
    # Salvage checked against the contract: the verified quote as the answer, the joined ids split.
    "salvages a correct answer": (
        'ids = [c.strip() for c in cited.split(",")] if isinstance(cited, str) else list(cited)\n'
        '    return {"status": "answered", "answer": data.get("answer") or data.get("quote", ""), "citations": ids}',
        "pass",
    ),
    "answers with nothing": (
        'return {"status": "answered", "answer": data.get("answer") or "", "citations": [str(cited)]}',
        "fail",
    ),
    "shows the raw reply": ('return {"status": "answered", "answer": text, "citations": [str(cited)]}', "fail"),
    "splits the id string into characters": (
        'return {"status": "answered", "answer": data.get("quote", ""), "citations": list(cited)}',
        "fail",
    ),
}


@pytest.mark.parametrize("variant", list(WRONG_SCHEMA_VARIANTS))
def test_a_reply_in_the_wrong_shape_may_be_repaired_only_into_a_correct_answer(tmp_path, executor, variant):
    body, expected = WRONG_SCHEMA_VARIANTS[variant]
    package = tmp_path / "helpdesk"
    package.mkdir()
    (package / "__init__.py").write_text(_WRONG_SCHEMA_VARIANT % body)

    report = grade(tmp_path, EXERCISE, probe_ids=["output-wrong-schema"], executor=executor)

    (outcome,) = report.outcomes
    assert outcome.outcome == expected, outcome.reason
