"""The portal's cast: Dana (the shared `invitation`) with a link, and Sam invited to the same opening."""

import pytest

from candidates.services import invitation_create, invitation_start, invitation_token_rotate
from tests.builders import make_zip


@pytest.fixture(autouse=True)
def _own_media_root(settings, tmp_path):
    # Each test sees only the files it stored, so "nothing was stored" can be checked on disk.
    settings.MEDIA_ROOT = tmp_path / "uploads"


@pytest.fixture
def token(invitation, manager):
    return invitation_token_rotate(invitation=invitation, actor=manager)


@pytest.fixture
def portal(client, invitation, token):
    """A browser that opened Dana's magic link."""
    response = client.get(f"/t/{token}/")
    assert response.status_code == 302
    return client


@pytest.fixture
def started(invitation):
    invitation_start(invitation=invitation)
    invitation.refresh_from_db()
    return invitation


@pytest.fixture
def other_invitation(assessment, candidate2, manager):
    invitation, _token = invitation_create(assessment=assessment, candidate=candidate2, invited_by=manager)
    invitation_start(invitation=invitation)
    invitation.refresh_from_db()
    return invitation


@pytest.fixture
def valid_zip() -> bytes:
    """A tiny-echo solution: the `echo` package named by its entry point, plus notes."""
    return make_zip({"echo/__init__.py": "def answer(q):\n    return q\n", "NOTES.md": "# Notes\n\nRetries first."})
