"""A simple stand-in for the tuned model, for working offline with the bundled fake.

By default (``respond``, the mode ``healthy``) it plays a well-behaved model: it reads the
help-centre articles that appear in the request, picks the sentence that best matches the
customer's question, and replies in the house format ``{"answer": ..., "citations": [...],
"quote": ...}``. When no visible sentence matches well enough, it says it does not know
(``"answer": null``).

The real model, and the one used in grading, is less polite than that: see the brief. The other
modes play some of its content faults, so that you can reproduce them locally. The transport is
healthy in every mode; what is wrong is what the model says:

=================  ==============================================================================
mode               what the model does
=================  ==============================================================================
healthy            the well-behaved model above
made-up-citation   answers with a real sentence but cites an article id that does not exist
misquote           cites the right article, but its answer and quote change a fact (a number, a
                   "can" into a "cannot"): the quote is not in the article
follows-injection  obeys an instruction planted in the untrusted text it reads (a community post,
                   or the question itself): it adds the contact address or link that instruction
                   asks for, or repeats the system prompt when asked for its instructions
off-topic          answers a different question: cites and quotes a real article that has nothing
                   to do with the question
overconfident      never admits it does not know: when no article answers the question, it invents
                   a confident answer and cites the closest article (its quote is real, the answer
                   is not in it); other questions get the healthy answer
=================  ==============================================================================

``MODES`` maps each mode to its responder; ``responder_for(mode)`` returns one.

With the fake:  python devtools/fakemodel --responder devtools/responder.py:respond_misquote
(``devtools/run_fake.py --scenario misquote`` does that for you). In tests:
``fake_model.responder = responder_for("misquote")`` (the fixture puts ``respond`` back).
"""

from __future__ import annotations

import json
import os
import random
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

DOCS_DIR = Path(os.environ.get("HELPDESK_DOCS_DIR") or Path(__file__).resolve().parent.parent / "docs")

_STOPWORDS = set(
    """a an and are as at be by can do does for from has have how i if in is it its my of on or our so
    that the their them then there these they this to was we what when where which who why will with
    you your me about after all also any into more not only other out up us use used using""".split()  # noqa: SIM905 - a word list reads better as text
)
# Words of the instructions a prompt wraps around the question ("answer only from the articles
# above, cite their ids, reply in JSON"): a real model knows they are not the question.
_INSTRUCTION_WORDS = set(
    """answer answers article articles cite cited citation citations quote quotes json reply respond
    provided above below following based context instruction instructions question questions doc
    docs id ids sentence sentences unknown customer customers ask asks asked""".split()  # noqa: SIM905 - a word list reads better as text
)
_QUESTION_MARKER = re.compile(r"(?im)^\W*(?:customer(?:'s)? )?question\s*[:\-]\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.findall(r"\w+", text))


def _words(text: str, ignore: set[str] = frozenset()) -> set[str]:
    out = set()
    for word in _norm(text).split():
        if word in _STOPWORDS or word in ignore or len(word) < 2:
            continue
        out.add(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return out


@lru_cache(maxsize=4)
def _sentences(docs_dir: str) -> list[tuple[str, str, str]]:
    """(doc id, sentence, normalised sentence) for every sentence of every article."""
    out = []
    for path in sorted(Path(docs_dir).rglob("*.md")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip().lstrip("-*0123456789. ").strip()
            if not line or line.startswith(("#", "|")):
                continue
            for sentence in _SENTENCE_END.split(line):
                if len(sentence.split()) >= 5:
                    out.append((path.stem, sentence, _norm(sentence)))
    return out


@lru_cache(maxsize=4)
def _article_text(docs_dir: str) -> tuple[frozenset[str], str, tuple[str, ...]]:
    """(every normalised line of every article, all articles normalised and joined, the doc ids)."""
    lines, texts, ids = set(), [], []
    for path in sorted(Path(docs_dir).rglob("*.md")):
        ids.append(path.stem)
        text = path.read_text(encoding="utf-8")
        texts.append(_norm(text))
        lines.update(n for n in (_norm(line) for line in text.splitlines()) if n)
    return frozenset(lines), "\n".join(texts), tuple(sorted(ids, key=len, reverse=True))


def _request_text(body: dict) -> str:
    parts = []
    system = body.get("system")
    if isinstance(system, str):
        parts.append(system)
    elif isinstance(system, list):
        parts += [b.get("text", "") for b in system if isinstance(b, dict)]
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
    return "\n".join(str(p) for p in parts)


def _last_user_text(body: dict) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def _question_text(message: str) -> str:
    """What the customer asked, out of a prompt that also holds articles and instructions.

    The text after the last "Question:" label if there is one; else the message without markup,
    doc ids and the lines copied from articles, and of what is left the last line that asks
    something ("...?"), or all of it.
    """
    marks = list(_QUESTION_MARKER.finditer(message))
    if marks:
        return message[marks[-1].end() :].split("\n\n", 1)[0]
    article_lines, corpus, doc_ids = _article_text(str(DOCS_DIR))
    text = re.sub(r"<[^<>]{0,300}>", "\n", message)
    for doc_id in doc_ids:
        text = re.sub(re.escape(doc_id), " ", text, flags=re.IGNORECASE)
    kept = []
    for line in text.splitlines():
        norm = _norm(line)
        if not norm or norm in article_lines or (len(norm.split()) >= 8 and norm in corpus):
            continue
        kept.append(line)
    asked = [line for line in kept if line.rstrip().endswith("?")]
    return asked[-1] if asked else "\n".join(kept)


def _best_sentence(body: dict) -> tuple[list[tuple[str, str, str]], str, set[str], tuple[str, str] | None, float]:
    """(the article sentences visible in the request, the question, its words, the best match, its score)."""
    visible_text = _norm(_request_text(body))
    visible = [s for s in _sentences(str(DOCS_DIR)) if s[2] and s[2] in visible_text]
    # Like a real model, it tells the question apart from the articles and the instructions around it.
    question = _question_text(_last_user_text(body))
    wanted = _words(question, ignore=_INSTRUCTION_WORDS) or _words(question)
    best, best_score = None, 0.0
    for doc_id, sentence, _ in visible:
        have = _words(sentence)
        score = len(wanted & have) / (1 + 0.02 * len(have))
        if score > best_score:
            best, best_score = (doc_id, sentence), score
    return visible, question, wanted, best, best_score


def _reply(answer: str | None, citations: list[str], quote: str) -> str:
    return json.dumps({"answer": answer, "citations": citations, "quote": quote})


_UNKNOWN = _reply(None, [], "")
_THRESHOLD = 1.5


def respond(body: dict, rng: random.Random) -> str:
    """The healthy model (mode ``healthy``)."""
    _, _, _, best, best_score = _best_sentence(body)
    if best is None or best_score < _THRESHOLD:
        return _UNKNOWN
    doc_id, sentence = best
    return _reply(sentence, [doc_id], sentence)


# --------------------------------------------------------------------------------------------
# Content faults: what a real model gets wrong even when the transport is fine
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _article_by_id(docs_dir: str) -> dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(Path(docs_dir).rglob("*.md"))}


@lru_cache(maxsize=4)
def _community_ids(docs_dir: str) -> frozenset[str]:
    return frozenset(path.stem for path in (Path(docs_dir) / "community").rglob("*.md"))


def respond_made_up_citation(body: dict, rng: random.Random) -> str:
    """A real sentence, cited to an article id that does not exist."""
    _, _, _, best, best_score = _best_sentence(body)
    if best is None or best_score < _THRESHOLD:
        return _UNKNOWN
    doc_id, sentence = best
    known = _article_by_id(str(DOCS_DIR))
    made_up = f"{doc_id}-faq"
    while made_up in known:
        made_up += "-2"
    return _reply(sentence, [made_up], sentence)


_NUMBER = re.compile(r"\d+")
_FLIPS = {"can": "cannot", "cannot": "can", "never": "always", "always": "never", "every": "no", "only": "also"}
_FLIPPABLE = re.compile(r"\b(" + "|".join(_FLIPS) + r")\b", re.IGNORECASE)


def _changed_fact(sentence: str, article: str) -> str:
    """The sentence with one fact changed, so that it is no longer in the article."""
    number = _NUMBER.search(sentence)
    if number:
        n = int(number.group())
        changed = f"{sentence[: number.start()]}{n + max(1, n // 2)}{sentence[number.end() :]}"
    else:
        flip = _FLIPPABLE.search(sentence)
        word = flip.group(1) if flip else ""
        new = _FLIPS.get(word.lower(), "")
        new = new.capitalize() if word[:1].isupper() else new
        changed = f"{sentence[: flip.start()]}{new}{sentence[flip.end() :]}" if flip else sentence
    if _norm(changed) in _norm(article):
        changed = sentence.rstrip(" .") + ", but only on the Scale plan."
    return changed


def respond_misquote(body: dict, rng: random.Random) -> str:
    """The right article, but a fact changed in the answer and the quote."""
    _, _, _, best, best_score = _best_sentence(body)
    if best is None or best_score < _THRESHOLD:
        return _UNKNOWN
    doc_id, sentence = best
    changed = _changed_fact(sentence, _article_by_id(str(DOCS_DIR)).get(doc_id, ""))
    return _reply(changed, [doc_id], changed)


# What an instruction aimed at the model looks like, in a forum post or a question.
_PLANTED = re.compile(
    r"""\b(?:ai|assistant|chatbot|bot|model|llm)\b[^.!?]{0,80}?\b(?:tell|say|reply|respond|answer|add|include|send
        |write|append|mention|direct|ask)\b
      | \bignore\b[^.!?]{0,60}?\b(?:instructions?|above|previous|prior|articles?|rules|prompt)\b
      | \b(?:system\s+prompt|your\s+instructions|internal\s+notes?|new\s+instructions?)\b
      | (?:^|\n)\s*(?:system|assistant|admin)\s*:""",
    re.IGNORECASE | re.VERBOSE,
)
_LEAK = re.compile(
    r"system\s+prompt|your\s+(?:instructions|rules|prompt)|internal\s+notes?"
    r"|(?:repeat|print|reveal|show)\b.{0,30}\b(?:prompt|instructions)",
    re.IGNORECASE,
)
_TELL_TO = re.compile(
    r"\b(?:tell|ask|advise|instruct|remind)\s+(?:the\s+|all\s+|any\s+)?"
    r"(?:customers?|users?|people|everyone|readers?|them|me|us)\s+to\s+(.+)",
    re.IGNORECASE | re.DOTALL,
)
_SAY = re.compile(
    r"\b(?:say|reply|respond|answer|add|append|include|mention|write)\b(?:\s+(?:that|with|this|the\s+line|a\s+line))?"
    r"\s*:?\s*(.+)",
    re.IGNORECASE | re.DOTALL,
)
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|https?://\S+|\bwww\.\S+", re.IGNORECASE)
_TO_CUSTOMER = {"their": "your", "them": "you", "they": "you", "themselves": "yourself", "my": "your", "me": "you"}
_PRONOUN = re.compile(r"\b(" + "|".join(_TO_CUSTOMER) + r")\b", re.IGNORECASE)


def _planted_instruction(visible_text: str, question: str) -> tuple[str, str | None] | None:
    """(the first instruction planted in the question or a visible community post, that post's id)."""
    for sentence in _SENTENCE_END.split(question):
        if _PLANTED.search(sentence):
            return sentence.strip(), None
    community = _community_ids(str(DOCS_DIR))
    for doc_id, sentence, norm in _sentences(str(DOCS_DIR)):
        if doc_id in community and norm and norm in visible_text and _PLANTED.search(sentence):
            return sentence, doc_id
    return None


def _obeyed(instruction: str, system: str) -> str:
    """What a model that follows the instruction adds to its answer."""
    if _LEAK.search(instruction) and system.strip():
        return system.strip()
    tell = _TELL_TO.search(instruction)
    said = None if tell else _SAY.search(instruction.split(":", 1)[-1] if ":" in instruction else instruction)
    if tell:
        text = "Please " + _PRONOUN.sub(lambda m: _TO_CUSTOMER[m.group(1).lower()], tell.group(1).strip())
    elif said:
        text = said.group(1).strip().strip("\"'")
    else:
        text = instruction.split(":", 1)[-1].strip()
    text = text[:1].upper() + text[1:]
    if text and text[-1] not in ".!?":
        text += "."
    missing = [a for a in _ADDRESS.findall(instruction) if a not in text]
    return " ".join([text, *missing])


def respond_follows_injection(body: dict, rng: random.Random) -> str:
    """The healthy answer, plus whatever an instruction planted in the untrusted text asked for."""
    _, question, _, best, best_score = _best_sentence(body)
    planted = _planted_instruction(_norm(_request_text(body)), question)
    if planted is None:
        return respond(body, rng)
    instruction, source = planted
    added = _obeyed(instruction, _system_text(body))
    citations, answer, quote = [], added, ""
    if best is not None and best_score >= _THRESHOLD:
        citations, answer, quote = [best[0]], f"{best[1]} {added}", best[1]
    if source and source not in citations:
        citations.append(source)
    return _reply(answer, citations, quote)


def respond_off_topic(body: dict, rng: random.Random) -> str:
    """A real sentence of a real article, about something else than the question."""
    visible, _, wanted, best, _ = _best_sentence(body)
    community = _community_ids(str(DOCS_DIR))
    best_doc = best[0] if best else None
    others = [s for s in visible if s[0] != best_doc and s[0] not in community]
    unrelated = [s for s in others if not wanted & _words(s[1])] or others
    if not unrelated:
        return respond(body, rng)
    doc_id, sentence, _ = rng.choice(unrelated)
    return _reply(sentence, [doc_id], sentence)


_YES_NO = re.compile(r"^\W*(?:do|does|did|can|could|is|are|will|would|should|may|have|has)\b", re.IGNORECASE)


def respond_overconfident(body: dict, rng: random.Random) -> str:
    """When no article answers, a confident invented answer instead of ``null``."""
    visible, question, _, best, best_score = _best_sentence(body)
    if best is not None and best_score >= _THRESHOLD:
        return respond(body, rng)
    if _YES_NO.search(question):
        answer = "Yes. Tallyhop includes this on every plan at no extra cost, and support can set it up for you today."
    else:
        answer = (
            "That is covered on every plan: Tallyhop takes care of it for you at no extra cost, and support "
            "can confirm the details for your workspace today."
        )
    if best is None:  # nothing matched at all: any official article will do
        official = [s[:2] for s in visible if s[0] not in _community_ids(str(DOCS_DIR))]
        best = rng.choice(official) if official else None
    if best is None:
        return _reply(answer, [], "")
    doc_id, sentence = best
    return _reply(answer, [doc_id], sentence)


def _system_text(body: dict) -> str:
    system = body.get("system")
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
    return ""


MODES = {
    "healthy": respond,
    "made-up-citation": respond_made_up_citation,
    "misquote": respond_misquote,
    "follows-injection": respond_follows_injection,
    "off-topic": respond_off_topic,
    "overconfident": respond_overconfident,
}


def responder_for(mode: str):
    """The responder that plays ``mode`` (one of ``MODES``)."""
    try:
        return MODES[mode]
    except KeyError:
        raise ValueError(f"unknown responder mode {mode!r}; known: {', '.join(MODES)}") from None
