"""Delay arithmetic between attempts (spec.retry.backoff).

Pure and deterministic: the jitter is derived from a seed string with a hash,
never from `random`, so every replica of the operator, and every re-run of the
same reconcile, computes the same retry time.
"""

from __future__ import annotations

import hashlib
import math

from taskops.api.taskjob import Backoff


def base_delay(backoff: Backoff, retry: int) -> float:
    """Seconds before retry `retry` (1-based), before jitter.

    `Exponential`: min(initialDelaySeconds * factor^(retry-1), maxDelaySeconds);
    `Fixed`: initialDelaySeconds (never above maxDelaySeconds); `None`: 0.
    A retry number below 1 means "no failure yet" and waits 0.
    """
    if retry < 1 or backoff.policy == "None":
        return 0.0
    initial = float(backoff.initial_delay_seconds)
    maximum = float(backoff.max_delay_seconds)
    if backoff.policy == "Fixed" or initial == 0.0 or backoff.factor == 1.0:
        return min(initial, maximum)
    if initial >= maximum:
        return maximum
    # Compare in log space: factor ** (retry - 1) overflows a float long before
    # a retry count that the schema allows.
    if (retry - 1) * math.log(backoff.factor) >= math.log(maximum / initial):
        return maximum
    return min(initial * backoff.factor ** (retry - 1), maximum)


def jitter_unit(seed: str) -> float:
    """A number in [-1, 1) that depends only on `seed` (uniform over seeds)."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**63 - 1.0


def retry_delay(backoff: Backoff, retry: int, seed: str) -> float:
    """Seconds before retry `retry` (1-based): the base delay, then +/- jitter.

    The result lies in [d * (1 - jitter), d * (1 + jitter)] for d =
    `base_delay(backoff, retry)`, so it is never negative. `seed` should name
    the attempt being delayed (job uid, index, attempt) so that parallel
    indexes spread out while a re-computation gives the same answer.
    """
    delay = base_delay(backoff, retry)
    if delay == 0.0 or backoff.jitter == 0.0:
        return delay
    return max(0.0, delay * (1.0 + backoff.jitter * jitter_unit(seed)))
