"""Does nothing: every question gets the same polite non-answer, and the model is never called.

The floor of the scale. It passes only the probes where saying nothing is right: no secret, no
system prompt and no attacker's text can be shown when nothing is shown, and a huge question costs
nothing when it is never sent. Every probe that needs the model fails, and so does every probe
that wants an empty or malformed question rejected.
"""

NON_ANSWER = {
    "status": "unknown",
    "answer": "I couldn't find that in our help centre. You can ask our support team from Help > Contact us.",
    "citations": [],
}


def answer(question: str) -> dict:
    return dict(NON_ANSWER, citations=[])
