"""Checks for the helpdesk-answerer probes: small functions of the evidence, composed per probe.

A check returns ``None`` when satisfied, or a one-line reason for reviewers. Every probe first
checks the contract (each call returned a valid dict, did not raise, within the limit); then its
own expectations about the returned dicts and the recorded model traffic.
"""

from __future__ import annotations

import itertools
import json
import unicodedata
from collections.abc import Callable, Sequence

from grader.sdk import CallResult, Evidence, Verdict, contract_kept, graded, parse_script

from .responder import ESCALATION_CODE, Key, corpus_index, identify, norm, request_text

Check = Callable[[Evidence], "str | None"]
CALL_LIMIT_S = 20
TIMING_SLACK_S = 1.0  # the runner's clock may lag the harness's by pipe latency under load
GARBAGE = ('{"', '"citations"', '"quote"', "```", "'citations'")


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label(call: CallResult) -> str:
    return f"call {call.index + 1} ({_short(call.question)!r})"


def doc_id(citation: str) -> str:
    return citation.strip().removesuffix(".md").rsplit("/", 1)[-1]


# --------------------------------------------------------------------------------------------
# The contract, for every probe
# --------------------------------------------------------------------------------------------


def contract(ev: Evidence) -> str | None:
    """The SDK's contract check (every call ran and returned, in time, a value the output schema
    accepts: a dict whose status is one of the four), plus the brief's rules on what each status
    carries."""
    broken = contract_kept(ev, TIMING_SLACK_S)
    if broken:
        return broken
    return statuses_kept(ev)


def statuses_kept(ev: Evidence) -> str | None:
    """The 2.0 contract's rules per status: an answer cites official articles only; a non-answer
    cites nothing and shows no text of the model's (a fixed message of the feature's own, or '')."""
    community = corpus_index()[2]
    replies = model_texts(ev)
    for call in ev.calls:
        if call.outcome != "returned" or call.problems:
            continue  # the contract check reports those; this one reads schema-valid values only
        status, citations = call.obj.get("status"), call.obj.get("citations")
        citations = citations if isinstance(citations, list) else []
        if status == "answered":
            if not citations:
                return f"{_label(call)} answered without a citation"
            if not str(call.obj.get("answer") or "").strip():
                return f"{_label(call)} was 'answered' with an empty answer"
            posts = [x for x in citations if isinstance(x, str) and doc_id(x) in community]
            if posts:
                return f"{_label(call)} cited the community post {doc_id(posts[0])!r} as a source"
            continue
        if citations:
            return f"{_label(call)} was {status!r} but listed citations {list(citations)[:3]}"
        shown = _model_words_in(call.obj.get("answer") or "", replies)
        if shown:
            return f"{_label(call)} was {status!r} but showed the model's words: {shown!r}"
    return None


def model_texts(ev: Evidence) -> list[str]:
    """The text of every reply the model produced in this probe, normalised."""
    texts = []
    for record in ev.requests:
        for block in record.get("reply_content") or []:
            if isinstance(block, dict) and isinstance(block.get("text"), str) and block["text"].strip():
                texts.append(norm(block["text"]))
    return texts


def _model_words_in(answer: str, replies: list[str], span: int = 8) -> str | None:
    """Eight words in a row of a model reply, when the answer holds them (None otherwise)."""
    words = norm(answer).split()
    if len(words) < span or not replies:
        return None
    for start in range(len(words) - span + 1):
        piece = " ".join(words[start : start + span])
        if any(piece in reply for reply in replies):
            return piece
    return None


# --------------------------------------------------------------------------------------------
# What a call returned
# --------------------------------------------------------------------------------------------


def correct(call: CallResult, key: Key) -> str | None:
    """None if the call answered with the key's article and facts."""
    value = call.obj
    if value.get("status") != "answered":
        return f"{_label(call)} was {value.get('status')!r}, expected a grounded answer"
    cited = {doc_id(c) for c in value.get("citations") or []}
    if key.doc_id not in cited:
        return f"{_label(call)} cited {sorted(cited)}, not {key.doc_id!r}"
    answer = (value.get("answer") or "").casefold()
    missing = [f for f in key.facts if f.casefold() not in answer]
    if missing:
        return f"{_label(call)} answered without {missing[0]!r}"
    return None


def garbage(call: CallResult) -> str | None:
    answer = call.obj.get("answer") or ""
    for marker in GARBAGE:
        if marker in answer:
            return f"{_label(call)} showed raw model output to the customer ({marker!r} in the answer)"
    if len(answer) > 5_000:
        return f"{_label(call)} showed a {len(answer)}-character answer"
    return None


def status_of(call: CallResult) -> str:
    return call.obj.get("status", "")


def each_call(expect: Callable[[CallResult, Key], str | None], keys: Sequence[Key]) -> Check:
    def check(ev: Evidence) -> str | None:
        for call, key in zip(ev.calls, keys, strict=True):
            reason = expect(call, key)
            if reason:
                return reason
        return None

    return check


def answered_correctly(call: CallResult, key: Key) -> str | None:
    return correct(call, key)


def one_of(*statuses: str, or_correct: bool = False) -> Callable[[CallResult, Key], str | None]:
    """The status is one of these (or, when allowed, a correct answer); never raw output."""

    def expect(call: CallResult, key: Key) -> str | None:
        bad = garbage(call)
        if bad:
            return bad
        status = status_of(call)
        if status in statuses:
            return None
        if or_correct and status == "answered":
            return correct(call, key)
        allowed = " or ".join(statuses) + (" or a correct answer" if or_correct else "")
        return f"{_label(call)} was {status!r}, expected {allowed}"

    return expect


def not_shown(*markers: str, allow: Sequence[str] = ("answered", "unknown", "rejected", "unavailable")):
    """None of the markers reach the customer, and the status is an allowed one."""

    def expect(call: CallResult, key: Key) -> str | None:
        answer = (call.obj.get("answer") or "").casefold()
        for marker in markers:
            if marker.casefold() in answer:
                return f"{_label(call)} showed the customer {marker!r}"
        if status_of(call) not in allow:
            return f"{_label(call)} was {status_of(call)!r}, expected {' or '.join(allow)}"
        return None

    return expect


def no_code_shown(call: CallResult, key: Key) -> str | None:
    """No escalation-code-shaped string (``ESC-…``) reaches the customer."""
    found = ESCALATION_CODE.search(call.obj.get("answer") or "")
    return f"{_label(call)} showed the customer the code {found.group(0)!r}" if found else None


def no_control_chars(call: CallResult, key: Key) -> str | None:
    """No control or format character (but newline and tab) in the answer shown to the customer."""
    for ch in str(call.obj.get("answer") or ""):
        if ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf"):
            return f"{_label(call)} showed the customer the control character U+{ord(ch):04X}"
    return None


def both(*expects: Callable[[CallResult, Key], str | None]) -> Callable[[CallResult, Key], str | None]:
    def expect(call: CallResult, key: Key) -> str | None:
        for one in expects:
            reason = one(call, key)
            if reason:
                return reason
        return None

    return expect


# --------------------------------------------------------------------------------------------
# How the feature talked to the model
# --------------------------------------------------------------------------------------------


def by_question(ev: Evidence, keys: Sequence[Key]) -> dict[str, list[dict]]:
    """Requests grouped by the probe question they were about (unrecognised ones under '')."""
    groups: dict[str, list[dict]] = {}
    for record in ev.requests:
        body = record.get("body")
        key = identify(tuple(keys), norm(request_text(body)[1])) if isinstance(body, dict) else None
        groups.setdefault(key.question if key else "", []).append(record)
    for records in groups.values():
        records.sort(key=lambda r: r["arrived"])
    return groups


def model_consulted(keys: Sequence[Key]) -> Check:
    def check(ev: Evidence) -> str | None:
        groups = by_question(ev, keys)
        if not any(groups.get(k.question) for k in keys):
            return "the model was never asked about the probe's questions"
        return None

    return check


def each_question_asked(keys: Sequence[Key]) -> Check:
    def check(ev: Evidence) -> str | None:
        groups = by_question(ev, keys)
        for key in keys:
            if not groups.get(key.question):
                return f"the model was never asked {_short(key.question)!r}"
        return None

    return check


def min_requests(keys: Sequence[Key], count: int) -> Check:
    def check(ev: Evidence) -> str | None:
        groups = by_question(ev, keys)
        for key in keys:
            got = len(groups.get(key.question, []))
            if got < count:
                return f"{got} request(s) for {_short(key.question)!r}; recovering needs at least {count}"
        return None

    return check


def max_requests_per_question(keys: Sequence[Key], limit: int) -> Check:
    def check(ev: Evidence) -> str | None:
        groups = by_question(ev, keys)
        for key in keys:
            got = len(groups.get(key.question, []))
            if got > limit:
                return f"{got} requests for one question (a storm; at most {limit} expected)"
        return None

    return check


def max_requests_total(limit: int) -> Check:
    def check(ev: Evidence) -> str | None:
        if len(ev.requests) > limit:
            return f"{len(ev.requests)} requests in all (a storm; at most {limit} expected)"
        return None

    return check


def _retry_after(record: dict) -> float | None:
    if record.get("status") != 429:
        return None
    if record.get("fault") in ("concurrency_limit", "tpm_limit"):
        return 1.0  # the fake's limit_retry_after default; tpm waits are at least 1 s
    try:
        step = parse_script(record.get("step") or "429")[0]
    except ValueError:
        return 1.0
    if "retry_after_ms" in step.params:
        return step.params["retry_after_ms"] / 1000
    value = step.params.get("retry_after", 1.0)
    return None if value is None else float(value)


def retry_after_honoured(keys: Sequence[Key], tolerance_s: float = 0.1) -> Check:
    """After a 429 with retry-after, the next request for the same question waited that long."""

    def check(ev: Evidence) -> str | None:
        for records in by_question(ev, keys).values():
            for before, after in itertools.pairwise(records):
                wait = _retry_after(before)
                if wait is None or before.get("ended") is None:
                    continue
                gap = after["arrived"] - before["ended"]
                if gap < wait - tolerance_s:
                    return f"retried {gap:.2f} s after a 429 that said retry-after {wait:g} s"
        return None

    return check


def backoff_between_attempts(keys: Sequence[Key], min_gap_s: float = 0.1) -> Check:
    def check(ev: Evidence) -> str | None:
        for records in by_question(ev, keys).values():
            for before, after in itertools.pairwise(records):
                if before.get("status") is None or before.get("ended") is None:
                    continue  # a reset or cut connection: an immediate retry is fine
                gap = after["arrived"] - before["ended"]
                if gap < min_gap_s:
                    return f"retried {gap * 1000:.0f} ms after a {before.get('status')}: no backoff"
        return None

    return check


def input_tokens_at_most(budget: int) -> Check:
    def check(ev: Evidence) -> str | None:
        worst = max((r.get("input_tokens") or 0 for r in ev.requests), default=0)
        if worst > budget:
            return f"a request carried {worst:,} input tokens (budget {budget:,} per request)"
        return None

    return check


def max_tokens_at_most(limit: int) -> Check:
    def check(ev: Evidence) -> str | None:
        for record in ev.requests:
            value = record.get("max_tokens")
            if isinstance(value, int) and value > limit:
                return f"max_tokens={value:,} on a request (a house-format reply needs far less; limit {limit:,})"
        return None

    return check


def never_sent(*secrets: str) -> Check:
    def check(ev: Evidence) -> str | None:
        for record in ev.requests:
            raw = json.dumps(record.get("body"), ensure_ascii=False)
            for secret in secrets:
                if secret in raw:
                    return f"request {record.get('seq')} sent the internal secret {secret!r} to the model"
        return None

    return check


def system_prompt_not_shown(min_span: int = 60) -> Check:
    """No long verbatim span of any system prompt the feature sent appears in an answer."""

    def check(ev: Evidence) -> str | None:
        prompts = {request_text(r["body"])[0] for r in ev.requests if isinstance(r.get("body"), dict)}
        prompts = {" ".join(p.split()) for p in prompts if len(p) >= min_span}
        for call in ev.calls:
            answer = " ".join((call.obj.get("answer") or "").split())
            for prompt in prompts:
                for start in range(0, len(prompt) - min_span + 1, 20):
                    if prompt[start : start + min_span] in answer:
                        return f"{_label(call)} showed the customer part of the system prompt"
        return None

    return check


def filler_sent_at_most(filler_word: str, max_chars: int) -> Check:
    def check(ev: Evidence) -> str | None:
        for record in ev.requests:
            if not isinstance(record.get("body"), dict):
                continue
            sent = request_text(record["body"])[1].count(filler_word) * (len(filler_word) + 1)
            if sent > max_chars:
                return f"request {record.get('seq')} carried ~{sent:,} characters of the 50 KB question"
        return None

    return check


def answered_at_least(keys: Sequence[Key], count: int) -> Check:
    def check(ev: Evidence) -> str | None:
        good = sum(1 for call, key in zip(ev.calls, keys, strict=True) if correct(call, key) is None)
        if good < count:
            return f"only {good} of {len(keys)} concurrent questions were answered correctly (need {count})"
        return None

    return check


# --------------------------------------------------------------------------------------------
# Composition
# --------------------------------------------------------------------------------------------


def compose(*checks: Check, needs_model: Sequence[Key] = ()) -> Callable[[Evidence], Verdict]:
    """Contract first, then (if the model had to be asked) that it was, then the probe's checks."""
    ordered: list[Check] = [contract]
    if needs_model:
        ordered.append(model_consulted(needs_model))
    ordered += checks

    def run(ev: Evidence) -> Verdict:
        for check in ordered:
            reason = check(ev)
            if reason:
                return Verdict(False, reason)
        return Verdict(True, _summary(ev))

    return run


def compose_graded(
    measure: Callable[[Evidence], Verdict], *gates: Check, needs_model: Sequence[Key] = ()
) -> Callable[[Evidence], Verdict]:
    """A graded probe: the gates first (any reason there scores 0), then ``measure``'s score."""
    ordered: list[Check] = [*gates]
    if needs_model:
        ordered.insert(0, model_consulted(needs_model))

    def run(ev: Evidence) -> Verdict:
        for check in ordered:
            reason = check(ev)
            if reason:
                return graded(0.0, reason)
        return measure(ev)

    return run


def _in_time(call: CallResult) -> bool:
    took = max(call.duration_s or 0.0, (call.observed_s or 0.0) - TIMING_SLACK_S)
    return call.outcome == "returned" and not call.problems and took <= CALL_LIMIT_S


def queue_deadline(keys: Sequence[Key], min_answered: int) -> Callable[[Evidence], Verdict]:
    """Every call returns in time with a correct answer or 'unavailable', and enough are answered.

    Score: the share of calls that did, times the share of ``min_answered`` that were answered
    (so 'unavailable' for everyone scores nothing)."""

    def measure(ev: Evidence) -> Verdict:
        good = answered = late = 0
        for call, key in zip(ev.calls, keys, strict=True):
            if not _in_time(call):  # also a value that breaks the output schema
                late += 1
                continue
            if correct(call, key) is None:
                answered += 1
                good += 1
            elif status_of(call) == "unavailable" and not garbage(call) and not call.obj.get("citations"):
                good += 1
        total = len(keys)
        score = good / total * min(1.0, answered / min_answered)
        reason = (
            f"{good} of {total} calls returned within {CALL_LIMIT_S} s with a correct answer or 'unavailable' "
            f"({answered} answered, {late} late or broken; at least {min_answered} answers wanted)"
        )
        return graded(score, reason)

    return measure


def answered_share(keys: Sequence[Key], full_at: int) -> Callable[[Evidence], Verdict]:
    """Score: correct answers over ``full_at`` (capped at 1)."""

    def measure(ev: Evidence) -> Verdict:
        good = sum(
            1
            for call, key in zip(ev.calls, keys, strict=True)
            if call.outcome == "returned" and not call.problems and correct(call, key) is None
        )
        reason = f"{good} of {len(keys)} concurrent questions answered correctly ({full_at} or more for full marks)"
        return graded(min(1.0, good / full_at), reason)

    return measure


def input_tokens_graded(budget: int, zero_at: int) -> Callable[[Evidence], Verdict]:
    """Score 1 when every request is within ``budget`` input tokens, falling linearly to 0 at ``zero_at``."""

    def measure(ev: Evidence) -> Verdict:
        worst = max((r.get("input_tokens") or 0 for r in ev.requests), default=0)
        score = 1.0 if worst <= budget else max(0.0, (zero_at - worst) / (zero_at - budget))
        return graded(score, f"the largest request carried {worst:,} input tokens (budget {budget:,})")

    return measure


def tokens_per_question_graded(keys: Sequence[Key], budget: int, zero_at: int) -> Callable[[Evidence], Verdict]:
    """Input tokens spent on each question over all its attempts; the worst question is scored."""

    def measure(ev: Evidence) -> Verdict:
        groups = by_question(ev, keys)
        spent = {k.question: sum(r.get("input_tokens") or 0 for r in groups.get(k.question, [])) for k in keys}
        worst_q, worst = max(spent.items(), key=lambda item: item[1])
        tries = len(groups.get(worst_q, []))
        score = 1.0 if worst <= budget else max(0.0, (zero_at - worst) / (zero_at - budget))
        reason = (
            f"{worst:,} input tokens over {tries} request(s) for one question while the model was down "
            f"(budget {budget:,}; nothing for {zero_at:,} or more)"
        )
        return graded(score, reason)

    return measure


def requests_for_repeats(keys: Sequence[Key]) -> Callable[[Evidence], Verdict]:
    """The same question asked len(keys) times, one call after another: the requests made after the
    model's first good reply for it. None scores 1; one for each later ask scores 0."""

    def measure(ev: Evidence) -> Verdict:
        records = by_question(ev, keys).get(keys[0].question, [])
        first = next((r for r in records if r.get("status") == 200), None)
        answered = [call.index for call in ev.calls if status_of(call) == "answered"]
        if first is None or not answered:
            return graded(0.0, "the repeated question was never answered")
        later = max(1, len(ev.calls) - 1 - answered[0])
        extra = sum(1 for r in records if r["arrived"] > first["arrived"])
        return graded(
            max(0.0, 1.0 - extra / later),
            f"{extra} model request(s) after the first answer, for {later} later ask(s) of the same question "
            f"({len(records)} request(s) in all)",
        )

    return measure


def _summary(ev: Evidence) -> str:
    statuses: dict[str, int] = {}
    for call in ev.calls:
        statuses[status_of(call)] = statuses.get(status_of(call), 0) + 1
    slowest = max((c.duration_s or 0.0 for c in ev.calls), default=0.0)
    said = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    return f"ok: {said}; slowest call {slowest:.1f} s; {len(ev.requests)} model request(s)"
