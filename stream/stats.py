"""The worker's running figures: counts, rate, event-to-Redis latency percentiles.

Pure bookkeeping; the agent records each batch and a timer publishes :meth:`snapshot`.

>>> import time
>>> s = WorkerStats()
>>> s.record_batch(3, 3, [0.010, 0.020, 0.030], 0.001, started_at=time.time())
>>> s.events, round(s.latency_quantile(0.5), 3)
(3, 0.02)
>>> s.record_stall(0.120); s.record_stall(0.015)
>>> f = s.snapshot(); f["loop_stall_ms"], f["loop_stall_max_ms"], s.snapshot()["loop_stall_ms"]
(120.0, 120.0, 0.0)
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np
import psutil

__all__ = ["WorkerStats"]

LOOP_TICK = 0.01  # seconds: the loop watch's sleep (a stall is how late it wakes)


@dataclass
class WorkerStats:
    """Counters since the worker started, and a window of recent latencies (seconds)."""

    messages: int = 0  # Kafka messages (an envelope is one)
    events: int = 0  # events taken: accepted, duplicate or dead-lettered
    accepted: int = 0
    duplicates: int = 0
    rerouted: int = 0  # events re-sent to their series' partition
    republished: int = 0  # series rewritten to Redis after it came back
    alerts: int = 0  # new alerts published
    batches: int = 0
    busy_seconds: float = 0.0
    deadletters: Counter[str] = field(default_factory=Counter)
    # (wall time recorded, its events' latencies) per recent batch; percentiles cover the last
    # ``window`` s, at most ``keep`` latencies
    latencies: deque[tuple[float, np.ndarray]] = field(default_factory=deque)
    window: float = 10.0
    keep: int = 50_000
    _kept: int = 0
    started: float = field(default_factory=time.time)
    _rate_mark: tuple[float, int] = (0.0, 0)
    _process: psutil.Process = field(default_factory=psutil.Process)  # this process, for RSS
    rate: float = 0.0
    first_event_at: float = 0.0  # wall time the first batch started
    last_event_at: float = 0.0  # wall time the latest batch finished
    # the process's CPU time (all threads) when the first and the latest batch finished, and
    # the events taken between the two: the bench's CPU cost per event, which other work on
    # the machine moves far less than the wall-clock rate
    first_cpu: float = 0.0
    last_cpu: float = 0.0
    cpu_events: int = 0
    # how long the event loop was held up at a time (a tick woken late: stream.agents):
    # the longest since the last snapshot, and since the start
    stall: float = 0.0
    stall_max: float = 0.0
    utc_offset: int = 0  # SALESCAST_UTC_OFFSET, published: the gateway tells its clients

    def record_stall(self, seconds: float) -> None:
        """The event loop woke a tick ``seconds`` late (it ran something else that long)."""
        self.stall = max(self.stall, seconds)
        self.stall_max = max(self.stall_max, seconds)

    async def watch_loop(self) -> None:
        """Forever: sleep a ``LOOP_TICK`` and record how late the loop woke it. (No
        argument: Faust's ``app.task`` hands its app to a task that takes one.)"""
        tick = LOOP_TICK
        while True:
            before = time.perf_counter()
            await asyncio.sleep(tick)
            self.record_stall(max(0.0, time.perf_counter() - before - tick))

    def record_batch(self, messages: int, events: int, latencies: list[float], busy: float,
                     started_at: float) -> None:
        if not self.first_event_at:
            self.first_event_at = started_at
            self.first_cpu = time.process_time()
        else:
            self.last_cpu = time.process_time()
            self.cpu_events += events
        self.last_event_at = time.time()
        self.messages += messages
        self.events += events
        self.batches += 1
        self.busy_seconds += busy
        if latencies:
            self.latencies.append((self.last_event_at, np.asarray(latencies, dtype=np.float64)))
            self._kept += len(latencies)
        while self.latencies and self._kept - len(self.latencies[0][1]) >= self.keep:
            self._kept -= len(self.latencies.popleft()[1])  # the oldest batch is not needed

    def latency_quantiles(self, qs: tuple[float, ...]) -> list[float]:
        """The ``qs`` quantiles (the value at rank ``int(q * n)``) of the latencies recorded in
        the last ``window`` seconds; 0 for each when there are none."""
        since = time.time() - self.window
        while self.latencies and self.latencies[0][0] < since:
            self._kept -= len(self.latencies.popleft()[1])
        if not self.latencies:
            return [0.0] * len(qs)
        values = np.concatenate([x for _, x in self.latencies])
        ranks = [min(len(values) - 1, int(q * len(values))) for q in qs]
        return [float(v) for v in np.partition(values, ranks)[ranks]]

    def latency_quantile(self, q: float) -> float:
        """The ``q`` quantile of the latencies recorded in the last ``window`` seconds."""
        return self.latency_quantiles((q,))[0]

    def snapshot(self) -> dict[str, float | int | str]:
        """Figures for Redis/ops; also updates the events/s rate since the last call."""
        now = time.time()
        mark_t, mark_n = self._rate_mark
        if mark_t:
            self.rate = (self.events - mark_n) / max(now - mark_t, 1e-9)
        self._rate_mark = (now, self.events)
        rss = self._process.memory_info().rss
        p50, p99 = self.latency_quantiles((0.50, 0.99))
        stall, self.stall = self.stall, 0.0
        return {
            "messages": self.messages,
            "events": self.events,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rerouted": self.rerouted,
            "deadletters": sum(self.deadletters.values()),
            "alerts": self.alerts,
            "batches": self.batches,
            "busy_seconds": round(self.busy_seconds, 3),
            "events_per_s": round(self.rate, 1),
            "latency_p50_ms": round(1000 * p50, 2),
            "latency_p99_ms": round(1000 * p99, 2),
            "rss_bytes": rss,
            "updated_at": now,
            "first_event_at": self.first_event_at,
            "last_event_at": self.last_event_at,
            "cpu_seconds": round(max(self.last_cpu - self.first_cpu, 0.0), 4),
            "cpu_events": self.cpu_events,
            "pid": os.getpid(),
            "loop_stall_ms": round(1000 * stall, 1),
            "loop_stall_max_ms": round(1000 * self.stall_max, 1),
            "utc_offset": self.utc_offset,
        }
