"""Aggregate series from event fields: per-partition partial sums, combined on one partition.

Every accepted event counts in its SKU series and in the aggregates it belongs to: the shop's
``total`` and one child of it per value of the grouping field (``country:United Kingdom``;
an event without the field counts in ``country:(none)``, so the children always add up to the
total). Aggregates are few but every event touches the total, so no event is sent anywhere
for them; instead:

* each partition keeps :class:`Partials`, its own sums per open bucket and child, in its
  partition state (so they follow the same exactly-once rule as its clock), and after each
  batch sends one *report* (:func:`encode_report`) keyed by ``total``: its running sums of the
  open buckets and ``final_until``, the start of its first bucket not yet complete (its
  watermark passed the end of every bucket before, plus the allowed lateness);
* the partition that ``total`` hashes to keeps a :class:`Ledger` of the latest report of every
  source partition (a report replaces the one before, so a report read twice after a restart
  changes nothing) and closes a bucket once every partition has reported it complete; then
  the total and each child learn that bucket's sums, as one bank close
  (:mod:`stream.aggregate_rows`).

A partition with no watermark yet (fewer than 3 series, and 100 events: stream.clock) reports
its sums without declaring anything complete. The ledger waits for it as far as its latest
sums go, less a bucket (a fast replay of 3 SKUs once closed most of ``total``'s days without
one partition's sums); one whose sums stop :data:`PATIENCE` buckets of event time behind the
others', one that has not reported at all once :data:`PATIENCE_S` of message time have passed
since the first report, and one whose declared buckets stopped that far behind and that has
been silent :data:`STOPPED_S` (its series all stopped selling: nothing moves its watermark,
and a probe's total stayed at one stopped series' last sale for good) are not waited for. The
worker holding ``total``'s partition sends it ticks, reports of nothing, so that this clock
runs when no report comes (``Aggregation.tick``). What a partition reports later for a bucket
that closed without it still counts in the aggregates' events (never lost), though the
bucket's value the models learnt stays as it was.

>>> p = Partials(width=10)
>>> p.add(bucket=0, child="country:EIRE", qty=2.0); p.add(0, "country:France", 1.0)
>>> report = decode_report(p.report(partition=3, offset=7, final_until=0))
>>> report.partition, report.offset, report.final_until, report.sums[0]["country:EIRE"]
(3, 7, 0, [2.0, 1])
>>> led = Ledger(sources=1, width=10)
>>> led.apply(report), led.apply(decode_report(p.report(3, 9, final_until=10)))
(True, True)
>>> led.due()  # bucket 0 is complete on every partition: its sums per child
[(0, {'country:EIRE': (2.0, 1), 'country:France': (1.0, 1)})]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from models.grid import end, shift, steps
from stream.aggregate_report import (  # re-exported: the report is part of this module's API
    REPORT_PREFIX,
    Report,
    check_report,
    decode_report,
    encode_report,
    is_report,
)
from stream.bucketing import capped_starts
from stream.grouping import ROOT, Grouping, grouping_of  # re-exported: the aggregates' children

__all__ = ["ROOT", "REPORT_PREFIX", "PATIENCE", "PATIENCE_S", "QUIET_S", "STOPPED_S", "TICK_S",
           "Grouping", "grouping_of", "Partials", "Report", "Ledger", "encode_report",
           "decode_report", "is_report", "check_report"]

PATIENCE = 2  # buckets the ledger waits for a partition behind the others (see below)
#: and seconds (of the reports' message times): what a fast replay runs through in 2 buckets
PATIENCE_S = 60.0
TICK_S = 10.0  # seconds without a report after which total's partition gets a tick
#: seconds a partition that declared buckets complete, then stopped, is waited for: longer
#: than a failover or a restart takes, since its worker may be away rather than its series
STOPPED_S = 180.0
#: seconds of message time without any report or tick after which the ledger counts its
#: partitions' silence afresh (every worker was away: an outage is no sign of a stop)
QUIET_S = 60.0


@dataclass
class Partials:
    """One partition's sums per open bucket and child: ``{bucket: {child: [qty, events]}}``."""

    width: int
    open: dict[int, dict[str, list[float]]] = field(default_factory=dict)
    changed: bool = False  # since the last report

    def add(self, bucket: int, child: str, qty: float) -> None:
        acc = self.open.setdefault(bucket, {}).setdefault(child, [0.0, 0])
        acc[0] += qty
        acc[1] += 1
        self.changed = True

    def report(self, partition: int, offset: int, final_until: int | None,
               group: str = "") -> bytes:
        """The report of this partition after ``offset`` (sent by worker group ``group``); the
        buckets it declares complete (before ``final_until``; None: none yet) are forgotten."""
        out = encode_report(partition, offset, final_until, self.open, group)
        for b in [b for b in self.open if final_until is not None and b < final_until]:
            del self.open[b]
        self.changed = False
        return out


@dataclass
class Ledger:
    """The latest report of every source partition, and which buckets are closed."""

    sources: int
    width: int
    seen: dict[int, int] = field(default_factory=dict)  # source -> offset of its last report
    final_until: dict[int, int] = field(default_factory=dict)  # source -> its final_until
    sums: dict[int, dict[int, dict[str, list[float]]]] = field(default_factory=dict)
    closed_until: int | None = None  # every bucket before it is closed
    children: list[str] = field(default_factory=list)  # every child seen, sorted
    closed_events: dict[str, int] = field(default_factory=dict)  # events of closed buckets
    # source -> {closed bucket it had not finished: its sums counted so far}
    unfinished: dict[int, dict[int, dict[str, list[float]]]] = field(default_factory=dict)
    late: int = 0  # sums that came for a bucket after it closed, and changed it
    latest: dict[int, int] = field(default_factory=dict)  # source -> its latest bucket of sums
    heard: dict[int, float] = field(default_factory=dict)  # source -> its last report's time
    now: float = 0.0  # the latest report's time (0: none had one), ticks' included
    first: float = 0.0  # the first report's time (0: none had one)
    #: the time of the first report or tick after QUIET_S without any: silences count from it
    resumed: float = 0.0
    #: made by a worker whose reports name their group: it takes no report that names none
    #: (False: a ledger of an older worker, whose own reports named none)
    named: bool = True

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("named", False)
        for name, empty in (("latest", {}), ("heard", {}), ("now", 0.0), ("first", 0.0),
                            ("resumed", 0.0)):
            self.__dict__.setdefault(name, empty)

    def apply(self, report: Report, at: float = 0.0) -> bool:
        """Take ``report`` (its message's time ``at``, 0: none) unless an equal or later one
        of its partition was taken."""
        src = report.partition
        if at > 0:  # (a tick, offset -1, only moves the clock: Aggregation.tick)
            if self.now and at - self.now > QUIET_S:  # nothing heard from anyone meanwhile
                self.resumed = at
            self.now = max(self.now, at)
        if self.seen.get(src, -1) >= report.offset:
            return False
        self.seen[src] = report.offset
        if at > 0:
            self.heard[src], self.first = at, min(self.first or at, at)
        finished = self.final_until.get(src)  # what it had declared complete before
        for b, per in report.sums.items():
            if self.closed_until is not None and b < self.closed_until:
                if finished is None or b >= finished:  # closed without it: count what it adds
                    self.late += self._count_late(src, b, per)
                continue  # else: sums read before, from before a restart
            self.sums.setdefault(b, {})[src] = per
            self._know(per)
            self.latest[src] = max(b, self.latest.get(src, b))
        if report.final_until is not None:
            finished = self.final_until[src] = max(finished or report.final_until,
                                                   report.final_until)
            late = self.unfinished.get(src, {})
            for b in [b for b in late if b < finished]:  # its last sums were final
                del late[b]
            if not late:
                self.unfinished.pop(src, None)
        return True

    def wants_tick(self, now: float, every: float = TICK_S) -> bool:
        """Whether ``total``'s partition should get a tick (``Aggregation.tick``) at wall time
        ``now``: ``every`` seconds after the last report or tick, within 2 PATIENCE_S of the
        ledger's first report (while it waits for partitions that have not reported) or while
        it waits for one that stopped behind the others (:meth:`_stopped`).

        >>> led = Ledger(sources=2, width=10)
        >>> led.wants_tick(1000.0)  # no report yet: nothing to wait for
        False
        >>> led.first = led.now = 1000.0
        >>> led.wants_tick(1005.0), led.wants_tick(1010.0), led.wants_tick(1000.0 + 120)
        (False, True, False)
        """
        return bool(self.first) and now - self.now >= every and (
            now - self.first < 2 * PATIENCE_S or bool(self._stopped(waiting=True)))

    def _stopped(self, waiting: bool = False) -> set[int]:
        """The partitions whose complete buckets stopped :data:`PATIENCE` buckets behind the
        furthest one's, silent :data:`STOPPED_S` since (``waiting``: not that long yet). A
        silence counts from the ledger's last :data:`QUIET_S` without any report, if later:
        after every worker was away (a probe stopped all three for minutes while events
        arrived), the first partitions back do not close buckets without the others."""
        front = max(self.final_until.values(), default=0)  # (none: the loop has nothing)
        out = set()
        for src, until in self.final_until.items():
            heard = self.heard.get(src)  # (unknown without message times: waited for)
            if heard is None or steps(until, front, self.width) < PATIENCE:
                continue
            if (self.now - max(heard, self.resumed) < STOPPED_S) == waiting:
                out.add(src)
        return out

    def _know(self, per: Mapping[str, object]) -> None:
        new = [c for c in per if c not in self.children]
        if new:
            self.children = sorted([*self.children, *new])

    def _count_late(self, src: int, b: int, per: dict[str, list[float]]) -> int:
        """Add what ``src``'s sums of closed bucket ``b`` hold beyond those counted before;
        1 if they hold anything new (late), 0 for the same sums again (a redelivery)."""
        before = self.unfinished.setdefault(src, {}).get(b, {})
        if before == per:
            return 0
        for c, (_, n) in per.items():
            self.closed_events[c] = (self.closed_events.get(c, 0) + int(n)
                                     - int(before.get(c, (0.0, 0))[1]))
        self.unfinished[src][b] = per
        self._know(per)
        return 1

    def due(self) -> list[tuple[int, dict[str, tuple[float, int]]]]:
        """Close every bucket that every source partition reported complete: ``(bucket,
        {child: (qty, events)})`` in bucket order, zero-filled between buckets with sums.

        A partition that has declared nothing complete (it has no series, or no watermark,
        yet) is not waited for once the others are :data:`PATIENCE` buckets further, nor is
        one that stopped that far behind and went silent (:meth:`_stopped`): what it
        reports later for a bucket closed without it still counts in :meth:`events`."""
        if not self.final_until:
            return []
        stopped = self._stopped()
        until = declared = min(u for src, u in self.final_until.items() if src not in stopped)
        for src, last in self.latest.items():  # reporting, no watermark yet: its past is done
            if src not in self.final_until and (
                    steps(last, declared, self.width) < PATIENCE
                    or self.now - self.heard.get(src, -PATIENCE_S) < PATIENCE_S):
                until = min(until, shift(last, -1, self.width))
        start = self.closed_until
        if start is None:
            if not self.sums:
                return []
            start = min(self.sums)
        if len(self.final_until) < self.sources and (
                steps(start, until, self.width) < PATIENCE
                or (self.first and self.now - self.first < PATIENCE_S)):
            return []  # (and PATIENCE_S after the first report: a fast replay's first days)
        out = []
        for b in capped_starts(start, until, self.width, self.sums):
            per_source = self.sums.pop(b, {})
            for src, src_sums in per_source.items():
                if src not in self.final_until or self.final_until[src] <= b:
                    self.unfinished.setdefault(src, {})[b] = src_sums  # it may add more
            per = _combine(per_source)
            for c, (_, n) in per.items():
                self.closed_events[c] = self.closed_events.get(c, 0) + n
            out.append((b, per))
        if out:
            self.closed_until = end(out[-1][0], self.width)
        return out

    def open_sums(self) -> tuple[int | None, dict[str, tuple[float, int]]]:
        """The earliest open bucket and its running sums per child (all sources)."""
        if not self.sums:
            return None, {}
        b = min(self.sums)
        return b, _combine(self.sums[b])

    def events(self, child: str) -> int:
        """Events counted in ``child`` (``total``: all), closed buckets and open ones."""
        names = self.children if child == ROOT else [child]
        n = sum(self.closed_events.get(c, 0) for c in names)
        for per_src in self.sums.values():
            for src_sums in per_src.values():
                n += sum(int(src_sums[c][1]) for c in names if c in src_sums)
        return n


def _combine(per_source: Mapping[int, Mapping[str, list[float]]]) -> dict[str, tuple[float, int]]:
    """One bucket's ``(qty, events)`` per child, summed over the source partitions' sums."""
    per: dict[str, tuple[float, int]] = {}
    for src_sums in per_source.values():
        for c, (q, n) in src_sums.items():
            old = per.get(c, (0.0, 0))
            per[c] = (old[0] + q, old[1] + int(n))
    return per
