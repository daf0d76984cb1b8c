"""Acceptance (grading integrity): degenerate strategies earn nothing.

A submission that never calls the model, one that answers 'unknown', 'unavailable' or 'rejected'
to everything, one that echoes an article without asking the model, and one that gives up at the
first fault must each score well below a solution that retries properly. The variants are in
``fixtures/degenerate/`` (plus the existing ``fixtures/never_calls_model``); each docstring says
the strategy it plays. They were written from the brief and the starter kit, not tuned to the
probes. ``retries_properly`` is the yardstick; ``gives_up_at_first_fault`` is the same file with
``MAX_ATTEMPTS = 1``.

Measured with ``manage.py grade PATH --exercise helpdesk-answerer --executor forkserver --json``
(exercise 1.2.0, 42 probes), for scale: reference 42, written_blind 42, retries_properly 40,
gives_up_at_first_fault 34, partly_hardened 22, always_unknown 14, always_unavailable 13,
rejects_everything 9, never_calls_model 7, starter 7, echoes_articles 5. (On 1.1.0, before the
probes were fixed for this: always_unknown 22 of 40, always_unavailable 18, gives_up 35 of 40.)

The thresholds, and why they mean "well below":

- ``MAX_PASS_SHARE`` (40 %): a strategy that does no useful work must stay clearly under an honest
  partial effort. The partly hardened fixture (transport only) passes 22 of 42 (52 %); 40 % is 16,
  six probes under it. Passes of a degenerate variant are an upper bound that load cannot raise (a
  loaded machine only makes calls slower, hence more probes fail), so this bound has no timing
  exposure.
- ``MIN_GAP`` (10 probes, a quarter of them) fewer than the yardstick graded in the same run: the
  difference must show in the headline number a reviewer sees first, not only in one failure mode.
- ``YARDSTICK_MAX_MISSES`` (4): the yardstick fails 2 probes as written and left so, untuned (a
  lone surrogate reaches the SDK and becomes 'unavailable'; 4 requests for a question whose replies
  are all truncated, where the cost probe allows 3), and 2 more are allowed for a loaded machine:
  its stall and drip answers take up to 17.5 of the 20 s. A yardstick graded low only makes the
  gaps above harder to meet, never easier.
- Giving up at the first fault is one flaw, in one failure mode, and it is judged there: the
  probes that inject a fault before a good answer (or never recover, and ask that the feature
  tried again) are where retrying is measured. ``MIN_RECOVERIES`` (5): the yardstick turns at least
  five of them into an answer, and the same code without retries must fail every one;
  ``MAX_TRANSIENT_SHARE`` (50 %): it passes at most half of the transient probes (it passes 4 of
  11; the yardstick 11), which puts the rubric's suggested level for transient faults at 1, not 3;
  ``MIN_FAILED_BY_GIVING_UP`` (7): and at least seven probes in all, the six fault-then-recover
  probes and persistent overload (which asks for a second attempt before 'unavailable').
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from grader.fakemodel import parse_script
from grader.runner import grade

from .helpdesk import EXERCISE, FIXTURES, exercise

pytestmark = pytest.mark.slow

MAX_PASS_SHARE = 0.40
MIN_GAP = 10
YARDSTICK_MAX_MISSES = 4
MIN_RECOVERIES = 5
MAX_TRANSIENT_SHARE = 0.5
MIN_FAILED_BY_GIVING_UP = 7

YARDSTICK = "retries_properly"
SUBMISSIONS = {
    YARDSTICK: FIXTURES / "degenerate" / "retries_properly",
    "gives_up_at_first_fault": FIXTURES / "degenerate" / "gives_up_at_first_fault",
    "always_unknown": FIXTURES / "degenerate" / "always_unknown",
    "always_unavailable": FIXTURES / "degenerate" / "always_unavailable",
    "rejects_everything": FIXTURES / "degenerate" / "rejects_everything",
    "echoes_articles": FIXTURES / "degenerate" / "echoes_articles",
    "never_calls_model": FIXTURES / "never_calls_model",
}


DEGENERATE = ["never_calls_model", "echoes_articles", "rejects_everything", "always_unknown", "always_unavailable"]


@pytest.fixture(scope="module")
def executor(forkserver_executor):
    return forkserver_executor


@pytest.fixture(scope="module")
def graded(executor):
    """Every variant and the yardstick, graded side by side to keep the suite short.

    They run concurrently, load probes included: the degenerate verdicts are upper bounds that load
    cannot raise, and the yardstick's lower bound has room for load (``YARDSTICK_MAX_MISSES``).
    """
    # The first load of the hidden package is not safe from several threads at once (a second
    # thread can get the half-imported probes module), so it is loaded here, before they start.
    exercise()
    with ThreadPoolExecutor(max_workers=len(SUBMISSIONS)) as pool:
        futures = {
            name: pool.submit(grade, path, EXERCISE, executor=executor, exclusive_alone=False)
            for name, path in SUBMISSIONS.items()
        }
        return {name: future.result() for name, future in futures.items()}


def _passes(report) -> list[str]:
    return [o.id for o in report.outcomes if o.outcome == "pass"]


def _failures(report) -> list[tuple[str, str, str]]:
    return [(o.id, o.outcome, o.reason) for o in report.outcomes if o.outcome != "pass"]


def _answered(outcome) -> bool:
    calls = outcome.evidence.get("calls") or []
    return (
        outcome.outcome == "pass"
        and bool(calls)
        and all((c.get("value") or {}).get("status") == "answered" for c in calls)
    )


def _fault_then_ok(probe) -> bool:
    steps = parse_script(probe.script)
    return steps[0].name != "ok" and any(step.name == "ok" for step in steps[1:])


@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_no_variant_meets_an_infrastructure_error(graded, name):
    assert graded[name].infra_errors == 0, _failures(graded[name])


def test_the_yardstick_that_retries_properly_passes_nearly_every_probe(graded):
    report = graded[YARDSTICK]

    assert report.passed >= report.total - YARDSTICK_MAX_MISSES, _failures(report)


@pytest.mark.parametrize("name", DEGENERATE)
def test_a_degenerate_strategy_scores_well_below_a_solution_that_retries_properly(graded, name):
    report, yardstick = graded[name], graded[YARDSTICK]

    assert report.passed <= MAX_PASS_SHARE * report.total, (report.passed, _passes(report))
    assert report.passed <= yardstick.passed - MIN_GAP, (report.passed, yardstick.passed, _passes(report))


def test_giving_up_at_the_first_fault_fails_every_recovery_the_yardstick_makes(graded):
    """Every transient probe that injects a fault before a good answer, and that the yardstick
    answered, is failed by the same code with no retries.

    transient-proxy-html-then-ok is such a probe too, but it accepts 'unavailable' and the yardstick
    gives up on an HTML page as well, so it is not a recovery here.
    """
    yardstick, gives_up = graded[YARDSTICK], graded["gives_up_at_first_fault"]
    transient = [p for p in exercise().probes if p.failure_mode == "transient" and _fault_then_ok(p)]
    recovered = [p.id for p in transient if _answered(yardstick.outcome(p.id))]

    assert len(recovered) >= MIN_RECOVERIES, recovered
    assert [pid for pid in recovered if gives_up.outcome(pid).outcome != "fail"] == []


def test_giving_up_at_the_first_fault_scores_well_below_where_retrying_is_measured(graded):
    report = graded["gives_up_at_first_fault"]
    transient = report.by_failure_mode()["transient"]

    assert transient["passed"] <= MAX_TRANSIENT_SHARE * transient["total"], _passes(report)
    assert report.total - report.passed >= MIN_FAILED_BY_GIVING_UP, _failures(report)
