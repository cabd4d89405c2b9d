"""Who may connect, how often and how many: the gateway's admission rules, sans I/O.

* :class:`RateLimit`: a token bucket (frames of a client, handshakes of an address).
* :class:`Admission`: a token bucket of HTTP requests (handshakes) per client address, a cap of
  open WebSocket connections per address and one in all.
* :class:`TokenSlots`: connections per access token (``jti``).
* :class:`StallWatch`: a client whose socket write buffer stays full (it does not read) is
  closed, even while its update queue is short.

Each check answers a :class:`Refusal` (HTTP status, metric label, message) or ``None``.
``docs/security.md`` describes the rules and their settings; :mod:`gateway.hosts` checks the
``Host`` and ``Origin`` headers.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Generic, TypeVar

__all__ = ["Refusal", "RateLimit", "Admission", "StallWatch", "TokenSlots"]

K = TypeVar("K", bound=Hashable)

MAX_BUCKETS = 4096  # per-address rate buckets kept before idle ones are dropped


@dataclass(frozen=True)
class Refusal:
    """Refuse the HTTP request with ``status``; ``reason`` labels the metric."""

    status: HTTPStatus
    reason: str
    message: str
    retry_after: int | None = None


@dataclass
class RateLimit:
    """A token bucket: ``rate`` frames a second on average, bursts up to ``burst``.

    >>> t = [0.0]
    >>> r = RateLimit(rate=1, burst=2, clock=lambda: t[0])
    >>> r.allow(), r.allow(), r.allow()
    (True, True, False)
    >>> t[0] = 1.0
    >>> r.allow()
    True
    """

    rate: float = 20.0
    burst: float = 40.0
    clock: Callable[[], float] = time.monotonic
    tokens: float = -1.0
    stamp: float = 0.0

    def allow(self) -> bool:
        now = self.clock()
        if self.tokens < 0:
            self.tokens, self.stamp = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False



class Groups(Generic[K]):
    """Which group (an address, a token id) each open connection counts against, and how
    many each group has: one bookkeeping for the per-address and the per-token caps.

    >>> g = Groups(); g.assign("c1", "a"); g.assign("c2", "a"); g.assign("c1", "b")
    >>> g.counts, len(g)
    (Counter({'a': 1, 'b': 1}), 2)
    >>> g.release("c2"); g.release("c2"); g.counts
    Counter({'b': 1})
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._group_of: dict[K, str] = {}

    def __len__(self) -> int:
        return len(self._group_of)

    def __iter__(self) -> Iterator[K]:
        return iter(self._group_of)

    def group_of(self, key: K) -> str | None:
        return self._group_of.get(key)

    def assign(self, key: K, group: str) -> None:
        """Count ``key`` against ``group`` (moving it from the group it had, if any)."""
        self.release(key)
        self._group_of[key] = group
        self.counts[group] += 1

    def release(self, key: K) -> None:
        group = self._group_of.pop(key, None)
        if group is not None:
            self.counts[group] -= 1
            if self.counts[group] <= 0:
                del self.counts[group]


class Admission(Generic[K]):
    """Handshake rate per address, open connections per address and in all.

    >>> t = [0.0]
    >>> a = Admission(per_address=2, total=3, rate=1, burst=2, clock=lambda: t[0])
    >>> [a.request("1.2.3.4") is None for _ in range(3)]
    [True, True, False]
    >>> a.admit("1.2.3.4", "c1"), a.admit("1.2.3.4", "c2")
    (None, None)
    >>> a.admit("1.2.3.4", "c3").status, a.admit("5.6.7.8", "c4"), a.admit("9.9.9.9", "c5").reason
    (<HTTPStatus.SERVICE_UNAVAILABLE: 503>, None, 'global_cap')
    >>> a.release("c1"); a.admit("1.2.3.4", "c3") is None
    True
    """

    def __init__(self, per_address: int = 64, total: int = 10_000, rate: float = 20.0,
                 burst: float = 40.0, clock: Callable[[], float] = time.monotonic) -> None:
        if per_address < 1 or total < 1 or rate <= 0 or burst < 1:
            raise ValueError("connection caps and burst must be >= 1 and the rate > 0")
        self.per_address, self.total = per_address, total
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, RateLimit] = {}
        self._open: Groups[K] = Groups()  # connection -> its address

    def __len__(self) -> int:
        return len(self._open)

    def open_from(self, address: str) -> int:
        return self._open.counts[address]

    def request(self, address: str) -> Refusal | None:
        """One HTTP request (a handshake) from ``address``: 429 past its rate."""
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget_idle_buckets()
            bucket = self._buckets[address] = RateLimit(self.rate, self.burst, self.clock)
        if bucket.allow():
            return None
        return Refusal(HTTPStatus.TOO_MANY_REQUESTS, "rate",
                       "too many connection attempts; slow down\n", retry_after=1)

    def _forget_idle_buckets(self) -> None:
        """Drop buckets that have refilled: forgetting them changes nothing."""
        now, full = self.clock(), self.burst / self.rate
        for address in [a for a, b in self._buckets.items() if now - b.stamp >= full]:
            del self._buckets[address]

    def admit(self, address: str, key: K) -> Refusal | None:
        """Count connection ``key`` from ``address`` unless a cap is reached (503)."""
        if self._open.group_of(key) is not None:
            return None
        if self._open.counts[address] >= self.per_address:
            return Refusal(HTTPStatus.SERVICE_UNAVAILABLE, "address_cap",
                           f"at most {self.per_address} connections per address\n",
                           retry_after=5)
        if len(self._open) >= self.total:
            return Refusal(HTTPStatus.SERVICE_UNAVAILABLE, "global_cap",
                           "the gateway is at its connection limit\n", retry_after=5)
        self._open.assign(key, address)
        return None

    def release(self, key: K) -> None:
        self._open.release(key)

    def prune(self, alive: Callable[[K], bool]) -> int:
        """Release connections that closed without being released (a failed handshake)."""
        dead = [k for k in self._open if not alive(k)]
        for key in dead:
            self.release(key)
        return len(dead)


class StallWatch(Generic[K]):
    """Slow-client rule on the socket's write buffer, fed by periodic samples.

    A client is closed when its buffer has stayed at or above ``stall_bytes`` for
    ``stall_seconds`` (it is not reading: the kernel buffers are full and ours is not
    draining), or at once above ``hard_bytes``.

    >>> w = StallWatch(stall_bytes=100, stall_seconds=5, hard_bytes=1000)
    >>> w.observe("c", 500, 0.0), w.observe("c", 500, 4.9), w.observe("c", 500, 5.0)
    (None, None, 'not reading')
    >>> w.observe("d", 500, 0.0), w.observe("d", 10, 3.0), w.observe("d", 500, 7.0)
    (None, None, None)
    >>> w.observe("e", 5000, 0.0)
    'write buffer over 1000 bytes'
    """

    def __init__(self, stall_bytes: int = 16 * 1024, stall_seconds: float = 5.0,
                 hard_bytes: int = 1024 * 1024) -> None:
        self.stall_bytes, self.stall_seconds, self.hard_bytes = (stall_bytes, stall_seconds,
                                                                 hard_bytes)
        self._since: dict[K, float] = {}

    def observe(self, key: K, buffered: int, now: float) -> str | None:
        """One sample of ``key``'s write buffer: the reason to close it, or ``None``."""
        if buffered > self.hard_bytes:
            self._since.pop(key, None)
            return f"write buffer over {self.hard_bytes} bytes"
        if buffered < self.stall_bytes:
            self._since.pop(key, None)
            return None
        since = self._since.setdefault(key, now)
        if now - since >= self.stall_seconds:
            del self._since[key]
            return "not reading"
        return None

    def forget(self, key: K) -> None:
        self._since.pop(key, None)


class TokenSlots(Generic[K]):
    """Open connections per token id: a connection takes its token's slot when it
    authenticates (again: it moves to the new token's) and gives it back when it closes.

    >>> t = TokenSlots(limit=1)
    >>> t.take("c1", "tok"), t.take("c2", "tok"), t.take("c1", "tok")
    (True, False, True)
    >>> t.release("c1"); t.take("c2", "tok")
    True
    """

    def __init__(self, limit: int = 20) -> None:
        self.limit = limit
        self._slots: Groups[K] = Groups()  # connection -> its token id

    @property
    def counts(self) -> Counter[str]:
        return self._slots.counts

    def take(self, key: K, jti: str) -> bool:
        if self._slots.group_of(key) == jti:
            return True
        if self.counts[jti] >= self.limit:
            return False
        self._slots.assign(key, jti)
        return True

    def release(self, key: K) -> None:
        self._slots.release(key)
