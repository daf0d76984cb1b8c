"""An exercise's own view of one call: ``templates/call.html`` in its package, instead of the generic tree.

The template is the package author's (trusted like its probes), the call it is given is the
candidate's (hostile): it is rendered by an engine of its own with autoescaping on, no loaders
(so no ``{% include %}`` or ``{% extends %}`` reaches another file) and no tag library beyond
Django's built-ins. A template that is missing, does not compile or fails on a call leaves that
call to the generic view and a warning in the log; a review page never fails because of it.
"""

import logging
from pathlib import Path
from typing import Any

from django.template import Context, Engine, Template

logger = logging.getLogger(__name__)

CALL_TEMPLATE = Path("templates") / "call.html"
MAX_TEMPLATE_BYTES = 64 * 1024

_ENGINE = Engine(loaders=[], libraries={}, autoescape=True, debug=False)
# path -> ((mtime_ns, size), compiled template or None when it failed): each file is compiled once
# per change, whatever the number of pages and workers' requests that read it.
_compiled: dict[str, tuple[tuple[int, int], Template | None]] = {}


def package_call_template(package_path: str) -> Template | None:
    """The compiled ``templates/call.html`` of the package at ``package_path``, or None."""
    if not package_path:
        return None
    path = Path(package_path) / CALL_TEMPLATE
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("Cannot read the exercise's call template %s: %s", path, exc)
        return None
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _compiled.get(str(path))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    template = _compile(path, stat.st_size)
    _compiled[str(path)] = (stamp, template)
    return template


def _compile(path: Path, size: int) -> Template | None:
    if size > MAX_TEMPLATE_BYTES:
        logger.warning("The exercise's call template %s is over %d bytes; not used", path, MAX_TEMPLATE_BYTES)
        return None
    try:
        return _ENGINE.from_string(path.read_text(encoding="utf-8"))
    except Exception as exc:  # a syntax error, an unknown tag, bad bytes: the author's, not the reviewer's
        logger.warning("The exercise's call template %s does not compile (%s); the generic view is shown", path, exc)
        return None


def render_calls(template: Template, calls: list[dict[str, Any]], *, where: str) -> None:
    """Set each presented call's ``html`` to the package template rendered with ``call`` (the stored call).

    A call the template fails on keeps no ``html`` (the generic view shows it); one warning per
    page says how many failed and the first error.
    """
    failed, first_error = 0, ""
    for call in calls:
        try:
            call["html"] = template.render(Context({"call": call["stored"]}, autoescape=True))
        except Exception as exc:  # any error in the author's template falls back, never a 500
            failed += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"
    if failed:
        logger.warning(
            "The exercise's call template failed on %d of %d calls (%s): %s; the generic view is shown",
            failed,
            len(calls),
            where,
            first_error,
        )
