"""Apply a batch of Kafka messages of one partition to per-series state: the worker's core.

Pure (no Faust, Kafka or Redis): given messages and a ``get`` reading the state table, it
returns the states to write once each, the dead letters, what to send and the Redis writes
(:meth:`Processor.apply`: what each write will be; the worker builds a batch's once a
series, stream.writes).
Replays are safe: a series skips the offsets it applied per partition (counts never double),
the clock only moves forward, a bucket closes once.

Per message: validate (an event or an envelope) -> dead-letter the rejects -> re-route events
not on their series' partition (stream.partitioning) -> add each to its series' open bucket
(in the future / too late / too far ahead / duplicate id: a dead letter with its code) and to
the aggregates' sums (stream.aggregate_rows) -> move the clock -> collect the buckets the
watermark made due. At the batch's end the partition's :class:`~models.bank.ForecasterBank`
learns them, one call per round (stream.bank_rows); the writes forecast h=1..H."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from config import Settings
from models.activity import ActivityMonitor
from models.calendar import use_holidays
from models.grid import use_offset
from stream.aggregate_rows import LEDGER_KEY, Aggregation, receive_report
from stream.aggregates import REPORT_PREFIX, ROOT, Grouping, grouping_of, is_report
from stream.bank_rows import Due, PathProvider, collect, learn_closed
from stream.bucketing import SeriesBuckets, bucket_start
from stream.clock import CLOCK_MIN_SERIES, PartitionClock
from stream.outcomes import Accepted, DuplicateId, TooFarAhead
from stream.partitioning import partition_for
from stream.records import DeadLetter
from stream.series_state import (
    BatchOutput,
    Message,
    PartitionState,
    SeriesState,
    partition_key,
    raw_of,
    rerouted,
    series_key,
    valid_indices,
)
from stream.validation import parse_message
from stream.writes import Writer

__all__ = ["Message", "SeriesState", "PartitionState", "BatchOutput", "Processor",
           "PathProvider", "series_key", "partition_key"]

DAY = 86400
MAX_CLOSES = 256  # the worker's Processor.max_closes: a day boundary spreads over batches


class Processor(Writer):
    """Turns message batches into state changes; one instance per worker."""

    def __init__(self, topic: str, width: int = 86400, lateness: int = 3600,
                 horizon: int = 14, history: int = 120, *, lstm: bool = False,
                 holidays: str | None = None, path_provider: PathProvider | None = None,
                 partitions: int | None = None, event_time: str = "live",
                 max_skew: float = 300.0, max_ahead: float = 30 * DAY,
                 aggregates: Grouping | None = None, max_closes: int | None = None) -> None:
        if event_time not in ("live", "replay"):
            raise ValueError(f"event_time must be 'live' or 'replay', got {event_time!r}")
        if max_skew < 0 or max_ahead <= 0:
            raise ValueError(f"max_skew must be >= 0 and max_ahead > 0: {max_skew}, {max_ahead}")
        super().__init__(horizon, lstm or path_provider is not None, width)  # (the rows)
        self.topic, self.lateness = topic, lateness
        self.topic_id: str | None = None  # the events topic's Kafka id, once the agent knows it
        self.history, self.partitions = history, partitions  # (partitions: re-routing)
        self.live, self.max_skew = event_time == "live", max_skew
        self.max_ahead = max(max_ahead, 2 * width)  # replay: two buckets (months...) at least
        self.holidays = holidays is not None
        self.path_provider = path_provider  # once per batch, before the writes
        if holidays is not None:  # the process's calendar (``GB-ENG``...), loaded now
            use_holidays(holidays)
        self.max_closes = self._closes_left = max_closes  # due series a batch closes at most
        self.aggregation = None if aggregates is None or partitions is None else Aggregation(
            aggregates, partitions, width, lateness, horizon)
        self.aggregate_by = "none" if self.aggregation is None else self.aggregation.grouping.by

    @classmethod
    def from_settings(cls, settings: Settings, path_provider: PathProvider | None = None,
                      partitions: int | None = None) -> Processor:
        use_offset(settings.utc_offset)  # the shop's clock, before any state is read
        return cls(settings.events_topic, settings.bucket_seconds, settings.lateness_seconds,
                   settings.horizon, settings.history, lstm=path_provider is not None,
                   holidays=settings.holidays if settings.bucket_seconds == DAY else None,
                   path_provider=path_provider, partitions=partitions,
                   event_time=settings.event_time, max_skew=settings.max_skew_seconds,
                   max_ahead=settings.max_ahead_seconds, aggregates=grouping_of(settings),
                   max_closes=MAX_CLOSES)  # (the holiday factor: daily buckets only)

    def new_series(self, series: str) -> SeriesState:  # (the history: SeriesState's, compact)
        return SeriesState(series, SeriesBuckets(self.width, self.lateness, 0))

    def process(self, partition: int, messages: list[Message],
                get: Callable[[str], Any]) -> BatchOutput:
        """:meth:`apply`, then its writes (the worker builds a batch's once: stream.writes)."""
        return self.written(partition, self.apply(partition, messages, get))

    def check(self, partition: int, get: Callable[[str], Any], series: str | None) -> None:
        """Refuse a partition's state made with other settings (SettingsChanged), as its next
        batch would, but now: a worker restarted with another topic, grouping or clock ran on
        until the partition's next event, which may come days later. ``series``: the key of
        one of its series states (``get``, the worker's store, checks its grid)."""
        pstate = get(partition_key(partition))
        if pstate is not None:
            pstate.claim(partition, self.topic, self.aggregate_by, self.topic_id)
        if series is not None:
            get(series)

    def apply(self, partition: int, messages: list[Message],
              get: Callable[[str], Any]) -> BatchOutput:
        out, self._closes_left = BatchOutput(), self.max_closes
        pkey = partition_key(partition)
        pstate: PartitionState = get(pkey) or PartitionState(PartitionClock(
            max_future_seconds=self.max_ahead, min_series=1 if self.live else CLOCK_MIN_SERIES))
        pstate.claim(partition, self.topic, self.aggregate_by, self.topic_id)
        clock = pstate.clock
        activity = pstate.activity = (pstate.activity
                                      or ActivityMonitor(self.width, partition=partition))
        touched, version = dict[str, SeriesState](), dict[str, int]()  # version: its write's
        closed: set[str] = set()  # series whose forecast changed in this batch
        # the buckets to learn at the end of the batch, in order
        res, dues = self.resident(partition), list[Due]()
        n_parts, live, topic, agg = self.partitions, self.live, self.topic, self.aggregation
        led = agg.ledger(get) if agg is not None and partition == agg.home else None

        def load(sid: str) -> SeriesState:
            st = touched.get(sid)
            if st is None:
                st = get(series_key(sid)) or self.new_series(sid)
                touched[sid] = st
            return st

        def dead(reason: str, stage: str, code: str, raw: bytes, offset: int,
                 index: int | None, series: str | None = None) -> None:
            out.dead.append(DeadLetter(reason, stage, raw, topic, partition, offset, code,
                                       index, series))

        for msg in messages:
            offset = msg.offset
            if msg.value.startswith(REPORT_PREFIX) and (led or is_report(msg.value)):
                try:  # a partition's sums (no ledger here, or aggregates off: nothing to take)
                    version.update(dict.fromkeys(receive_report(agg, led, msg.value,
                                                                msg.timestamp), offset))
                except ValueError as exc:  # no partition of this topic sent it: a dead letter
                    dead(str(exc), "aggregate", "invalid", msg.value, offset, None)
                continue
            events, rejected = parse_message(msg.value)
            for rej in rejected:
                out.dead.append(rej.dead_letter(topic, partition, offset))
            single = len(events) + len(rejected) == 1  # else an envelope: re-serialise each
            indices: list[int | None] = ([None] * len(events) if single
                                         else valid_indices(events, rejected))
            fresh = offset > pstate.position  # the clock has not observed this message yet
            limit = msg.timestamp + self.max_skew if live and msg.timestamp > 0 else None
            applied: list[SeriesState] = []
            for ev, index in zip(events, indices, strict=True):
                if n_parts is not None and partition_for(ev.series, n_parts) != partition:
                    out.reroute.append((ev.series, rerouted(ev, partition, offset, index)))
                    continue
                if limit is not None and ev.ts > limit:
                    dead(f"event time {ev.ts:.3f} is more than {self.max_skew:g} s after its "
                         f"message's timestamp {msg.timestamp:.3f} (a producer clock ahead?)",
                         "bucketing", "in_future", raw_of(msg.value, ev, single), offset, index,
                         ev.series)
                    continue
                if agg is not None and agg.grouping.reserved(ev.series):
                    dead(f"series {ev.series!r} is the name of an aggregate", "validation",
                         "reserved", raw_of(msg.value, ev, single), offset, index, ev.series)
                    continue
                if fresh:  # (live: a vote no later than the broker's time, see clock.observe)
                    clock.observe(ev.series, ev.ts if limit is None else min(
                        ev.ts, msg.timestamp), bounded=not live)
                st = load(ev.series)
                if st.positions.get(partition, -1) >= offset:
                    if fresh:  # the partition state missed it: count it
                        b = bucket_start(ev.ts, self.width)
                        pstate.recount(activity, ev.series, b)
                        if agg is not None:
                            agg.count(pstate, b, ev)
                    out.duplicates += 1  # applied before a restart: re-emit its write only
                    version[ev.series] = max(version.get(ev.series, -1), st.positions[partition])
                    closed.add(ev.series)
                    if st.buckets.open:  # the clock may be behind it: queue what is open
                        pstate.schedule(ev.series, st.buckets.due_at)
                    continue
                due_before = st.buckets.due_at
                result = st.buckets.add(ev, clock, check_ahead=not live)
                if isinstance(result, Accepted):
                    out.accepted += 1
                    st.events += 1
                    st.last_ts = max(st.last_ts, ev.ts)
                    version[ev.series] = max(offset, st.written + 1)  # newer than any write
                    applied.append(st)
                    if fresh:  # counted once, as the clock observes it once
                        activity.count(result.bucket, result.n_events == 1)
                        if agg is not None:
                            agg.count(pstate, result.bucket, ev)
                    pstate.schedule(ev.series, st.buckets.due_at, st.buckets.due_at < due_before)
                elif isinstance(result, DuplicateId):
                    out.duplicate_ids += 1
                    dead(result.reason, "duplicate", "duplicate_id", raw_of(msg.value, ev, single),
                         offset, index, ev.series)
                else:
                    code = "too_far_ahead" if isinstance(result, TooFarAhead) else "too_late"
                    dead(result.reason, "bucketing", code, raw_of(msg.value, ev, single),
                         offset, index, ev.series)
            for st in applied:
                st.positions[partition] = offset
            if fresh:
                clock.advance()
                pstate.position = offset
                pstate.mark_due(self.lateness, self.width)
            self._close_due(pstate, load, version, closed, offset, out, dues, applied)

        if agg is not None and messages:
            report = agg.report(pstate, partition, messages[-1].offset)
            if report is not None:
                out.reports.append(report)
            for st, buckets in agg.close(led, load) if led is not None else []:
                dues.append(collect(st, buckets, out, self.history))
                version[st.series] = messages[-1].offset
                closed.add(st.series)
        changed = learn_closed(res, dues, out, activity, [touched[sid] for sid in closed],
                               self.path_provider, self.holidays)
        if led is not None:
            if ROOT in changed:  # the aggregates closed a bucket: make them coherent
                agg.reconcile(led, load, lambda st: self.forecast_of(st, res),  # type: ignore
                              out.movers)
            for name in set(agg.names(led)) & version.keys():  # type: ignore[union-attr]
                agg.live(led, load(name), version[name])  # type: ignore[union-attr]
        for sid, st in touched.items():
            if sid in version:  # its write: built later (stream.writes), its version now
                out.states[series_key(sid)] = st
                st.written = max(st.written, version[sid])
                out.intents[sid] = (st, version[sid], sid in closed)
        if led is not None:  # after the aggregates' states: a replay skips what they learnt
            out.states[LEDGER_KEY] = led
        # Last: after a partial write the series states are ahead of the clock, never behind
        # (a clock ahead of a series would turn its replayed events into "too late").
        out.states[pkey] = pstate
        return out

    def _close_due(self, pstate: PartitionState, load: Callable[[str], SeriesState],
                   version: dict[str, int], changed: set[str], offset: int,
                   out: BatchOutput, dues: list[Due], applied: list[SeriesState]) -> None:
        wm = pstate.clock.watermark
        if wm is None:
            return
        if pstate.activity is not None:  # judged before the buckets of its series close
            out.alerts.extend(pstate.activity.judge(wm - self.lateness))
        due, left = pstate.due, self._closes_left
        while due and due[0][0] <= wm and left != 0:
            _, sid = heapq.heappop(due)
            pstate.queued.discard(sid)
            if self._close(load(sid), wm, pstate, version, changed, offset, out, dues):
                left = None if left is None else left - 1
        self._closes_left = left
        # A series with an event in this message closes now, whatever the cap: the sweep's
        # write (version pstate.due_offset) could not be newer than this message's.
        for st in applied:
            if st.buckets.due_at <= wm:
                self._close(st, wm, pstate, version, changed, offset, out, dues)

    def _close(self, st: SeriesState, wm: float, pstate: PartitionState,
               version: dict[str, int], changed: set[str], offset: int, out: BatchOutput,
               dues: list[Due]) -> bool:
        closed = st.buckets.close_due(wm)
        if closed:
            dues.append(collect(st, closed, out, self.history))
            out.closed += len(closed)
            version[st.series] = max(offset, st.written + 1)  # (a rewind: see process)
            changed.add(st.series)
        if st.buckets.open:  # still has open buckets: it falls due again later
            pstate.schedule(st.series, st.buckets.due_at)
        return bool(closed)
