"""core.htmx.render_page: the whole page for a browser, the named fragment for htmx."""

import pytest
from django.test import RequestFactory, override_settings
from django.urls import reverse
from django_htmx.middleware import HtmxDetails

from core.htmx import render_page

PAGE = (
    "<html><body><h1>Whole page</h1>"
    "{% partialdef rows inline %}<ul id='rows'>{% for row in rows %}<li>{{ row }}</li>{% endfor %}</ul>"
    "{% endpartialdef %}"
    "</body></html>"
)
ONE_PAGE = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader", {"page.html": PAGE})]},
    }
]


def _request(**headers):
    request = RequestFactory().get("/", headers=headers)
    request.htmx = HtmxDetails(request)
    return request


@pytest.fixture
def one_page():
    with override_settings(TEMPLATES=ONE_PAGE):
        yield


def test_it_renders_the_whole_page_for_a_normal_request(one_page):
    response = render_page(_request(), "page.html", {"rows": ["a"]}, fragment="rows")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith("<html>") and "<h1>Whole page</h1>" in html and "<li>a</li>" in html


def test_it_renders_only_the_fragment_for_htmx(one_page):
    response = render_page(_request(HX_Request="true"), "page.html", {"rows": ["a", "b"]}, fragment="rows")
    assert response.content.decode() == "<ul id='rows'><li>a</li><li>b</li></ul>"


def test_it_renders_the_whole_page_for_htmx_when_the_view_names_no_fragment(one_page):
    response = render_page(_request(HX_Request="true"), "page.html", {"rows": []})
    assert "<h1>Whole page</h1>" in response.content.decode()


def test_it_renders_the_whole_page_when_htmx_restores_its_history(one_page):
    request = _request(HX_Request="true", HX_History_Restore_Request="true")
    response = render_page(request, "page.html", {"rows": []}, fragment="rows")
    assert "<h1>Whole page</h1>" in response.content.decode()


def test_it_keeps_the_status(one_page):
    assert (
        render_page(_request(HX_Request="true"), "page.html", {"rows": []}, fragment="rows", status=400).status_code
        == 400
    )
    assert render_page(_request(), "page.html", {"rows": []}, status=400).status_code == 400


def test_it_tells_caches_that_page_and_fragment_differ(one_page):
    for request in (_request(), _request(HX_Request="true")):
        assert "HX-Request" in render_page(request, "page.html", {"rows": []}, fragment="rows")["Vary"]


def test_the_reviewer_queue_pushed_to_history_comes_back_whole(client, reviewer):
    """The queue's filter pushes its URL; htmx asks for the whole page when that entry is not in its cache."""
    client.force_login(reviewer)
    fragment = client.get(reverse("rubrics:queue"), {"state": "assigned"}, headers={"HX-Request": "true"})
    restored = client.get(
        reverse("rubrics:queue"),
        {"state": "assigned"},
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" not in fragment.content.decode() and 'id="queue"' in fragment.content.decode()
    assert "<html" in restored.content.decode() and 'id="queue"' in restored.content.decode()
