"""One way for a view to answer with a page or the part of it htmx swaps.

A template renders the whole page and marks the parts htmx replaces with ``{% partialdef name inline %}``;
the view names the part, and ``render_page`` renders ``template#name`` when htmx asks for it. Django
and django-htmx only: this module imports no app.
"""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware (django-htmx's recipe for type checking)."""

    htmx: HtmxDetails


def render_page(
    request: HtmxHttpRequest,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    fragment: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """``template`` for a normal request; ``template#fragment`` when htmx asks for part of the page.

    htmx restoring its history (the page was not in its cache) asks for the whole page, so it gets it.
    """
    htmx = request.htmx
    partial = bool(fragment) and bool(htmx) and not htmx.history_restore_request
    response = render(request, f"{template}#{fragment}" if partial else template, context, status=status)
    if fragment:
        # One URL, two answers: a browser cache must not give the fragment to a page load or Back.
        patch_vary_headers(response, ("HX-Request",))
    return response
