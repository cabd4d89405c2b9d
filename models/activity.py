"""Shop-wide events: closures and surges, from how many series sell in each bucket.

When most series go quiet together (the shop closed for Christmas, a collector outage) or sell
together (a promotion), that is one event, not thousands of series anomalies.
:class:`ActivityMonitor` counts, per bucket, the series that had a sale (one monitor per
partition in the worker, one per panel in the evaluation), and judges each bucket once it is
complete against the same bucket of the last ``seasons`` seasons (same weekday for daily
buckets, same hour of the day for hourly ones), so a shop that never opens on Saturdays has
quiet Saturdays, not weekly closures:

* ``closure``: fewer than ``floor`` (10%) of the usual number of active series, where the
  usual number is at least ``min_series``; the series' models do not learn such a bucket
  (they learn their own forecast instead) and it is not scored;
* ``surge``: more than ``surge`` (3x) the usual number; per-series spikes of that bucket are
  not alerts.

Consecutive closure (or surge) buckets are one group alert (:func:`models.anomaly.group_message`):
``open``, ``updated`` while it lasts, ``resolved`` at the first ordinary bucket (a bucket that
is usually quiet says nothing either way, and inside a closure it is part of it). Closure
buckets are left out of later baselines.

>>> mon = ActivityMonitor(width=1, season=7)
>>> msgs = []
>>> for t in range(60):
...     for _ in range(0 if 30 <= t < 40 or t % 7 == 5 else 50):
...         mon.count(t, new_series=True)
...     msgs += mon.judge(t + 1)
>>> [(m["state"], m["bucket"]) for m in msgs if m["state"] != "updated"]  # 33, 40: quiet days
[('open', 30), ('resolved', 41)]
>>> len({m["id"] for m in msgs}), msgs[0]["series_affected"]
(1, 50)
>>> mon.verdict(26), mon.verdict(33), mon.verdict(35), mon.verdict(41)
(None, 'closure', 'closure', None)
"""

from __future__ import annotations

from statistics import median
from typing import Any

from models.anomaly import group_message
from models.grid import end, shift, starts
from models.grid import start as grid_start

__all__ = ["ActivityMonitor", "season_of"]

KEEP = 400  # buckets whose verdict is remembered (a quiet series closes its gap later)


def season_of(width: int) -> int:
    """The season, in buckets, that activity repeats with: a week of days, a day of hours.

    >>> season_of(86400), season_of(3600), season_of(7 * 86400)
    (7, 24, 1)
    """
    if width == 86400:
        return 7
    if 86400 % width == 0:
        return 86400 // width
    return 1


class ActivityMonitor:
    """The activity of one partition (or panel), bucket by bucket; picklable."""

    #: how many counts of ``history`` reach ``min_series`` (None: not counted yet, as in a
    #: monitor pickled before it was kept)
    big: int | None = None

    def __init__(self, width: int, season: int | None = None, seasons: int = 4,
                 floor: float = 0.1, surge: float = 3.0, min_series: float = 20.0,
                 partition: int | None = None) -> None:
        self.width, self.season = width, season or season_of(width)
        self.seasons, self.floor, self.surge = seasons, floor, surge
        self.min_series, self.partition = min_series, partition
        self.active: dict[int, int] = {}  # open bucket start -> series with a sale in it
        self.history: dict[int, int] = {}  # judged bucket start -> its count (closures out)
        self.marks: dict[int, str] = {}  # judged bucket start -> "closure" or "surge"
        self.next: int | None = None  # the first bucket not judged yet
        self.open: dict[str, Any] | None = None  # the open group alert (its last message)

    def count(self, start: int, new_series: bool) -> None:
        """An event in the bucket at ``start``; ``new_series``: its series' first in it."""
        if self.next is None:
            self.next = start
        if new_series and start >= self.next:
            self.active[start] = self.active.get(start, 0) + 1

    def verdict(self, start: int) -> str | None:
        """``"closure"``, ``"surge"`` or None (ordinary, or not judged yet)."""
        return self.marks.get(start)

    def usual(self, start: int) -> float | None:
        """The median count of the same bucket in the last seasons (None: too little known)."""
        width, step = self.width, self.season
        seen = [c for i in range(1, self.seasons + 1)
                if (c := self.history.get(shift(start, -i * step, width))) is not None]
        return median(seen) if len(seen) >= 2 else None

    def judge(self, until: float) -> list[dict[str, Any]]:
        """Judge every bucket that ends at or before ``until``; the group alert messages.

        A long quiet stretch (a closure, a first event years back) is judged in bounded time:
        once ``seasons * season + 1`` empty buckets in a row were judged, the state repeats
        itself bucket after bucket (no history to compare with; an open closure goes on), so
        the walk jumps over the empty buckets up to the last :data:`KEEP` before ``until``
        (or the next one with a sale), which it judges as usual.

        Empty buckets that cannot get a verdict (no closure open, no count in the history
        that makes a usual count of ``min_series``) are judged together, as the walk would
        judge them (:meth:`_skip`): a series that sold every ~5,000 minute-buckets, in live
        mode, made each event walk ~5,000 buckets (80 s for 2,000 events: a probe)."""
        out: list[dict[str, Any]] = []
        width, settled = self.width, self._settled
        quiet = 0  # empty buckets in a row, judged just now
        while self.next is not None and end(self.next, width) <= until:
            start = self.next
            if start not in self.active and self._idle():
                self._skip(start, self._quiet_end(start, until))
                continue
            if quiet >= settled and (to := self._quiet_until(start, until)) > start:
                self._jump(to)
                quiet = 0
                continue
            n = self.active.pop(start, 0)
            quiet = quiet + 1 if n == 0 else 0
            usual = self.usual(start)
            kind, cur = None, self.open
            if usual is not None and usual >= self.min_series:
                if n < self.floor * usual:
                    kind = "closure"
                elif n > self.surge * usual:
                    kind = "surge"
                out.extend(self._track(kind, start, n, usual))
            elif cur is not None and cur["kind"] == "closure" and n < self.floor * cur["usual"]:
                kind = "closure"  # a usually quiet bucket inside a closure is part of it
                out.extend(self._track(kind, start, n, cur["usual"]))
            if kind is None:
                self.history[start] = n
                self._count(n, 1)
            else:
                self.marks[start] = kind
            self._count(self.history.pop(shift(start, -settled, width), None), -1)
            self.marks.pop(shift(start, -KEEP, width), None)
            self.next = end(start, width)
        return out

    def _idle(self) -> bool:
        """Whether no empty bucket can get a verdict now: no closure is open, and no count
        of the history reaches ``min_series`` (a usual count is a median of them)."""
        cur = self.open
        if cur is not None and cur["kind"] == "closure":
            return False
        if self.big is None:
            self.big = sum(c >= self.min_series for c in self.history.values())
        return self.big == 0

    def _count(self, c: int | None, step: int) -> None:
        """``c`` joined (``step`` 1) or left (-1) the history: :attr:`big` follows."""
        if c is not None and c >= self.min_series and self.big is not None:
            self.big += step

    def _quiet_end(self, start: int, until: float) -> int:
        """The first bucket from ``start`` on that has a sale or does not end by ``until``."""
        stop = grid_start(until, self.width)  # holds ``until``: it ends after it
        return min([stop, *(b for b in self.active if b >= start)])

    @property
    def _settled(self) -> int:
        """Buckets back that a verdict reads (``seasons`` seasons), and one: the history kept."""
        return self.seasons * self.season + 1

    def _skip(self, start: int, to: int) -> None:
        """Judge the empty buckets from ``start`` up to ``to`` as the walk does when none can
        get a verdict: each one's count, 0, joins the history (only the last ``seasons *
        season + 1`` are ever read), and what the walk forgets on the way is forgotten."""
        width, back = self.width, self._settled
        lo, hi = shift(start, -back, width), shift(to, -back, width)
        self.history = {b: c for b, c in self.history.items() if not lo <= b < hi}
        self.history.update(dict.fromkeys(starts(max(start, hi), to, width), 0))
        self.big = None  # counted again when next needed
        lo, hi = shift(start, -KEEP, width), shift(to, -KEEP, width)
        self.marks = {b: m for b, m in self.marks.items() if not lo <= b < hi}
        self.next = to

    def _quiet_until(self, start: int, until: float) -> int:
        """Where a jump from ``start`` lands: the last KEEP buckets before ``until``, or the
        next bucket with a sale if that comes first."""
        return min(shift(grid_start(until, self.width), -KEEP, self.width),
                   self._quiet_end(start, until))

    def _jump(self, to: int) -> None:
        """Leave the empty buckets before ``to`` unjudged: what they would have recorded (zero
        counts, closure marks) is forgotten before any verdict from ``to`` on reads it."""
        self.next = to
        self.history = {b: c for b, c in self.history.items()
                        if b >= shift(to, -self._settled, self.width)}
        self.marks = {b: m for b, m in self.marks.items() if b >= shift(to, -KEEP, self.width)}
        self.big = None

    def _track(self, kind: str | None, start: int, n: int, usual: float) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cur = self.open
        if cur is not None and cur["kind"] != kind:
            out.append(self._message(cur["kind"], cur["since"], start, "resolved", n, usual,
                                     cur["series_affected"]))
            self.open = cur = None
        if kind is None:
            return out
        affected = round(usual - n) if kind == "closure" else round(n - usual)
        if cur is None:
            self.open = self._message(kind, start, start, "open", n, usual, affected)
        else:
            affected = max(affected, cur["series_affected"])
            self.open = self._message(kind, cur["since"], start, "updated", n, usual, affected)
        return [*out, self.open]

    def _message(self, kind: str, since: int, start: int, state: str, n: int, usual: float,
                 affected: int) -> dict[str, Any]:
        return group_message(kind, since, start, end(start, self.width), state, affected, n, usual,
                             self.partition)
