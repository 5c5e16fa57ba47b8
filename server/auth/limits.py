"""Per-credential rate limits: a token bucket for each credential that has called, refilled with time.

A credential gets `burst` requests at once and `per_second` sustained; beyond that its requests are refused with
429 and the seconds until one more is allowed (`Retry-After`). One credential's burst never slows another's (each
tenant's credentials are their own buckets). Buckets of credentials idle long enough to be full again are dropped,
so the table stays as small as the set of recent callers.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass

DEFAULT_PER_SECOND = 50.0
DEFAULT_BURST = 100
PRUNE_EVERY = 1024  # takes between sweeps of idle buckets


@dataclass
class _Bucket:
    tokens: float
    at: float
    refused: bool = False  # the last take was refused (only the first refusal of a spell is audited)


class RateLimiter:
    def __init__(self, per_second: float = DEFAULT_PER_SECOND, burst: int = DEFAULT_BURST) -> None:
        self.per_second = per_second
        self.burst = burst
        self._buckets: dict[Hashable, _Bucket] = {}
        self._lock = threading.Lock()
        self._takes = 0

    def take(self, key: Hashable, now: float | None = None) -> tuple[float, bool]:
        """(0, False) when `key` may make a request now; else the seconds until it may, and whether this is the
        first refusal since its last allowed request."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._takes += 1
            if self._takes % PRUNE_EVERY == 0:
                self._prune(now)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.per_second)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                bucket.refused = False
                return 0.0, False
            first, bucket.refused = not bucket.refused, True
            return (1.0 - bucket.tokens) / self.per_second, first

    def _prune(self, now: float) -> None:
        full_after = self.burst / self.per_second
        for key in [k for k, b in self._buckets.items() if now - b.at > full_after]:
            del self._buckets[key]


def retry_after(seconds: float) -> str:
    """`Retry-After` takes whole seconds; round up so a client that waits that long is let in."""
    return str(max(1, math.ceil(seconds)))
