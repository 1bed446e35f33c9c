"""A token bucket: how long a sender waits before its next message so that a provider sees at
most ``rate`` messages a second on average, and at most ``burst`` at once.

Pure: the clock is a function passed in (``time.monotonic`` in production, a list of numbers in
tests), and the bucket never sleeps; the sender sleeps for what ``wait_needed`` says. Decisions:
- The bucket starts full (``burst`` tokens), so a run's first ``burst`` messages go at once.
- ``rate`` None means no throttle: nothing ever waits (the bench and the outbox provider).
- A clock that goes backwards adds no tokens (elapsed time is never negative).
"""

from __future__ import annotations

import time
from collections.abc import Callable

# A token counts as whole a little before 1.0: after sleeping exactly the wait given, float
# rounding may leave 0.9999999999, and a wait of 1e-17 s cannot move a clock.
_ONE = 1.0 - 1e-9


class TokenBucket:
    def __init__(self, rate: float | None, burst: int = 1,
                 clock: Callable[[], float] = time.monotonic):
        if rate is not None and rate <= 0:
            raise ValueError("the rate must be above 0 messages per second, or None for none")
        if burst < 1:
            raise ValueError("the burst must be at least 1 message")
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens = float(burst)
        self._last = clock()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._last)
        self._last = max(self._last, now)
        if self.rate is not None:
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)

    def wait_needed(self, now: float | None = None) -> float:
        """Seconds until a message may go (0.0: now); takes nothing from the bucket."""
        if self.rate is None:
            return 0.0
        self._refill(self._clock() if now is None else now)
        return 0.0 if self._tokens >= _ONE else (1.0 - self._tokens) / self.rate

    def take(self, now: float | None = None) -> bool:
        """Takes one message's token if one is there: True if the message may go now."""
        if self.wait_needed(now) > 0.0:
            return False
        if self.rate is not None:
            self._tokens = max(0.0, self._tokens - 1.0)
        return True

    def send_when_allowed(self, sleep: Callable[[float], None] = time.sleep) -> float:
        """Waits (with ``sleep``) until a message may go and takes its token; the seconds
        waited in all."""
        waited = 0.0
        while not self.take():
            delay = self.wait_needed()
            sleep(delay)
            waited += delay
        return waited
