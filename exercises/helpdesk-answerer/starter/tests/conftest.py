"""Run the tests against the bundled fake model (devtools/fakemodel/), never a real API.

The fake starts when this file is imported, before any test module imports ``helpdesk``, so code
that builds its client at import time also talks to the fake. Each test starts with the healthy
script and the healthy model; a test can switch the script, e.g.
``fake_model.reset(script="529,ok")``, make the model say the wrong things, e.g.
``fake_model.responder = responder_for("misquote")`` (``from responder import responder_for``;
the modes are listed in devtools/responder.py), and read ``fake_model.requests`` to see what your
code sent.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "devtools"))
sys.path.insert(0, str(ROOT))

from fakemodel import FakeModel  # noqa: E402
from responder import respond  # noqa: E402

_FAKE = FakeModel(script="ok", responder=respond).start()
os.environ["ANTHROPIC_BASE_URL"] = _FAKE.base_url
os.environ["ANTHROPIC_API_KEY"] = "sk-local-dummy"
os.environ["HELPDESK_DOCS_DIR"] = str(ROOT / "docs")


@pytest.fixture(scope="session", autouse=True)
def _stop_fake_at_the_end():
    yield
    _FAKE.stop()


@pytest.fixture(autouse=True)
def fake_model():
    _FAKE.reset(script="ok")
    _FAKE.responder = respond
    return _FAKE
