"""A process-wide, adaptive cap on model requests in flight.

Up to 32 threads call ``answer`` at once, and the model endpoint allows only a few concurrent
requests. Firing everything and letting the API bounce the excess with 429s wastes requests and
budget, so callers queue here (first come, first served, each with its own deadline).

The cap adapts:
- a 429 (rate limited) while ``n`` other requests of ours were in flight means the endpoint's cap
  is at most ``n``: the limit drops to that and stays under it (a remembered ceiling) for a while,
  so we do not keep probing a hard limit;
- a 529 / overloaded error halves the limit (once per burst);
- each success grows the limit by 1/limit (additive increase) up to the ceiling, or to
  ``maximum`` once the ceiling has expired.
"""

from __future__ import annotations

import collections
import threading
import time

CEILING_TTL_S = 30.0


class AdaptiveLimiter:
    def __init__(self, initial: int, maximum: int, minimum: int = 1) -> None:
        self.minimum = max(1, minimum)
        self.maximum = max(self.minimum, maximum)
        self._initial = initial
        self._limit = float(min(max(initial, self.minimum), self.maximum))
        self._in_flight = 0
        self._lock = threading.Lock()
        self._waiters: collections.deque[threading.Event] = collections.deque()
        self._last_cut = 0.0
        self._ceiling: float | None = None
        self._ceiling_until = 0.0

    @property
    def limit(self) -> int:
        return int(self._limit)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def configure(self, initial: int, maximum: int) -> None:
        """Adopt changed settings (tests, or an operator changing the env) without losing state."""
        with self._lock:
            if maximum == self.maximum and initial == self._initial:
                return
            self.maximum = max(self.minimum, maximum)
            if initial != self._initial:
                self._initial = initial
                self._limit = float(initial)
            self._limit = min(max(self._limit, float(self.minimum)), float(self.maximum))
            self._wake()

    def acquire(self, timeout: float) -> bool:
        """Wait for a slot until ``timeout`` seconds have passed; FIFO among waiters."""
        with self._lock:
            if not self._waiters and self._in_flight < int(self._limit):
                self._in_flight += 1
                return True
            ticket = threading.Event()
            self._waiters.append(ticket)
        if ticket.wait(max(0.0, timeout)):
            return True
        with self._lock:
            if ticket.is_set():  # granted just as we gave up: keep it
                return True
            self._waiters.remove(ticket)
            self._wake()
        return False

    def release(self, outcome: str = "ok") -> None:
        """``outcome``: "ok" (served), "rate_limited" (429), "overloaded" (529 / overloaded_error),
        or "other" (says nothing about capacity)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            now = time.monotonic()
            if outcome == "rate_limited":
                ceiling = float(max(self.minimum, self._in_flight))
                if self._ceiling is not None and now < self._ceiling_until:
                    ceiling = min(ceiling, self._ceiling) if now - self._last_cut < 1.0 else ceiling
                self._ceiling, self._ceiling_until, self._last_cut = ceiling, now + CEILING_TTL_S, now
                self._limit = min(self._limit, ceiling)
            elif outcome == "overloaded":
                if now - self._last_cut > 1.0:  # one cut per burst: errors of a burst arrive together
                    self._limit = max(float(self.minimum), self._limit / 2)
                    self._last_cut = now
            elif outcome == "ok":
                top = float(self.maximum)
                if self._ceiling is not None and now < self._ceiling_until:
                    top = min(top, self._ceiling)
                if self._limit < top:
                    self._limit = min(top, self._limit + 1.0 / self._limit)
            self._wake()

    def _wake(self) -> None:
        """Hand free slots to the oldest waiters (call with the lock held)."""
        while self._waiters and self._in_flight < int(self._limit):
            ticket = self._waiters.popleft()
            self._in_flight += 1
            ticket.set()
