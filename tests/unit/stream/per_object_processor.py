"""The per-object worker core as it was before the bank (commit 19e4431), kept verbatim as the
reference of tests/unit/stream/test_processor_bank.py (equal outputs), but for the state types
and message helpers it shares unchanged with stream.series_state (imported from there), and
one change of behaviour made with the eager close: when several buckets close at once, each is
scored on the one-step forecast made just before it (was: all on the forecast current when
they closed, the later ones k buckets ahead). Do not use elsewhere.

Original docstring: apply a batch of Kafka messages of one partition to per-series state.

Pure (no Faust, Kafka or Redis): the agent hands in messages and a ``get`` function reading
the state table, and gets back the states to write once each, the Redis writes and the
dead letters. It is deterministic in the offsets it is given, which makes at-least-once
replays safe:

* every series remembers the last offset it applied per partition; a redelivered message
  (after a crash, before the commit) is skipped for that series, so counts never double;
* the partition clock (watermark) only moves forward, and closing a bucket happens exactly
  once per series (``SeriesBuckets.close_due``).

Per message: validate (single event or envelope) -> dead-letter the rejects -> re-route each
event that is not on its series' partition (:mod:`stream.partitioning`) -> add each event to its
series' open bucket (in the future / too late / too far ahead / duplicate id -> dead letter with
its code) -> feed the partition clock and move it -> close every bucket the watermark made due:
the model learns each closed value and forecasts h=1..H.

Event time (the README's "Event-time rules"): ``live`` mode rejects an event more than
``max_skew`` seconds after its message's timestamp (the broker's append time on topics that
``services up`` creates), so a producer's wrong clock cannot open buckets in the future; ``replay``
mode (old or simulated data) instead rejects events more than ``max_ahead`` seconds ahead of the
partition watermark. In both, the watermark is the partition clock's lower median over recently
active series (:class:`stream.bucketing.PartitionClock`).

Exactly-once effects from at-least-once delivery: the partition state remembers the last offset
its clock observed, each series the last offset it applied, so a replay after a crash neither
moves the clock twice nor counts twice, and re-emits the Redis writes of the series it skips.

Series that stop selling are not swept: their zero buckets are filled in (and learnt) when
they are next touched, so a silent series keeps its last forecast, dated by its ``origin``.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from config import Settings
from contracts.wire import SeriesWrite
from models.anomaly import Expected, track
from models.bank_anomaly import OneDetector
from models.calendar import HolidayAdjusted
from models.factory import Forecast, SeriesModel, default_model
from stream.bucketing import (
    CLOCK_MIN_SERIES,
    Accepted,
    ClosedBucket,
    DuplicateId,
    PartitionClock,
    SeriesBuckets,
    TooFarAhead,
)
from stream.partitioning import partition_for
from stream.records import DeadLetter
from stream.series_state import (
    BatchOutput,
    Message,
    PartitionState,
    partition_key,
    raw_of,
    rerouted,
    series_key,
    valid_indices,
)
from stream.validation import parse_message
from stream.writes import series_write

__all__ = ["Message", "SeriesState", "PartitionState", "BatchOutput", "Processor"]

DAY = 86400
RECENT_ALERTS = 5  # alerts kept per series, republished when Redis comes back empty
UPDATE_HISTORY = 28  # closed buckets carried by each live update (the snapshot has them all)


def recent_of(model: SeriesModel) -> tuple[float, float]:
    """The largest of the model's last 56 values and the share above 0 (the detector's gates)."""
    ens = model.forecaster.member  # type: ignore[attr-defined]
    vals = getattr(ens, "online", ens).members[3]._window.sorted or [0.0]
    return vals[-1], sum(v > 0 for v in vals) / len(vals)


@dataclass
class SeriesState:
    """Everything the worker keeps for one series (pickled into the state table)."""

    series: str
    buckets: SeriesBuckets
    model: SeriesModel
    positions: dict[int, int] = field(default_factory=dict)  # partition -> last applied offset
    events: int = 0  # accepted events, ever
    last_ts: float = 0.0
    forecast: Forecast | None = None
    origin: int | None = None  # start of the first bucket the forecast is for
    # recent closed values, oldest first, ending at ``origin`` (compact: 8 bytes a bucket)
    history: array[float] = field(default_factory=lambda: array("d"))
    detector: OneDetector = field(default_factory=lambda: OneDetector())
    alerts: list[dict[str, Any]] = field(default_factory=list)  # the last RECENT_ALERTS alerts
    open_alert: dict[str, Any] | None = None
    mover: dict[str, float] | None = None  # distance of the latest closed bucket from forecast
    live_open: dict[str, float] | None = None  # aggregates only (never set here)
    written: int = -1  # the version of its last write

    def __getstate__(self) -> dict[str, Any]:
        # the forecast is recomputed whenever a bucket closes: not worth pickling
        return {k: v for k, v in self.__dict__.items() if k != "forecast"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, forecast=None)
        self.__dict__.setdefault("detector", OneDetector())
        self.__dict__.setdefault("alerts", [])
        self.__dict__.setdefault("mover", None)

    def expected(self, bucket: int, width: int) -> Expected | None:
        """What the current forecast says about the bucket starting at ``bucket``, if anything.

        The forecast is not pickled: after a restart it is recomputed from the model, which
        gives the same numbers, so scoring a replayed bucket gives the same alert.
        """
        if self.origin is None or self.model.n_seen == 0:
            return None
        if self.forecast is None:
            self.forecast = self.model.forecast()
        f = self.forecast
        k, rem = divmod(bucket - self.origin, width)
        if rem or not 0 <= k < f.horizon or not f.lo95:
            return None
        return Expected(f.yhat[k], f.lo[k], f.hi[k], f.lo95[k], f.hi95[k])

    def actuals(self, width: int) -> list[list[float]]:
        """``[[bucket start, value], ...]`` of the kept closed buckets, oldest first."""
        if self.origin is None:
            return []
        first = self.origin - len(self.history) * width
        return [[first + i * width, v] for i, v in enumerate(self.history)]


class Processor:
    """Turns message batches into state changes; one instance per worker."""

    def __init__(self, topic: str, width: int = 86400, lateness: int = 3600,
                 horizon: int = 14, history: int = 120,
                 model_factory: Callable[[int], SeriesModel] = default_model,
                 path_provider: Callable[[list[SeriesState]], None] | None = None, *,
                 partitions: int | None = None, event_time: str = "live",
                 max_skew: float = 300.0, max_ahead: float = 30 * DAY) -> None:
        if event_time not in ("live", "replay"):
            raise ValueError(f"event_time must be 'live' or 'replay', got {event_time!r}")
        if max_skew < 0 or max_ahead <= 0:
            raise ValueError(f"max_skew must be >= 0 and max_ahead > 0, got {max_skew}, "
                             f"{max_ahead}")
        self.topic, self.width, self.lateness = topic, width, lateness
        self.horizon, self.history = horizon, history
        # the events topic's partition count: events of a series found elsewhere are re-routed
        self.partitions = partitions
        self.live, self.max_skew, self.max_ahead = event_time == "live", max_skew, max_ahead
        self.model_factory = model_factory
        # called once per batch with the series whose buckets closed, before their writes:
        # the worker's LSTM runner sets their LSTM paths (batched inference) there
        self.path_provider = path_provider

    @classmethod
    def from_settings(cls, settings: Settings,
                      path_provider: Callable[[list[SeriesState]], None] | None = None,
                      partitions: int | None = None) -> Processor:
        lstm = path_provider is not None
        holidays = settings.bucket_seconds == DAY  # the holiday factor counts days
        return cls(settings.events_topic, settings.bucket_seconds, settings.lateness_seconds,
                   settings.horizon, settings.history,
                   lambda h: default_model(h, lstm=lstm, holidays=holidays), path_provider,
                   partitions=partitions, event_time=settings.event_time,
                   max_skew=settings.max_skew_seconds, max_ahead=settings.max_ahead_seconds)

    def new_series(self, series: str) -> SeriesState:
        # the bucketing keeps no history: SeriesState.history is the compact copy
        return SeriesState(series, SeriesBuckets(self.width, self.lateness, 0),
                           self.model_factory(self.horizon))

    def process(self, partition: int, messages: list[Message],
                get: Callable[[str], Any]) -> BatchOutput:
        out = BatchOutput()
        pkey = partition_key(partition)
        pstate: PartitionState = get(pkey) or PartitionState(PartitionClock(
            max_future_seconds=self.max_ahead, min_series=1 if self.live else CLOCK_MIN_SERIES))
        clock = pstate.clock
        touched: dict[str, SeriesState] = {}
        version: dict[str, int] = {}
        closed: set[str] = set()  # series whose forecast changed in this batch
        n_parts, live, topic = self.partitions, self.live, self.topic

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
            events, rejected = parse_message(msg.value)
            for rej in rejected:
                dead(rej.reason, "validation", "invalid", rej.raw, offset, rej.index)
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
                if fresh:
                    clock.observe(ev.series, ev.ts, bounded=not live)
                st = load(ev.series)
                if st.positions.get(partition, -1) >= offset:
                    out.duplicates += 1  # applied before a restart: re-emit its write only
                    version[ev.series] = max(version.get(ev.series, -1), st.positions[partition])
                    closed.add(ev.series)
                    if st.buckets.open:
                        pstate.schedule(ev.series, st.buckets.due_at)
                    continue
                due_before = st.buckets.due_at
                result = st.buckets.add(ev, clock, check_ahead=not live)
                if isinstance(result, Accepted):
                    out.accepted += 1
                    st.events += 1
                    st.last_ts = max(st.last_ts, ev.ts)
                    version[ev.series] = offset
                    applied.append(st)
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
            self._close_due(pstate, load, version, closed, offset, out)

        if self.path_provider is not None and closed:
            self.path_provider([touched[sid] for sid in closed])
        for sid, st in touched.items():
            if sid in version:
                out.states[series_key(sid)] = st
                out.writes.append(self.series_write(st, version[sid], sid in closed))
        # Last: after a partial write the series states are ahead of the clock, never behind
        # (a clock ahead of a series would turn its replayed events into "too late").
        out.states[pkey] = pstate
        return out

    def _close_due(self, pstate: PartitionState, load: Callable[[str], SeriesState],
                   version: dict[str, int], changed: set[str], offset: int,
                   out: BatchOutput) -> None:
        wm = pstate.clock.watermark
        if wm is None:
            return
        due = pstate.due
        while due and due[0][0] <= wm:
            _, sid = heapq.heappop(due)
            pstate.queued.discard(sid)
            st = load(sid)
            closed = st.buckets.close_due(wm)
            if closed:
                self._learn(st, closed, out)
                out.closed += len(closed)
                version[sid] = offset
                changed.add(sid)
            if st.buckets.open:  # still has open buckets: it falls due again later
                pstate.schedule(sid, st.buckets.due_at)

    def _learn(self, st: SeriesState, closed: list[ClosedBucket], out: BatchOutput) -> None:
        out.buckets.extend((st.series, b) for b in closed)
        fc = st.model.forecaster
        if isinstance(fc, HolidayAdjusted) and fc.day is None:
            fc.set_day(closed[0].start // DAY)  # dates the series for the holiday factor
        if st.origin is not None and closed[0].start != st.origin:
            st.history = array("d")  # a gap longer than max_fill: restart the history
        for bucket in closed:
            self._score(st, bucket, out)
            st.model.learn_one(bucket.qty)
            # the next bucket is scored on the one-step forecast after this one (changed
            # with the eager close: a row learns the same however its buckets are grouped)
            st.forecast, st.origin = None, bucket.end
            st.history.append(bucket.qty)
        if len(st.history) > self.history:
            del st.history[: len(st.history) - self.history]
        st.forecast = st.model.forecast(self.horizon)
        st.origin = closed[-1].end

    def _score(self, st: SeriesState, bucket: ClosedBucket, out: BatchOutput) -> None:
        """Score the closed actual against the forecast made for it (before learning it)."""
        e = st.expected(bucket.start, self.width)
        if e is None:
            return
        st.mover = {"score": round(abs(bucket.qty - e.yhat) / e.half_width, 3),
                    "actual": bucket.qty, "expected": round(e.yhat, 3), "bucket": bucket.start}
        out.movers[st.series] = st.mover
        s = st.detector.observe(bucket.qty, e, st.model.n_seen, recent_of(st.model))
        version = ""
        if s is not None:
            assert st.forecast is not None
            model = st.forecast.model
            version = str(model.get("name", "model"))
            if model.get("lstm_version"):
                version += f"+lstm:{model['lstm_version']}"
        if s is not None or st.open_alert is not None:
            st.open_alert, msgs = track(st.open_alert, st.series, bucket.start, bucket.end,
                                        bucket.qty, e, s, version)
            out.alerts.extend(msgs)
            st.alerts = [*st.alerts, *msgs][-RECENT_ALERTS:]

    def series_write(self, st: SeriesState, version: int, closed: bool) -> SeriesWrite:
        """The live part always; the forecast part (actuals + forecast) when it changed."""
        if closed and st.forecast is None and st.origin is not None and st.model.n_seen:
            st.forecast = st.model.forecast(self.horizon)  # not pickled: recomputed
        return series_write(st, version, closed, st.forecast, self.width)  # type: ignore[arg-type]
