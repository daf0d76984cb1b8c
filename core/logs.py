"""Log lines without secrets: a magic link's token never reaches a log.

Attached to Django's loggers in config/settings.py (LOGGING) and to gunicorn's in gunicorn.conf.py.
Imports nothing of Django, since gunicorn's master loads it before any app is set up.
"""

import logging
import re

# The candidate portal's magic link is /t/<token>/ (candidates/urls.py). Anything after "/t/" up to
# the next slash, space, quote, query or fragment is taken for a token: a path that only looks like
# one loses a segment of a log line, which costs nothing.
_TOKEN_IN_PATH = re.compile(r"/t/[^/\s?#\"']+")
REDACTED = "/t/[redacted]"


def redact_tokens(text: str) -> str:
    return _TOKEN_IN_PATH.sub(REDACTED, text)


class RedactTokens(logging.Filter):
    """Rewrites the record's message with every /t/<token> redacted; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: the handler reports it as it would have anyway
            return True
        redacted = redact_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
