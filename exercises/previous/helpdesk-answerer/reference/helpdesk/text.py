"""Text normalisation shared by retrieval and grounding."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+")
STOPWORDS = frozenset(
    """a an and are as at be by can could do does did for from had has have how i if in into is it its
    me my of on or our so than that the their them then there these they this to too was we were
    what when where which who whom why will with would you your yours about after also any all been
    being more most not only other out over same should some such up us use used using very""".split()  # noqa: SIM905 - a word list reads better as text
)


def normalise(text: str) -> str:
    """Case-folded words separated by single spaces: robust to markdown, quotes and spacing."""
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def terms(text: str) -> list[str]:
    out = []
    for word in _WORD.findall(unicodedata.normalize("NFKC", text).casefold()):
        if word in STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out
