"""One worker's place in its consumer group: its name, the partitions it holds, its rebalances.

Pure bookkeeping, fed by the Faust sensor of :mod:`stream.group`: a rebalance starts when the
group takes partitions away to hand them out again, and ends when this worker has recovered the
state of what it was given (its tables read back from the changelog) and serves again; its
duration is the time the worker's partitions were not being processed.

The ops timer publishes :meth:`Membership.figures` with the worker's running figures, and
:meth:`Membership.pending`, the rebalances that ended since the last publication.

>>> m = Membership("host:42", "salescast-worker", "sales.events")
>>> m.started(100.0)
>>> m.ended(102.5, [3, 1])
>>> m.figures()["partitions"], m.figures()["last_rebalance_s"]
('[1,3]', 2.5)
>>> [r.as_json() for r in m.pending()]
['{"worker":"host:42","at":102.5,"duration_s":2.5,"partitions":[1,3]}']
>>> m.published(1); m.pending()
[]
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Membership", "Rebalance", "default_worker_name"]

#: rebalances kept for publication when Redis cannot take them (the oldest are dropped)
MAX_PENDING = 100


def default_worker_name(pid: int | None = None) -> str:
    """``host:pid``: unique among the running workers, and derivable from a child's PID."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


@dataclass(frozen=True)
class Rebalance:
    """A rebalance of one worker: when it ended, how long it took, what it held after."""

    worker: str
    at: float  # wall time it ended (the worker serving again)
    duration_s: float
    partitions: tuple[int, ...]

    def as_json(self) -> str:
        return json.dumps({"worker": self.worker, "at": self.at, "duration_s": self.duration_s,
                           "partitions": list(self.partitions)}, separators=(",", ":"))


@dataclass
class Membership:
    """What this worker holds in its group (of the events ``topic``), and its rebalances."""

    name: str
    group: str = ""
    topic: str = ""
    partitions: tuple[int, ...] = ()
    rebalances: int = 0
    rebalancing: bool = False
    last: Rebalance | None = None
    _started: float | None = None
    _pending: list[Rebalance] = field(default_factory=list)

    def started(self, now: float) -> None:
        """The group took this worker's partitions back (the first of several joins counts)."""
        if self._started is None:
            self._started = now
        self.rebalancing = True

    def ended(self, now: float, partitions: Iterable[int]) -> None:
        """The worker serves again, holding ``partitions``."""
        self.partitions = tuple(sorted(set(partitions)))
        self.rebalancing = False
        began = now if self._started is None else self._started
        self._started = None
        self.rebalances += 1
        self.last = Rebalance(self.name, round(now, 3), round(max(0.0, now - began), 3),
                              self.partitions)
        self._pending = [*self._pending[-(MAX_PENDING - 1):], self.last]

    def pending(self) -> list[Rebalance]:
        """The rebalances that ended and are not published yet, oldest first."""
        return list(self._pending)

    def published(self, n: int) -> None:
        """The first ``n`` of :meth:`pending` were published."""
        del self._pending[:n]

    def figures(self) -> dict[str, str | int | float]:
        """The membership part of the worker's ops figures (flat, for a Redis hash)."""
        return {
            "worker": self.name,
            "group": self.group,
            "topic": self.topic,
            "partitions": json.dumps(list(self.partitions), separators=(",", ":")),
            "rebalancing": int(self.rebalancing),
            "rebalances": self.rebalances,
            "last_rebalance_s": self.last.duration_s if self.last else -1.0,
            "last_rebalance_at": self.last.at if self.last else 0.0,
        }
