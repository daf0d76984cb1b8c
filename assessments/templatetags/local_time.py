"""``{{ moment|when:"short" }}``: a time every reader can place.

The server writes the time in the site's zone (UTC by default) with the zone named, inside
``<time datetime="ISO" data-local="style">``; static/js/localtime.js rewrites it into the
reader's own zone and keeps the server's text as the tooltip. Without JavaScript (and in the
PDF) the labelled server time stays.
"""

from django import template
from django.utils import dateformat, timezone
from django.utils.html import format_html

register = template.Library()

STYLES = {
    "long": "D j M Y, H:i",
    "datetime": "j M Y H:i",
    "short": "j M H:i",
    "seconds": "j M H:i:s",
    "date": "j M Y",
}


@register.filter
def when(value, style: str = "datetime"):
    """An empty string for no time, so ``|when|default:"—"`` works."""
    if not value:
        return ""
    fmt = STYLES.get(style, STYLES["datetime"])
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    text = dateformat.format(local, fmt if style == "date" else f"{fmt} T")
    return format_html('<time datetime="{}" data-local="{}">{}</time>', value.isoformat(), style, text)
