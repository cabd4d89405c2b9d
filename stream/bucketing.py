"""Event-time bucketing per series, with allowed lateness and a per-partition watermark.

Pure: no Kafka, no Faust. Two small picklable state objects, both meant to live in Faust tables:

* :class:`~stream.clock.PartitionClock` (one per partition, in :mod:`stream.clock`): the
  event-time clock whose ``watermark`` decides when buckets are due. An event more than
  ``max_future_seconds`` ahead of it is :class:`TooFarAhead`.
* :class:`SeriesBuckets` (one per series): the open buckets' running totals, ``closed_until``
  (start of the first bucket not yet closed) and a bounded ``history`` of the last closed
  buckets (``deque(maxlen=history)``, ~50 bytes each pickled; ``history=0`` keeps none).

Buckets are ``[start, start + width)`` with ``start = floor(ts / width) * width`` (epoch-aligned,
so daily buckets are UTC days), weeks from Monday 00:00 UTC when ``width`` is
:data:`models.grid.WEEK`, or UTC calendar months or quarters when it is
:data:`models.grid.MONTH` or ``QUARTER``. A bucket is *due* once its end plus the lateness is
at most the watermark.

* :meth:`SeriesBuckets.add` returns :class:`Accepted` (with the open bucket's running totals,
  for a "live actual" update), :class:`TooLate` (its bucket is due or already closed) or
  :class:`TooFarAhead`. ``qty`` is the net quantity, ``revenue`` the sum of ``qty * price``,
  ``returns`` the units returned (the sum of ``-qty`` over events with ``qty < 0``).
* :meth:`SeriesBuckets.close_due` closes every due bucket, oldest first, each exactly once. Empty
  buckets are closed as zeros (intermittent retail series: a day without sales is a 0 the models
  must see), in gaps between sales and after the last one up to the watermark; one close fills
  in at most ``max_fill`` zeros in all, the newest. A series starts at its first event's
  bucket. Calling it per event costs a compare (or test ``state.due_at <= watermark``). A
  silent series gets its zeros when it is next touched, or when the caller sweeps all series.

The state carries its own ``width`` and ``lateness`` (compare them with the settings on start).
Persist the clock too: a lost clock is redefined by the next event (``closed_until`` stops
double closes); a bogus far-future *first* event would make everything else late.

>>> DAY = 86400
>>> clock, shop = PartitionClock(), SeriesBuckets(width=DAY, lateness=3600, history=5)
>>> shop.add(SaleEvent("A", 10 * DAY + 60, qty=3, price=2.0), clock)
Accepted(bucket=864000, qty=3.0, revenue=6.0, n_events=1)
>>> shop.add(SaleEvent("A", 10 * DAY + 99, qty=-1, price=2.0), clock)  # a return
Accepted(bucket=864000, qty=2.0, revenue=4.0, n_events=2)
>>> shop.add(SaleEvent("A", 13 * DAY + 7200, qty=5, price=1.0), clock)  # day 13, 02:00
Accepted(bucket=1123200, qty=5.0, revenue=5.0, n_events=1)
>>> for series in "ABC":  # the caller feeds the clock: three series reached day 13
...     clock.observe(series, 13 * DAY + 7200)
>>> clock.advance()
1130400
>>> [(b.start // DAY, b.qty, b.n_events, b.returns) for b in shop.close_due(clock.watermark)]
[(10, 2.0, 2, 1.0), (11, 0.0, 0, 0.0), (12, 0.0, 0, 0.0)]
>>> shop.add(SaleEvent("A", 12 * DAY + 5, qty=1, price=1.0), clock).reason
'event time 1036805 is in closed bucket 1036800 (watermark 1130400)'
>>> shop.add(SaleEvent("A", 60 * DAY, qty=1, price=1.0), clock).reason
'event time 5184000 is more than 2592000 s ahead of the watermark 1130400'
>>> shop.add(SaleEvent("A", 13 * DAY + 60, qty=1, price=1.0, id="x"), clock).n_events
2
>>> shop.add(SaleEvent("A", 13 * DAY + 60, qty=1, price=1.0, id="x"), clock).reason
"id 'x' was already counted in bucket 1123200"
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

from contracts.events import SaleEvent
from models.grid import CALENDAR, is_plain
from models.grid import end as grid_end
from models.grid import shift as grid_shift
from models.grid import start as grid_start
from models.grid import starts as grid_starts
from models.grid import steps as grid_steps
from stream.clock import (  # re-exported: states pickled before the move name this module
    CLOCK_MIN_SERIES,
    CLOCK_WARMUP,
    CLOCK_WINDOW,
    MAX_FUTURE_SECONDS,
    PartitionClock,
)
from stream.outcomes import (  # re-exported: states pickled before the move name this module
    Accepted,
    ClosedBucket,
    DuplicateId,
    TooFarAhead,
    TooLate,
)

__all__ = [
    "bucket_start",
    "PartitionClock",
    "SeriesBuckets", "ClosedBucket", "Accepted", "TooLate", "TooFarAhead", "DuplicateId",
    "MAX_FUTURE_SECONDS", "CLOCK_WINDOW", "CLOCK_MIN_SERIES", "CLOCK_WARMUP", "MAX_FILL",
    "capped_starts",
]

MAX_FILL = 1000  # zero buckets one close fills in, in all (the newest kept)
_NO_HISTORY: deque[ClosedBucket] = deque(maxlen=0)  # history=0: one for all (it never holds any)
_new = tuple.__new__


def capped_starts(first: int, until: int, width: int, keys: Iterable[int],
                  max_fill: int = MAX_FILL) -> list[int]:
    """The bucket starts from ``first`` up to ``until`` (excluded) to close: every one of
    ``keys`` there, and of the empty buckets between them, the newest ``max_fill`` in all
    (sales years apart, a back-filled history, close with that many, not every one of those
    years). :meth:`SeriesBuckets.close_due` and the aggregates' ledger close these.

    >>> capped_starts(0, 140, 10, [30, 100, 130, 200], max_fill=5)  # 3, 6 and 2 empty ones
    [30, 70, 80, 90, 100, 110, 120, 130]
    """
    if grid_steps(first, until, width) <= max_fill:  # the usual close: nothing to leave out
        return grid_starts(first, until, width)
    cal = width in CALENDAR
    due = [*sorted(k for k in keys if first <= k < until), until]
    gaps, start = [], first
    for key in due:  # the empty buckets before each key
        gaps.append(max(grid_steps(start, key, width), 0))
        start = grid_end(key, width) if cal else key + width
    left, out = max_fill, []
    for i in range(len(due) - 1, -1, -1):  # the newest gaps first
        left -= (fill := min(gaps[i], left))
        gaps[i] = fill
    for key, fill in zip(due, gaps, strict=True):
        out.extend(grid_starts(grid_shift(key, -fill, width), key, width))
        if key < until:
            out.append(key)
    return out


#: start of the bucket holding ``ts`` (:func:`models.grid.start`: fixed widths, weeks from
#: Monday, calendar months and quarters), under the name the stream's modules use
bucket_start = grid_start


class _Acc:
    """Running totals of one open bucket."""

    __slots__ = ("qty", "revenue", "n_events", "returns", "ids")

    def __init__(self) -> None:
        self.qty = 0.0
        self.revenue = 0.0
        self.n_events = 0
        self.returns = 0.0
        self.ids: set[str] | None = None  # event ids counted in this bucket (duplicate check)

    def __getstate__(self) -> tuple[object, ...]:
        return self.qty, self.revenue, self.n_events, self.returns, self.ids

    def __setstate__(self, state: tuple[object, ...]) -> None:
        self.qty, self.revenue, self.n_events, self.returns = state[:4]  # type: ignore[assignment]
        self.ids = state[4] if len(state) > 4 else None  # type: ignore[assignment]


class SeriesBuckets:
    """Open buckets, closed-until mark and recent closed buckets of one series."""

    __slots__ = (
        "width",
        "lateness",
        "closed_until",
        "open",
        "history",
        "_due_at",
        "_span",
        "_floor",
        "_cal",
    )

    def __init__(self, width: int = 86400, lateness: int = 3600, history: int = 120) -> None:
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer of seconds, got {width!r}")
        if not isinstance(lateness, int) or lateness < 0:
            raise ValueError(f"lateness must be an integer >= 0, got {lateness!r}")
        if not isinstance(history, int) or history < 0:
            raise ValueError(f"history must be an integer >= 0, got {history!r}")
        self.width = width
        self.lateness = lateness
        self.closed_until: int | None = None
        self.open: dict[int, _Acc] = {}
        self.history: deque[ClosedBucket] = deque(maxlen=history) if history else _NO_HISTORY
        self._cache()

    def _cache(self) -> None:
        """Derived fields (not pickled): due span, too-late floor, next due watermark."""
        self._cal = not is_plain(self.width)  # months, quarters, weeks from Monday (models.grid)
        self._span = self.width + self.lateness  # a bucket is due once start + _span <= wm
        self._floor = -math.inf if self.closed_until is None else self.closed_until
        first = self.closed_until if self.closed_until is not None else min(self.open, default=None)
        self._due_at = math.inf if first is None else self._due_from(first)

    def _due_from(self, start: int) -> int:
        """The watermark at which the bucket at ``start`` is due: its end plus the lateness."""
        if self._cal:
            return grid_end(start, self.width) + self.lateness
        return start + self._span

    @property
    def due_at(self) -> float:
        """The watermark from which :meth:`close_due` has work to do (inf: nothing to close)."""
        return self._due_at

    def __repr__(self) -> str:
        return (
            f"SeriesBuckets(width={self.width}, lateness={self.lateness}, "
            f"closed_until={self.closed_until}, open={sorted(self.open)})"
        )

    def __getstate__(self) -> tuple[object, ...]:
        return (self.width, self.lateness, self.closed_until, self.open, self.history)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        width, lateness, closed_until, open_, history = state
        self.width, self.lateness = width, lateness  # type: ignore[assignment]
        if isinstance(history, deque) and history.maxlen == 0:
            history = _NO_HISTORY  # shared: an empty deque is ~760 bytes a series
        self.closed_until, self.open, self.history = closed_until, open_, history  # type: ignore[assignment]
        self._cache()

    def add(
        self, event: SaleEvent, clock: PartitionClock, check_ahead: bool = True
    ) -> Accepted | TooLate | TooFarAhead | DuplicateId:
        """Add one event, judged against the clock's watermark (which it does not move).

        ``check_ahead=False`` skips the :class:`TooFarAhead` rule (the caller bounds event
        time another way). An event whose ``id`` was counted already in its (open) bucket is a
        :class:`DuplicateId`.

        >>> clock, s = PartitionClock(), SeriesBuckets(width=60, lateness=0)
        >>> s.add(SaleEvent("A", 125, 2, 1.5), clock), clock.watermark
        (Accepted(bucket=120, qty=2.0, revenue=3.0, n_events=1), None)
        """
        ts = event.ts
        wm = clock.watermark
        width = self.width
        if self._cal:
            start = grid_start(ts, width)
            due = grid_end(start, width) + self.lateness
        else:
            start = int(ts // width) * width
            due = start + self._span
        if wm is not None:
            if check_ahead and clock.ahead(ts):
                return TooFarAhead(ts, wm, clock.max_future_seconds)
            if due <= wm:
                return TooLate(ts, start, wm)
        if start < self._floor:
            return TooLate(ts, start, -math.inf if wm is None else wm)
        acc = self.open.get(start)
        if acc is None:
            acc = self.open[start] = _Acc()
            if self.closed_until is None and due < self._due_at:
                self._due_at = due
        ident = event.id
        if ident is not None:
            if acc.ids is None:
                acc.ids = {ident}
            elif ident in acc.ids:
                return DuplicateId(ident, start)
            else:
                acc.ids.add(ident)
        qty = event.qty
        acc.qty += qty
        acc.revenue += qty * event.price
        acc.n_events += 1
        if qty < 0:
            acc.returns -= qty
        # tuple.__new__ is what Accepted(...) runs, minus a Python-level call (~0.15 us).
        return _new(Accepted, (start, acc.qty, acc.revenue, acc.n_events))

    def close_due(self, watermark: float | None, max_fill: int = MAX_FILL) -> list[ClosedBucket]:
        """Close every bucket with ``start + width + lateness <= watermark``, oldest first.

        >>> s = SeriesBuckets(width=10, lateness=0)
        >>> s.add(SaleEvent("A", 5, 1, 1.0), PartitionClock())
        Accepted(bucket=0, qty=1.0, revenue=1.0, n_events=1)
        >>> [(b.start, b.qty) for b in s.close_due(31)], s.closed_until, s.close_due(31)
        ([(0, 1.0), (10, 0.0), (20, 0.0)], 30, [])
        """
        if watermark is None or watermark < self._due_at:
            return []
        width, cal = self.width, self._cal
        until = bucket_start(watermark - self.lateness, width)  # the first bucket not due
        start = self.closed_until if self.closed_until is not None else min(self.open)
        out: list[ClosedBucket] = []
        for b in capped_starts(start, until, width, self.open, max_fill):
            nxt = grid_end(b, width) if cal else b + width
            acc = self.open.pop(b, None)
            out.append(ClosedBucket(b, nxt, 0.0, 0.0, 0, 0.0) if acc is None else
                       ClosedBucket(b, nxt, acc.qty, acc.revenue, acc.n_events, acc.returns))
        self.closed_until = until
        self._cache()
        self.history.extend(out)
        return out

    def recent(self, n: int | None = None) -> list[ClosedBucket]:
        """The last ``n`` (default: all kept) closed buckets, oldest first."""
        items = list(self.history)
        return items if n is None else items[max(0, len(items) - n) :]
