"""Retries with jittered exponential backoff, and a circuit breaker per provider.

litellm's own retries stack on the OpenAI SDK's (``num_retries=2`` made five requests), so both are off and
parac owns the policy here, the same for every provider. A breaker opens after consecutive failures of one
provider so that a dead endpoint costs one fast refusal per call instead of a timeout per attempt; the model
fallback chain then moves on at once.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

from .errors import ParacBaseError


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed call is tried again."""

    max_retries: int = 2
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based): full exponential, jittered down to half.

        Jitter spreads the retries of many concurrent calls so they do not hit a recovering server together.
        """
        ceiling = min(self.max_delay_s, self.initial_delay_s * (2**attempt))
        return ceiling * (0.5 + 0.5 * (rng or random).random())


class CircuitOpen(ParacBaseError):
    """The provider failed too often just now; calls are refused until it has had time to recover."""


@dataclass
class CircuitBreaker:
    """Closed → open after ``threshold`` consecutive failures → half-open after ``cooldown_s`` (one trial call)."""

    key: str
    threshold: int = 5
    cooldown_s: float = 30.0
    failures: int = 0
    opened_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if time.monotonic() - self.opened_at >= self.cooldown_s else "open"

    def check(self) -> None:
        """Raise :class:`CircuitOpen` while the breaker is open; a half-open breaker lets one call through."""
        with self._lock:
            if self.opened_at is None:
                return
            waited = time.monotonic() - self.opened_at
            if waited < self.cooldown_s:
                raise CircuitOpen(
                    f'provider "{self.key}" is paused after {self.failures} failures in a row; '
                    f"retrying it in {self.cooldown_s - waited:.0f} s"
                )
            self.opened_at = time.monotonic()  # half-open: this call is the trial; others wait another cooldown

    def success(self) -> None:
        with self._lock:
            self.failures = 0
            self.opened_at = None

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self.failures >= self.threshold:
                self.opened_at = time.monotonic()


class Breakers:
    """The breakers of one process, one per provider key (a named provider, or a litellm provider prefix)."""

    def __init__(self, threshold: int = 5, cooldown_s: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def __call__(self, key: str) -> CircuitBreaker:
        with self._lock:
            breaker = self._breakers.get(key)
            if breaker is None:
                breaker = self._breakers[key] = CircuitBreaker(key, self.threshold, self.cooldown_s)
            return breaker

    def reset(self) -> None:
        """Forget every breaker (all providers closed again)."""
        with self._lock:
            self._breakers.clear()

    def states(self) -> dict[str, str]:
        with self._lock:
            return {key: breaker.state for key, breaker in self._breakers.items()}


BREAKERS = Breakers()
"""Shared by every call in the process, so a long-running MCP server remembers which endpoints are down."""
