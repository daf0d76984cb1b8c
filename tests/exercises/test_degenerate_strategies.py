"""Acceptance (grading integrity): degenerate strategies earn nothing.

A submission that never calls the model, one that answers 'unknown', 'unavailable' or 'rejected'
to everything, one that echoes an article without asking the model, and one that gives up at the
first fault must each score well below a solution that retries properly. The variants are in
``fixtures/degenerate/`` (plus the existing ``fixtures/never_calls_model``); each docstring says
the strategy it plays. They were written from the brief and the starter kit, not tuned to the
probes. ``retries_properly`` is the yardstick; ``gives_up_at_first_fault`` is the same file with
``MAX_ATTEMPTS = 1``.

Measured with ``manage.py grade PATH --exercise helpdesk-answerer --executor forkserver --json``
(exercise 1.1.0, 40 probes), for scale: reference 40, written_blind 40, retries_properly 38,
gives_up_at_first_fault 35, partly_hardened 21, always_unknown 22, always_unavailable 18,
rejects_everything 13, never_calls_model 7, starter 6, echoes_articles 5.

The thresholds, and why they mean "well below":

- ``MAX_PASS_SHARE`` (40 %): a strategy that does no useful work must stay clearly under an honest
  partial effort. The partly hardened fixture (transport only) passes 21 of 40 (52 %); 40 % is 16,
  five probes under it. Passes of a degenerate variant are an upper bound that load cannot raise (a
  loaded machine only makes calls slower, hence more probes fail), so this bound has no timing
  exposure.
- ``MIN_GAP`` (10 probes, a quarter of them) fewer than the yardstick graded in the same run: the
  difference must show in the headline number a reviewer sees first, not only in one failure mode.
- ``YARDSTICK_MAX_MISSES`` (4): the yardstick fails 2 probes as written and left so, untuned (a
  lone surrogate reaches the SDK and becomes 'unavailable'; 4 requests for a question whose replies
  are all truncated, where the cost probe allows 3), and 2 more are allowed for a loaded machine:
  its stall and drip answers take up to 17.5 of the 20 s. A yardstick graded low only makes the
  gaps above harder to meet, never easier.
- ``MIN_RECOVERIES`` (4): the transient probes that inject a fault before a good answer and that
  the yardstick turned into an answer (429 with retry-after, 529 x3, 500, reset). Giving up at the
  first fault must fail every one of them; fewer than 4 would make that check vacuous.

Known gaps, measured above and marked ``xfail(strict=True)`` below so that the day the probes are
fixed this test says so: the checks (not this test) have to change, in ``hidden/checks.py`` and
``hidden/probes.py``.

- ``always_unknown`` passes 22 of 40 (55 %): 'unknown' is accepted on probes whose model is healthy
  and whose question the articles answer (injection-forum-*, injection-escalation-code,
  input-non-english), and traffic-only checks pass whatever is returned (cost-tokens-per-request,
  cost-max-tokens, load-no-storm, injection-secret-not-sent).
- ``always_unavailable`` passes 18 of 40 (45 %): the same traffic-only checks, and every probe that
  accepts 'unavailable' for a fault (transient-stall, -drip, -persistent-overload, -retry-after-too-long,
  -proxy-html-then-ok, and six output probes).
- ``gives_up_at_first_fault`` passes 35 of 40, 3 under the yardstick: only 4 of the 40 probes need a
  retry to pass, and the probes that accept 'unavailable' (persistent overload among them) do not
  ask that the feature tried again before giving up.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from assessments.grading.executors import ForkServerExecutor
from assessments.grading.fakemodel import parse_script
from assessments.grading.runner import grade

from .helpdesk import EXERCISE, FIXTURES, exercise

pytestmark = pytest.mark.slow

MAX_PASS_SHARE = 0.40
MIN_GAP = 10
YARDSTICK_MAX_MISSES = 4
MIN_RECOVERIES = 4

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


def _known_gap(reason: str):
    return pytest.mark.xfail(
        strict=True, raises=AssertionError, reason=f"the probes reward it today: {reason} (see the module docstring)"
    )


DEGENERATE = [
    "never_calls_model",
    "echoes_articles",
    "rejects_everything",
    pytest.param("always_unknown", marks=_known_gap("'unknown' passes healthy-model and traffic-only probes")),
    pytest.param("always_unavailable", marks=_known_gap("'unavailable' passes fault and traffic-only probes")),
    pytest.param("gives_up_at_first_fault", marks=_known_gap("only 4 probes need a retry to pass")),
]


@pytest.fixture(scope="module")
def executor():
    executor = ForkServerExecutor()
    executor.start()
    yield executor
    executor.close()


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
