"""Who may see a portal page, and how often a client may try links.

A candidate has no account. Opening a valid magic link puts the invitation's id in the
session, with a fingerprint of that link; every portal page then needs both the id in its URL
and that id in the session. Someone else's portal URL is therefore a plain 404, whatever its
number. When a manager sends a new link ("Resend link"), the fingerprint no longer matches and
every browser that opened an older link is out (a 410 that says a newer link was sent): whoever
got hold of a leaked link cannot go on uploading for the candidate.
"""

from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from candidates.models import Invitation
from candidates.selectors import invitation_contact, invitation_link_problem, portal_invitation_get
from core.clients import client_address, client_bucket

SESSION_KEY = "portal_invitations"
# One browser may hold a few invitations (two openings, or a test account); not hundreds.
MAX_INVITATIONS_PER_SESSION = 10

LINK_FAILURES_ALLOWED = 20
LINK_FAILURE_WINDOW_S = 10 * 60

LINK_PROBLEM_STATUS = {"invalid": 404, "inactive": 410, "expired": 410, "replaced": 410, "rate_limited": 429}


def _link_fingerprint(invitation: Invitation) -> str:
    """Which link opened the portal: part of the stored hash of its token (never the token itself)."""
    return invitation.token_hash[:16]


def _held(request) -> list[list]:
    """The session's [invitation id, link fingerprint] pairs (an entry of another shape is dropped)."""
    return [
        entry
        for entry in request.session.get(SESSION_KEY, [])
        if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int)
    ]


def portal_remember(request, invitation: Invitation) -> None:
    held = [entry for entry in _held(request) if entry[0] != invitation.pk]
    held.append([invitation.pk, _link_fingerprint(invitation)])
    # A new session key on every link: a session id planted before the link was opened is useless.
    request.session.cycle_key()
    request.session[SESSION_KEY] = held[-MAX_INVITATIONS_PER_SESSION:]


def portal_holds(request, pk: int) -> bool:
    return any(entry[0] == pk for entry in _held(request))


def _opened_with_current_link(request, invitation: Invitation) -> bool:
    return any(entry == [invitation.pk, _link_fingerprint(invitation)] for entry in _held(request))


def _forget(request, pk: int) -> None:
    request.session[SESSION_KEY] = [entry for entry in _held(request) if entry[0] != pk]


def link_problem_response(request, kind: str, invitation: Invitation | None = None):
    context = {"kind": kind, "window_minutes": LINK_FAILURE_WINDOW_S // 60, "ttl_days": settings.INVITATION_TTL_DAYS}
    if invitation is not None and kind in ("expired", "replaced"):
        # The token was real, so naming whom to ask tells the holder nothing they did not know.
        context["contact"] = invitation_contact(invitation)
    return render(request, "candidates/link_problem.html", context, status=LINK_PROBLEM_STATUS[kind])


def portal_view(view):
    """Load the invitation of ``pk`` for a portal view, or 404 unless this session holds it.

    A link that has since stopped working (withdrawn, erased, expired) shows the same clear
    page as opening the link would.
    """

    @never_cache
    @wraps(view)
    def wrapped(request, pk: int, *args, **kwargs):
        if not portal_holds(request, pk):
            raise Http404("Not this session's invitation.")
        invitation = portal_invitation_get(pk=pk)
        if invitation is None:
            raise Http404("No such invitation.")
        problem = invitation_link_problem(invitation)
        if problem:
            return link_problem_response(request, problem, invitation)
        if not _opened_with_current_link(request, invitation):
            _forget(request, pk)
            return link_problem_response(request, "replaced", invitation)
        return view(request, invitation, *args, **kwargs)

    return wrapped


# --- Rate limit on link attempts -----------------------------------------------------------------
# Only failed lookups count, and a link that works opens whatever the count: a client that has tried
# too many wrong links gets 429 for the next wrong one, never for the right one. Refusing a valid link
# would protect nothing (a token is 256 random bits: no rate of guessing finds one), and it would
# shut out every candidate behind an address someone else has been hammering (an office, a campus).


def _failure_key(request) -> str:
    return "portal-link-failures:" + client_bucket(client_address(request))


def link_attempts_exhausted(request) -> bool:
    return (cache.get(_failure_key(request)) or 0) >= LINK_FAILURES_ALLOWED


def link_failure_count(request) -> int:
    """Count one failed lookup; the window starts at the first failure and does not slide."""
    key = _failure_key(request)
    cache.add(key, 0, timeout=LINK_FAILURE_WINDOW_S)
    try:
        return cache.incr(key)
    except ValueError:
        # Expired between add and incr: this failure opens a new window.
        cache.set(key, 1, timeout=LINK_FAILURE_WINDOW_S)
        return 1
