"""HMAC-signed requests: a shared key signs the method, the path, a timestamp and the body's SHA-256.

A client sends `X-Parac-Key` (the key's id), `X-Parac-Timestamp` (Unix seconds, fractions allowed) and
`X-Parac-Signature` (hex HMAC-SHA256 of `METHOD\\nPATH?QUERY\\nTIMESTAMP\\nSHA256(BODY)`). A signature is accepted
once, within `WINDOW_S` of the server's clock either way: the nonce cache remembers each accepted signature until its
timestamp leaves the window, so a captured request cannot be sent again. The cache is bounded: when it is full, the
entry closest to expiry is dropped and the floor rises to its timestamp, so an older (possibly forgotten) signature
is refused as stale instead of being let through. Two identical requests must differ in their timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import heapq
import threading
import time
from dataclasses import dataclass

from parac.core.errors import ParacBaseError

WINDOW_S = 300.0
NONCE_CAPACITY = 100_000
KEY_HEADER = b"x-parac-key"  # as ASGI names them
TIMESTAMP_HEADER = b"x-parac-timestamp"
SIGNATURE_HEADER = b"x-parac-signature"


def signed_message(method: str, target: str, timestamp: str, body: bytes) -> bytes:
    """What the signature covers; `target` is the path with its query string (`/api/v1/runs?limit=5`)."""
    return f"{method.upper()}\n{target}\n{timestamp}\n{hashlib.sha256(body).hexdigest()}".encode()


def sign(key_id: str, secret: str | bytes, method: str, target: str, body: bytes = b"",
         timestamp: float | None = None) -> dict[str, str]:
    """The headers that sign one request (for clients: `parac.client`, scripts, tests)."""
    stamp = f"{time.time() if timestamp is None else timestamp:.6f}"
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, signed_message(method, target, stamp, body), hashlib.sha256).hexdigest()
    return {"X-Parac-Key": key_id, "X-Parac-Timestamp": stamp, "X-Parac-Signature": digest}


class SignatureRefused(ParacBaseError):
    """Why a signed request was refused; the message never holds the key or the signature."""

    public = True


@dataclass(frozen=True)
class HmacKeyRef:
    key_id: str
    secret: bytes
    role: str


class NonceCache:
    """Signatures accepted within the window, bounded (see the module's docstring)."""

    def __init__(self, capacity: int = NONCE_CAPACITY) -> None:
        self.capacity = capacity
        self.floor = float("-inf")
        self._expiry: list[tuple[float, float, str]] = []  # (expires, timestamp, signature)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def admit(self, signature: str, timestamp: float, now: float) -> None:
        """Remember `signature`, or raise SignatureRefused when it was seen or is older than the floor."""
        with self._lock:
            while self._expiry and self._expiry[0][0] < now:
                self._seen.discard(heapq.heappop(self._expiry)[2])
            if timestamp <= self.floor:
                raise SignatureRefused("the timestamp is older than the replay cache now covers; sign it again")
            if signature in self._seen:
                raise SignatureRefused("this signature was already used (a replayed request)")
            if len(self._seen) >= self.capacity:
                _, dropped_at, dropped = heapq.heappop(self._expiry)
                self._seen.discard(dropped)
                self.floor = max(self.floor, dropped_at)
            heapq.heappush(self._expiry, (timestamp + WINDOW_S, timestamp, signature))
            self._seen.add(signature)


class HmacVerifier:
    """Checks signed requests against the configured keys (`serve.hmac_keys`)."""

    def __init__(self, keys: dict[str, HmacKeyRef], nonces: NonceCache | None = None) -> None:
        self.keys = keys
        self.nonces = nonces or NonceCache()

    def verify(self, key_id: str, timestamp: str, signature: str, method: str, target: str, body: bytes) -> HmacKeyRef:
        """The key that signed the request; raises SignatureRefused saying which check failed."""
        key = self.keys.get(key_id)
        if key is None:
            raise SignatureRefused("unknown signing key")
        try:
            stamp = float(timestamp)
        except ValueError:
            raise SignatureRefused("X-Parac-Timestamp is not a number of seconds") from None
        now = time.time()
        if abs(now - stamp) > WINDOW_S:
            raise SignatureRefused(f"the timestamp is more than {WINDOW_S:.0f} s from the server's clock")
        expected = hmac.new(key.secret, signed_message(method, target, timestamp, body), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
            raise SignatureRefused("the signature does not match the request (method, path, timestamp or body)")
        self.nonces.admit(expected, stamp, now)
        return key
