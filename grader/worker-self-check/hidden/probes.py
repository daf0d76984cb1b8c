"""The one probe of the worker self-check: the model's reply must come back through the box."""

from grader.sdk import Probe, Verdict

REPLY = "self-check: the fake model answered through the box"


def _answered(evidence) -> Verdict:
    call = evidence.calls[0]
    if call.outcome != "returned":
        detail = call.raised or call.outcome.replace("_", " ")
        return Verdict(False, f"the check's call in the box {detail}")
    if call.obj.get("reply") != REPLY:
        return Verdict(False, f"the fake model's reply did not come back through the box: {call.value!r}"[:300])
    return Verdict(True, f"the box ran anthropic {call.obj.get('anthropic')} and the fake model answered")


PROBES = [
    Probe(
        id="self-check",
        failure_mode="runtime",
        description="A box starts, imports anthropic and gets the fake model's reply through its socket.",
        script="ok",
        inputs=("Is the grader working?",),
        check=_answered,
    )
]


def make_responder(probe):
    return lambda body, rng: REPLY


def prepare(probe, work_dir):
    return {}
