"""Tests run against the bundled fake model, found in the starter kit's layout or in the repo."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_CANDIDATES = [ROOT / "devtools", ROOT.parent / "starter" / "devtools"]
DEVTOOLS = next(p for p in _CANDIDATES if (p / "responder.py").exists())
DOCS = next(p for p in (ROOT / "docs", ROOT.parent / "starter" / "docs") if p.is_dir())
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DEVTOOLS))
if not (DEVTOOLS / "fakemodel" / "__init__.py").exists():  # in the platform's repo: the fake lives in grader/
    sys.path.insert(0, str(ROOT.parents[2]))
    from grader.sdk import FakeModel
else:
    from fakemodel import FakeModel
from responder import respond  # noqa: E402

_FAKE = FakeModel(script="ok", responder=respond).start()
os.environ["ANTHROPIC_BASE_URL"] = _FAKE.base_url
os.environ["ANTHROPIC_API_KEY"] = "sk-local-dummy"
os.environ["HELPDESK_DOCS_DIR"] = str(DOCS)


@pytest.fixture(scope="session", autouse=True)
def _stop_fake_at_the_end():
    yield
    _FAKE.stop()


@pytest.fixture(autouse=True)
def fake_model():
    from helpdesk.service import clear_cache

    clear_cache()  # each test asks its question afresh
    _FAKE.reset(script="ok")
    return _FAKE
