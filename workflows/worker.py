"""A Celery worker takes grading work only while it has proved it can grade.

A worker started with the grading queues (``grading``, ``regrade``) does not consume them at first
(``celeryd_after_setup`` deselects them); once it is up, a thread runs the self-check
(:mod:`assessments.grading.selfcheck`). When the check passes the worker starts consuming them
(``add_consumer``, addressed to this worker alone), and runs that failed on our side are sent
back to the queue (:func:`workflows.grading.grading_runs_resume`): a healthy worker appearing is
what an operator's fix looks like. When it fails, the worker says why in its log, and its heartbeat
row carries the state and the reason, which the staff dashboard shows in red; it checks again every
``GRADING_SELF_CHECK_RETRY_S`` and starts taking work by itself once the check passes. A worker that
could grade is checked again every ``GRADING_SELF_CHECK_EVERY_S`` and stops taking grading work
when it no longer can (a grading already running finishes, or fails as an infrastructure fault and
is retried elsewhere).

The default queue (notifications, the sweeper) is consumed whatever the check says.
"""

import logging
import os
import threading
import time
from typing import Any

from celery import Celery
from celery.signals import celeryd_after_setup, worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections, connection

log = logging.getLogger(__name__)

GRADING_QUEUES = ("grading", "regrade")


class GradingGate:
    """The thread that checks this worker and opens or closes its grading queues (module docstring)."""

    def __init__(self, app: Celery, hostname: str, queues: tuple[str, ...]) -> None:
        self.app, self.hostname, self.queues = app, hostname, queues
        self.ready = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="grading-gate", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        from assessments.services import worker_heartbeat_record

        beat = float(settings.GRADING_SELF_CHECK_BEAT_S)
        next_check = time.monotonic()
        while not self._stop.is_set():
            try:
                close_old_connections()
                if time.monotonic() >= next_check:
                    ok = self.check()
                    every = settings.GRADING_SELF_CHECK_EVERY_S if ok else settings.GRADING_SELF_CHECK_RETRY_S
                    next_check = time.monotonic() + float(every)
                else:
                    worker_heartbeat_record(hostname=self.hostname, pid=os.getpid())
            except Exception:  # the database away for a moment: try again on the next beat
                log.exception("grading self-check: could not record this worker's state")
            if self._stop.wait(min(beat, max(0.1, next_check - time.monotonic()))):
                break
        connection.close()

    def check(self) -> bool:
        """Run the self-check once; open or close the grading queues on a change. Returns whether it passed."""
        from assessments.grading.selfcheck import grading_self_check
        from assessments.services import worker_grading_state_record
        from workflows.grading import grading_runs_resume

        result = grading_self_check()
        if result.ok and not self.ready:
            if not self._consume(True):
                problem = "the worker did not confirm it consumes the grading queues; trying again"
                worker_grading_state_record(hostname=self.hostname, pid=os.getpid(), ready=False, problem=problem)
                return False
            self.ready = True
            log.info(
                "grading self-check passed in %.1f s (%s): consuming %s", result.seconds, result.reason, self.queues
            )
            worker_grading_state_record(hostname=self.hostname, pid=os.getpid(), ready=True)
            resumed = grading_runs_resume()
            if resumed:
                log.info("sent back to the queue %d run(s) that had failed on our side: %s", len(resumed), resumed)
            return True
        if not result.ok:
            if self.ready:
                self._consume(False)
                self.ready = False
            log.error("grading unavailable on this worker, not taking grading work: %s", result.reason)
        worker_grading_state_record(hostname=self.hostname, pid=os.getpid(), ready=result.ok, problem=result.reason)
        return result.ok

    def _consume(self, on: bool) -> bool:
        """Add (or cancel) this worker's consumers of the grading queues, through its own control channel."""
        control = self.app.control
        confirmed = True
        for queue in self.queues:
            if on:
                replies = control.add_consumer(queue, destination=[self.hostname], reply=True, timeout=10)
            else:
                replies = control.cancel_consumer(queue, destination=[self.hostname], reply=True, timeout=10)
            confirmed = confirmed and bool(replies)
        return confirmed


_gates: dict[str, GradingGate] = {}


@celeryd_after_setup.connect  # type: ignore[untyped-decorator]  # Celery ships no types
def _hold_grading_queues(sender: str, instance: Any, **kwargs: Any) -> None:
    """Before the worker consumes anything: take the grading queues out until the self-check passes."""
    if not settings.GRADING_SELF_CHECK:
        return
    queues = instance.app.amqp.queues
    held = tuple(q for q in GRADING_QUEUES if q in queues.consume_from)
    if not held:
        return
    queues.deselect(held)
    _gates[sender] = GradingGate(instance.app, sender, held)
    log.info("grading queues %s held until this worker proves it can grade", held)


@worker_ready.connect  # type: ignore[untyped-decorator]
def _start_gate(sender: Any, **kwargs: Any) -> None:
    gate = _gates.get(getattr(sender, "hostname", ""))
    if gate is not None:
        gate.start()


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _stop_gates(**kwargs: Any) -> None:
    for gate in _gates.values():
        gate.stop()
