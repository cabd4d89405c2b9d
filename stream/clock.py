"""The event-time clock of one partition: when buckets are due, robust to a wrong clock.

Pure: no Kafka, no Faust; picklable, meant to live in a Faust table (one per partition).

:class:`PartitionClock` remembers the latest event time of the last ``window`` (64) distinct
series seen on the partition, and its ``watermark`` is the *lower median* of those times: more
than half of the recently active series must have reached a time before the clock does, so one
series, or a minority of producers, cannot move it for everyone. A series that sent none of the
partition's last ``CLOCK_IDLE_EVENTS`` (32) events leaves the vote until it sends again: on a
partition of few series, one that stopped selling (discontinued, a single sale) held the
lower median, and with it every other series' buckets and the aggregates, at its last sale
for good (a probe: two series, forecasts four months stale). So a series that has the
partition to itself for 32 events moves the clock alone: in replay mode an event more than
``max_future_seconds`` ahead is refused and does not count as activity (:meth:`observe`), so
one producer's clock moves it by at most that much; in live mode the message timestamp
bounds it. It only moves forward, and is
undefined until ``min_series`` (default 3) distinct series, or 100 events, were seen. The
caller feeds it with :meth:`~PartitionClock.observe` per event and moves it with
:meth:`~PartitionClock.advance` once per message. :class:`stream.bucketing.SeriesBuckets`
rejects an event more than ``max_future_seconds`` ahead of the watermark (the worker uses this
in replay mode; in live mode it bounds event time by the message timestamp instead).
"""

from __future__ import annotations

__all__ = ["PartitionClock", "MAX_FUTURE_SECONDS", "CLOCK_WINDOW", "CLOCK_MIN_SERIES",
           "CLOCK_WARMUP", "CLOCK_IDLE_EVENTS"]

MAX_FUTURE_SECONDS = 30 * 86400
#: distinct series whose latest event times make a partition's watermark (their lower median)
CLOCK_WINDOW = 64
#: the watermark is undefined until this many distinct series, or CLOCK_WARMUP events, were seen
CLOCK_MIN_SERIES = 3
CLOCK_WARMUP = 100
#: a series that sent none of the partition's last this many events leaves the vote
CLOCK_IDLE_EVENTS = 32


class PartitionClock:
    """The event-time clock of one partition (see the module docstring for the rules).

    >>> clock = PartitionClock()
    >>> for series, ts in [("A", 100.0), ("B", 200.0), ("C", 300.0)]:
    ...     clock.observe(series, ts)
    >>> clock.advance()  # lower median of 100, 200, 300
    200.0
    >>> clock.observe("A", 9e9); clock.advance()  # never further than a majority reached
    300.0
    >>> clock.observe("B", 400.0); clock.advance()
    400.0
    >>> for day in range(32):  # B and C go quiet; A sells on: they leave the vote
    ...     clock.observe("A", 9e9 + day)
    >>> clock.advance()
    9000000031.0
    """

    __slots__ = ("watermark", "max_future_seconds", "window", "recent", "events", "min_series",
                 "last")

    def __init__(
        self,
        max_future_seconds: float = MAX_FUTURE_SECONDS,
        watermark: float | None = None,
        window: int = CLOCK_WINDOW,
        min_series: int = CLOCK_MIN_SERIES,
    ) -> None:
        if not max_future_seconds > 0:
            raise ValueError(f"max_future_seconds must be > 0, got {max_future_seconds!r}")
        if not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be a positive integer, got {window!r}")
        self.max_future_seconds = max_future_seconds
        self.watermark = watermark
        self.window = window
        self.min_series = min_series  # distinct series needed (or CLOCK_WARMUP events) to start
        # series -> its latest event time seen, least recently seen series first
        self.recent: dict[str, float] = {}
        # series -> the number of its latest counted event, in that order (oldest first), so
        # that the active series are its tail: advance() reads ~32 entries, not the window
        self.last: dict[str, int] = {}
        self.events = 0

    def __repr__(self) -> str:
        return f"PartitionClock(watermark={self.watermark!r})"

    def __getstate__(self) -> tuple[object, ...]:
        return (self.max_future_seconds, self.watermark, self.window, self.recent, self.events,
                self.min_series, self.last)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        self.max_future_seconds, self.watermark = state[0], state[1]  # type: ignore[assignment]
        self.last = {}
        if len(state) >= 6:
            self.window, self.recent, self.events, self.min_series = state[2:6]  # type: ignore[assignment]
            # a clock pickled before the idle rule: its series count as just seen; one pickled
            # before ``last`` kept its order: put in order (and of the window's series only)
            last: dict[str, int] = (state[6] if len(state) >= 7 else  # type: ignore[assignment]
                                    dict.fromkeys(self.recent, self.events))
            self.last = dict(sorted(((s, n) for s, n in last.items() if s in self.recent),
                                    key=lambda kv: kv[1]))
        else:  # a clock pickled before the median rule: keep its watermark
            self.window, self.recent, self.events = CLOCK_WINDOW, {}, CLOCK_WARMUP
            self.min_series = CLOCK_MIN_SERIES

    def ahead(self, ts: float) -> bool:
        """Whether event time ``ts`` is more than ``max_future_seconds`` past the watermark."""
        return self.watermark is not None and ts - self.watermark > self.max_future_seconds

    def observe(self, series: str, ts: float, bounded: bool = False) -> None:
        """Remember that ``series`` reached event time ``ts`` (does not move the watermark).
        ``bounded`` (replay mode, which refuses an event :meth:`ahead`): such an event counts
        in the vote, so a majority that moved on (a shop reopening) moves the clock, but not
        as activity, so one series' burst of them leaves no other series idle."""
        recent = self.recent
        old = recent.pop(series, None)
        recent[series] = ts if old is None or ts > old else old
        if len(recent) > self.window:
            gone = next(iter(recent))
            del recent[gone]
            self.last.pop(gone, None)
        if not (bounded and self.ahead(ts)):
            self.events += 1
            last = self.last
            last.pop(series, None)  # to the end: ``last`` stays in the order of its numbers
            last[series] = self.events

    def advance(self) -> float | None:
        """Move the watermark up to the lower median of the recent series' latest times."""
        recent = self.recent
        if not recent or (len(recent) < self.min_series and self.events < CLOCK_WARMUP):
            return self.watermark
        since = self.events - CLOCK_IDLE_EVENTS  # active: sent one of the last events
        if since < 0:  # fewer events than that yet: every series votes
            times = list(recent.values())
        else:
            times = []
            for series, n in reversed(self.last.items()):  # newest first: the active tail
                if n <= since:
                    break
                times.append(recent[series])
        if not times:  # every series of the window came with refused events only
            return self.watermark
        times.sort()
        candidate = times[(len(times) - 1) // 2]
        if self.watermark is None or candidate > self.watermark:
            self.watermark = candidate
        return self.watermark
