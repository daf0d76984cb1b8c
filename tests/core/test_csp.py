"""The Content-Security-Policy: the header every response carries, the one nonce the site needs, and
the templates it would break. tests/browser/test_csp.py runs every page under it in Chromium."""

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.views.defaults import server_error

from tests.browser.test_csp import (
    ADMIN_PAGES,
    ANONYMOUS_PAGES,
    CANDIDATE_PAGES,
    MANAGER_PAGES,
    NOT_PAGES,
    REVIEWER_PAGES,
)
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


def _directives(header: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in header.split(";"))}


def test_every_page_carries_the_policy_and_it_allows_nothing_inline(client, manager, invitation):
    client.force_login(manager)
    for url in (
        reverse("login"),
        reverse("assessments:dashboard"),
        reverse("reports:overview", args=[invitation.assessment_id]),
    ):
        response = client.get(url)
        assert response["Content-Security-Policy"] == POLICY, url
    anonymous = Client()
    for response in (
        anonymous.get(reverse("login")),
        anonymous.get("/no-such-page/"),
        anonymous.get(reverse("candidates:magic_link", args=["not-a-token"])),
    ):
        assert response["Content-Security-Policy"] == POLICY
        assert "unsafe-inline" not in response["Content-Security-Policy"]
        assert "unsafe-eval" not in response["Content-Security-Policy"]


def test_the_csrf_failure_page_gets_a_nonce_for_its_style_and_nothing_else(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "x", "password": "y"})
    assert response.status_code == 403
    directives = _directives(response["Content-Security-Policy"])
    [nonce] = [value for value in directives["style-src"] if value.startswith("'nonce-")]
    assert f'<style nonce="{nonce[7:-1]}">' in response.content.decode()
    assert directives["script-src"] == ["'self'"]


def test_the_admin_gets_its_nonce(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", PASSWORD))
    response = client.get(reverse("admin:index"))
    directives = _directives(response["Content-Security-Policy"])
    assert directives["style-src"][0] == "'self'" and directives["style-src"][1].startswith("'nonce-")
    assert directives["script-src"] == ["'self'"]


def test_the_server_error_page_needs_nothing_inline(rf):
    html = server_error(rf.get("/")).content.decode()
    assert 'rel="stylesheet"' in html and "style=" not in html


# --- Templates: what the policy would refuse, found before a browser does ------------------------------

# Not pages a browser enforces the policy on: emails (mail clients want inline styles) and the
# scorecard PDF, which WeasyPrint lays out on the server from its inline stylesheet.
NOT_SERVED = ["*/email/*", "reports/scorecard_pdf.html"]
NONCE = "{% csp_nonce_attr %}"
REFUSED = {
    "an inline script": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I),
    "a <style> element": re.compile(r"<style\b[^>]*>", re.I),
    "a style attribute": re.compile(r"\sstyle\s*=", re.I),
    "an event handler attribute": re.compile(r"\son[a-z]+\s*=", re.I),
    "a javascript: URL": re.compile(r"javascript:", re.I),
    "htmx evaluating code (hx-on, hx-vars, js: values)": re.compile(r"\shx-on|\shx-vars|['\"]js:", re.I),
}


COMMENTS = re.compile(r"{#.*?#}|{% comment %}.*?{% endcomment %}", re.S)


def _served_templates():
    """Each template a browser may be sent, its comments blanked out (keeping the line numbers)."""
    folder = ROOT / "templates"
    for path in sorted(folder.rglob("*.html")):
        name = path.relative_to(folder)
        if not any(name.match(pattern) for pattern in NOT_SERVED):
            yield name, COMMENTS.sub(lambda m: "\n" * m.group(0).count("\n"), path.read_text())


def test_no_template_holds_what_the_policy_refuses():
    found = []
    for name, text in _served_templates():
        for what, pattern in REFUSED.items():
            for match in pattern.finditer(text):
                if NONCE not in match.group(0):
                    line = text.count("\n", 0, match.start()) + 1
                    found.append(f"templates/{name}:{line}: {what}: {match.group(0)[:60]}")
    assert not found, "Move it to static/ (css/app.css, a js/ file) or give it {% csp_nonce_attr %}:\n" + "\n".join(
        found
    )


@pytest.mark.parametrize(
    ("html", "what"),
    [
        ("<script>alert(1)</script>", "an inline script"),
        ('<div style="color: red">', "a style attribute"),
        ('<button onclick="go()">', "an event handler attribute"),
        ("<form hx-vals='js:{a: 1}'>", "htmx evaluating code (hx-on, hx-vars, js: values)"),
        ('<div hx-on:click="go()">', "htmx evaluating code (hx-on, hx-vars, js: values)"),
    ],
)
def test_the_template_check_finds_what_it_looks_for(html, what):
    assert REFUSED[what].search(html)
    assert not any(pattern.search('<script src="/static/js/a.js" defer></script>') for pattern in REFUSED.values())


# --- The browser crawl covers every page -------------------------------------------------------------------


def _url_names(resolver=None, namespace: str = "") -> set[str]:
    names = set()
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver) and pattern.namespace != "admin":
            names |= _url_names(pattern, f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(namespace + pattern.name)
    return names


def test_the_browser_crawl_lists_every_page():
    crawled = {name for pages in (ANONYMOUS_PAGES, MANAGER_PAGES, REVIEWER_PAGES, CANDIDATE_PAGES) for name, _ in pages}
    missing = _url_names() - crawled - NOT_PAGES.keys()
    assert not missing, (
        f"Add each to its role's list in tests/browser/test_csp.py, or to NOT_PAGES saying why: {missing}"
    )
    assert not crawled & NOT_PAGES.keys()
    assert not (crawled | NOT_PAGES.keys()) - _url_names(), "a name listed there is no longer a URL"
    assert all(name.startswith("admin:") for name, _ in ADMIN_PAGES)
