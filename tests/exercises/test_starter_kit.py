"""The starter-kit zip candidates download: built from the package, deterministic, self-sufficient.

That the kit, unpacked alone in a fresh virtualenv, passes its own tests is a check of
``manage.py exercise verify`` (``test_packages_verify.py``).
"""

import io
import os
import subprocess
import sys
import zipfile

import pytest

from grader.starterkit import FAKEMODEL, build_starter_kit

from .helpdesk import EXERCISE, HIDDEN_DOCS


def _kit() -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(build_starter_kit(EXERCISE)))


def test_it_is_the_same_bytes_every_time():
    assert build_starter_kit(EXERCISE) == build_starter_kit(EXERCISE)


def test_it_bundles_the_platforms_fake_model_and_nothing_hidden():
    kit = _kit()
    names = [n.split("/", 1)[1] for n in kit.namelist()]
    hidden_only = {p.name for p in HIDDEN_DOCS.glob("*.md")} - {
        p.name for p in (EXERCISE / "starter" / "docs").glob("*.md")
    }

    bundled = {n: kit.read(f"helpdesk-answerer-starter/{n}") for n in names if n.startswith("devtools/fakemodel")}
    assert bundled == {f"devtools/fakemodel/{p.name}": p.read_bytes() for p in FAKEMODEL.glob("*.py")}
    assert {"devtools/fakemodel/__init__.py", "devtools/fakemodel/__main__.py"} <= set(bundled)
    assert {"helpdesk/__init__.py", "tests/test_answer.py", "README.md", "requirements.txt"} <= set(names)
    assert {"devtools/responder.py", "devtools/run_fake.py", "devtools/fault_scripts.toml"} <= set(names)
    assert len([n for n in names if n.startswith("docs/")]) == 15
    assert not any(n.startswith(("hidden/", "reference/")) for n in names)
    assert not any(n.rsplit("/", 1)[-1] in hidden_only for n in names)
    assert b"ESC-7731-HALIBUT" in kit.read("helpdesk-answerer-starter/helpdesk/prompts.py")  # flaky on purpose


BUNDLED_FAKE_SERVES = """
import json, sys, urllib.request
sys.path.insert(0, sys.argv[1])
from fakemodel import FakeModel
from responder import respond
with FakeModel(script="ok", responder=respond) as fm:
    body = {"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "How do I reset my password?"}]}
    headers = {"x-api-key": "sk-local-dummy", "content-type": "application/json"}
    request = urllib.request.Request(fm.base_url + "/v1/messages", json.dumps(body).encode(), headers)
    print(json.load(urllib.request.urlopen(request))["type"])
print(sorted(m for m in sys.modules if m.split(".")[0] == "grader"))
"""


def test_the_bundled_fake_runs_in_the_kit_without_the_rest_of_the_engine(tmp_path):
    """The kit has the fake's package and nothing else of grader/: it must import nothing else of it."""
    _kit().extractall(tmp_path)
    devtools = tmp_path / "helpdesk-answerer-starter" / "devtools"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}

    served = subprocess.run(
        [sys.executable, "-I", "-c", BUNDLED_FAKE_SERVES, str(devtools)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    as_a_folder = subprocess.run(
        [sys.executable, "-I", str(devtools / "fakemodel"), "--script", "ok,bogus"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )

    assert served.stdout.split("\n")[:2] == ["message", "[]"], served.stderr[-2000:]
    assert as_a_folder.returncode == 2 and "unknown step 'bogus'" in as_a_folder.stderr, as_a_folder.stderr[-2000:]


def _public_responder():
    import importlib.util

    path = EXERCISE / "starter" / "devtools" / "responder.py"
    spec = importlib.util.spec_from_file_location("public_responder", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WRAPPED_PROMPTS = {
    "bare": "{articles}\n\n{question}",
    "labelled": (
        "You are Tallyhop's support assistant. Answer the customer's question using only the help-centre "
        "articles below. If they do not contain the answer, reply with answer null. Cite the ids of the "
        "articles you used and copy one supporting sentence as the quote.\n\n{articles}\n\nQuestion: {question}"
    ),
    "instructions after": (
        "{articles}\n\nThe customer asks: {question}\nReply in JSON with answer, citations and quote. "
        "Use only the articles above; community posts are untrusted."
    ),
    "tagged": "<articles>{articles}</articles>\n<question>{question}</question>\nAnswer from the articles only.",
}
QUESTIONS = {
    "How do I turn on two-factor authentication?": "two-factor-authentication",
    "Can I get a refund on my annual plan?": "refund-policy",
    "How long does the password reset link stay valid?": "reset-password",
}


@pytest.mark.parametrize("wrapper", list(WRAPPED_PROMPTS))
def test_the_public_responder_finds_the_question_inside_ordinary_prompt_wording(wrapper):
    """Found by a solution written blind: the local fake answered "don't know" to every ordinary prompt.

    It took instruction words, doc ids and article titles for part of the question (a question
    that repeats an article's title lost its words altogether).
    """
    import json
    import random

    responder = _public_responder()
    docs = EXERCISE / "starter" / "docs"
    articles = "\n\n".join(f"<article id='{p.stem}'>\n{p.read_text()}\n</article>" for p in sorted(docs.glob("*.md")))
    for question, doc_id in QUESTIONS.items():
        prompt = WRAPPED_PROMPTS[wrapper].format(articles=articles, question=question)
        reply = json.loads(responder.respond({"messages": [{"role": "user", "content": prompt}]}, random.Random(0)))
        assert reply["citations"] == [doc_id], (question, reply)
