"""Client-side rate limiting of API calls: a token bucket, as client-go's
``flowcontrol.NewTokenBucketRateLimiter(qps, burst)``.

The bucket starts full with ``burst`` tokens and refills at ``qps`` tokens per
second, never above ``burst``. Each call takes one token; when none is left the
caller blocks until its token has accrued. Like ``golang.org/x/time/rate``
(which client-go wraps), a caller *reserves* its token under the lock (the
count may go negative: tokens owed) and sleeps outside it, so waiters are
served in the order they arrived and a sleeping thread holds up nobody else.
Over any interval of ``t`` seconds at most ``burst + qps * t`` calls pass.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Thread-safe token bucket; ``acquire()`` blocks the calling thread until a token is free.

    ``clock`` (seconds, monotonic) and ``sleep`` are injectable for tests.
    """

    def __init__(self, qps: float, burst: int, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not (qps > 0 and math.isfinite(qps)):
            raise ValueError(f"qps must be a positive finite number, got {qps!r}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self.qps = float(qps)
        self.burst = int(burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._last = clock()

    def reserve(self) -> float:
        """Take one token now; return the seconds until it is due (0.0: at once).

        The token is owed from this moment whether or not the caller waits, so a
        later caller is due after this one.
        """
        with self._lock:
            # max(): a clock that steps back must not drain the bucket.
            now = max(self._clock(), self._last)
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
            self._last = now
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.qps

    def acquire(self) -> float:
        """Block until one token is available and take it; return the seconds waited."""
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)
        return delay
