"""Small text helpers shared by retrieval, validation and grounding checks (stdlib only)."""

from __future__ import annotations

import re
import unicodedata

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can cannot could did do does doing done down during each few for
    from further get gets got had has have having he her here hers him his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours out over
    own please same she should so some such than that the their theirs them then there these they
    this those through to too under until up us very was we were what when where which while who whom
    why will with would you your yours yourself hi hello thanks thank want need know tell way one""".split()
)

# Words so common in this product's help centre, or in polite filler ("Great question! Let me
# know if anything else...") that they say nothing about support. Stored stemmed (end of module).
_GENERIC_RAW = """tallyhop page click press go open choose pick select option options settings setting account
    customer customers able may might yes no sure help helps helpful article articles help-centre centre
    center see also simply just new use using used make makes time great good question questions
    let anything else hope happy glad feel ask asking follow further assist assistance welcome
    course certainly absolutely info information based according note here below above answer
    steps step following first then next easily quickly""".split()

EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
URL_RE = re.compile(
    r"\b(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|io|co|app|dev|info|biz|xyz|me|ly)(?:/\S*)?\b",
    re.I,
)
_PHONE_RE = re.compile(r"(?<!\w)\+?\d[\d ()./-]{7,}\d(?!\w)")
_CONTRACTION_BASES = frozenset(
    "don can won isn doesn aren didn wasn weren shouldn couldn wouldn haven hasn let".split()
)
_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_SPACE_RE = re.compile(r"\s+")

_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "thirteen": "13", "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17",
    "eighteen": "18", "nineteen": "19", "twenty": "20", "thirty": "30", "forty": "40",
    "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
    "hundred": "100", "thousand": "1000", "once": "1", "twice": "2", "single": "1",
}  # fmt: skip
_NUMBER_RE = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?")


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def collapse_ws(text: str) -> str:
    return _SPACE_RE.sub(" ", text).strip()


def words(text: str) -> list[str]:
    """Case-folded word tokens (letters/digits, inner apostrophes kept)."""
    return _WORD_RE.findall(nfkc(text).casefold().replace("’", "'"))


def stem(word: str) -> str:
    """A deliberately crude English suffix stripper: enough to match 'invoices'/'invoice',
    'resetting'/'reset', 'exported'/'export'. Same function on both sides, so it only has to be
    consistent, not linguistically right."""
    w = word
    if w.endswith("'s"):
        w = w[:-2]
    if w.isdigit() or len(w) <= 3:
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("ing") and len(w) >= 6:
        w = w[:-3]
    elif w.endswith("ed") and len(w) >= 5:
        w = w[:-2]
    elif w.endswith("es") and w[:-2].endswith(("s", "x", "z", "ch", "sh")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    elif w.endswith("ly") and len(w) >= 6:
        w = w[:-2]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiosz":  # resetting -> resett -> reset
        w = w[:-1]
    if len(w) >= 4 and w.endswith("e"):  # invoice/invoic, create/creat: drop a final e
        w = w[:-1]
    return w


def content_terms(text: str) -> list[str]:
    """Stemmed, stopword-free terms: what retrieval and support checks compare."""
    out = []
    for word in words(text):
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        if "'" in word:  # contractions: you'll, don't, it's -> nothing worth matching on
            base, _, tail = word.partition("'")
            if base in STOPWORDS or base in _CONTRACTION_BASES or tail in ("ll", "re", "ve", "d", "m", "t"):
                continue
        out.append(_NUMBER_WORDS.get(word) or stem(word))
    return out


def numbers(text: str) -> set[str]:
    """Numbers mentioned in a text, normalised: '2,900' -> '2900', '29.00' -> '29', 'two' -> '2'."""
    found: set[str] = set()
    text = nfkc(text)
    for match in _NUMBER_RE.finditer(text):
        whole = match.group(1).replace(",", "")
        frac = (match.group(2) or "").rstrip("0")
        found.add(str(int(whole)) + (f".{frac}" if frac else ""))
    for word in words(text):
        if word in _NUMBER_WORDS and word not in ("one", "once", "single"):  # "pick one" is no number
            found.add(_NUMBER_WORDS[word])
    return found


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_RE.split(text) if s.strip()]


def english_ratio(text: str) -> float:
    """Share of tokens that are common English function words (rough language sniff)."""
    toks = words(text)
    if not toks:
        return 0.0
    return sum(1 for t in toks if t in STOPWORDS) / len(toks)


def phone_numbers(text: str) -> list[str]:
    """Things that look like phone numbers (9+ digits), not dates or amounts."""
    return [m.group() for m in _PHONE_RE.finditer(text) if sum(ch.isdigit() for ch in m.group()) >= 9]


def redact_phone_numbers(text: str, replacement: str) -> str:
    return _PHONE_RE.sub(lambda m: replacement if sum(ch.isdigit() for ch in m.group()) >= 9 else m.group(), text)


def neutralise_markup(text: str) -> str:
    """Stop untrusted text from closing or opening the XML-ish wrappers our prompt uses
    (``</article>``, ``<customer_question>``...) or chat-template tokens."""
    text = re.sub(r"<\s*(/?)\s*([A-Za-z_][\w:-]*)", lambda m: f"‹{m.group(1)}{m.group(2)}", text)
    return re.sub(r"<\|[^|>]{0,40}\|>", " ", text)


GENERIC_WORDS = frozenset(stem(w) for w in _GENERIC_RAW) | frozenset(_GENERIC_RAW)
