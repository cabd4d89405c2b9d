"""Apply a batch of Kafka messages of one partition to per-series state: the worker's core.

Pure (no Faust, Kafka or Redis): the agent hands in messages and a ``get`` function reading
the state table, and gets back the states to write once each, the Redis writes and the
dead letters. It is deterministic in the offsets it is given, which makes at-least-once
replays safe:

* every series remembers the last offset it applied per partition; a redelivered message
  (after a crash, before the commit) is skipped for that series, so counts never double;
* the partition clock (watermark) only moves forward, and closing a bucket happens exactly
  once per series (``SeriesBuckets.close_due``).

Per message: validate (single event or envelope) -> dead-letter the rejects -> add each event to
its series' open bucket (too late / too far ahead -> dead letter) -> close every bucket the
watermark made due: the model learns each closed value and forecasts h=1..H.

Series that stop selling are not swept: their zero buckets are filled in (and learnt) when
they are next touched, so a silent series keeps its last forecast, dated by its ``origin``.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from models.anomaly import AnomalyDetector, Expected, make_alert
from models.calendar import HolidayAdjusted
from models.factory import Forecast, SeriesModel, default_model
from salescast.config import Settings
from stream.bucketing import Accepted, ClosedBucket, PartitionClock, SeriesBuckets
from stream.records import DeadLetter
from stream.sink import SeriesWrite
from stream.validation import parse_message

__all__ = ["Message", "SeriesState", "PartitionState", "BatchOutput", "Processor"]

DAY = 86400
UPDATE_HISTORY = 28  # closed buckets carried by each live update (the snapshot has them all)


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka message: its offset, producer timestamp (s) and raw value."""

    offset: int
    timestamp: float
    value: bytes


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
    detector: AnomalyDetector = field(default_factory=AnomalyDetector)

    def __getstate__(self) -> dict[str, Any]:
        # the forecast is recomputed whenever a bucket closes: not worth pickling
        return {k: v for k, v in self.__dict__.items() if k != "forecast"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, forecast=None)
        self.__dict__.setdefault("detector", AnomalyDetector())

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


@dataclass
class PartitionState:
    """The partition's watermark, and when each series with open buckets falls due."""

    clock: PartitionClock
    due: list[tuple[float, str]] = field(default_factory=list)  # heap of (due_at, series)
    queued: set[str] = field(default_factory=set)  # series with an entry in ``due``

    def schedule(self, series: str, due_at: float, earlier: bool = False) -> None:
        """Make sure ``series`` is looked at once the watermark reaches ``due_at``."""
        if series not in self.queued or earlier:
            heapq.heappush(self.due, (due_at, series))
            self.queued.add(series)


@dataclass
class BatchOutput:
    states: dict[str, Any] = field(default_factory=dict)
    writes: list[SeriesWrite] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    # every bucket closed in this batch, in order: (series, bucket) (the buckets topic)
    buckets: list[tuple[str, ClosedBucket]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # anomaly alerts (JSON-ready)
    # series -> how far its latest closed bucket was from its forecast (the top movers)
    movers: dict[str, dict[str, float]] = field(default_factory=dict)
    accepted: int = 0
    duplicates: int = 0
    closed: int = 0


def series_key(series: str) -> str:
    return f"s:{series}"


def partition_key(partition: int) -> str:
    return f"p:{partition}"


class Processor:
    """Turns message batches into state changes; one instance per worker."""

    def __init__(self, topic: str, width: int = 86400, lateness: int = 3600,
                 horizon: int = 14, history: int = 120,
                 model_factory: Callable[[int], SeriesModel] = default_model,
                 path_provider: Callable[[list[SeriesState]], None] | None = None) -> None:
        self.topic, self.width, self.lateness = topic, width, lateness
        self.horizon, self.history = horizon, history
        self.model_factory = model_factory
        # called once per batch with the series whose buckets closed, before their writes:
        # the worker's LSTM runner sets their LSTM paths (batched inference) there
        self.path_provider = path_provider

    @classmethod
    def from_settings(cls, settings: Settings,
                      path_provider: Callable[[list[SeriesState]], None] | None = None
                      ) -> Processor:
        lstm = path_provider is not None
        holidays = settings.bucket_seconds == DAY  # the holiday factor counts days
        return cls(settings.events_topic, settings.bucket_seconds, settings.lateness_seconds,
                   settings.horizon, settings.history,
                   lambda h: default_model(h, lstm=lstm, holidays=holidays), path_provider)

    def new_series(self, series: str) -> SeriesState:
        # the bucketing keeps no history: SeriesState.history is the compact copy
        return SeriesState(series, SeriesBuckets(self.width, self.lateness, 0),
                           self.model_factory(self.horizon))

    def process(self, partition: int, messages: list[Message],
                get: Callable[[str], Any]) -> BatchOutput:
        out = BatchOutput()
        pkey = partition_key(partition)
        pstate: PartitionState = get(pkey) or PartitionState(PartitionClock())
        clock = pstate.clock
        touched: dict[str, SeriesState] = {}
        version: dict[str, int] = {}
        closed: set[str] = set()  # series whose forecast changed in this batch

        def load(sid: str) -> SeriesState:
            st = touched.get(sid)
            if st is None:
                st = get(series_key(sid)) or self.new_series(sid)
                touched[sid] = st
            return st

        for msg in messages:
            events, rejected = parse_message(msg.value)
            for rej in rejected:
                out.dead.append(DeadLetter(rej.reason, "validation", rej.raw, self.topic,
                                           partition, msg.offset))
            applied: list[SeriesState] = []
            single = len(events) + len(rejected) == 1  # else an envelope: re-serialise each
            for ev in events:
                st = load(ev.series)
                if st.positions.get(partition, -1) >= msg.offset:
                    out.duplicates += 1
                    continue
                due_before = st.buckets.due_at
                result = st.buckets.add(ev, clock)
                if isinstance(result, Accepted):
                    out.accepted += 1
                    st.events += 1
                    st.last_ts = max(st.last_ts, ev.ts)
                    version[ev.series] = msg.offset
                    applied.append(st)
                    pstate.schedule(ev.series, st.buckets.due_at, st.buckets.due_at < due_before)
                else:
                    raw = msg.value if single else ev.to_json()
                    out.dead.append(DeadLetter(result.reason, "bucketing", raw, self.topic,
                                               partition, msg.offset))
            for st in applied:
                st.positions[partition] = msg.offset
            self._close_due(pstate, load, version, closed, msg.offset, out)

        if self.path_provider is not None and closed:
            self.path_provider([touched[sid] for sid in closed])
        for sid, st in touched.items():
            if sid in version:
                out.states[series_key(sid)] = st
                out.writes.append(self._write(st, version[sid], sid in closed))
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
        out.movers[st.series] = {"score": round(abs(bucket.qty - e.yhat) / e.half_width, 3),
                                 "actual": bucket.qty, "expected": round(e.yhat, 3),
                                 "bucket": bucket.start}
        s = st.detector.observe(bucket.qty, e, st.model.n_seen)
        if s is not None:
            assert st.forecast is not None
            model = st.forecast.model
            version = str(model.get("name", "model"))
            if model.get("lstm_version"):
                version += f"+lstm:{model['lstm_version']}"
            out.alerts.append(make_alert(st.series, bucket.start, bucket.end, bucket.qty, e, s,
                                         version))

    def _write(self, st: SeriesState, version: int, closed: bool) -> SeriesWrite:
        """The live part always; the forecast part (actuals + forecast) when it changed."""
        open_ = max(st.buckets.open.items(), default=None)
        live = {
            "series": st.series,
            "version": version,
            "events": st.events,
            "event_ts": st.last_ts,
            "open": None if open_ is None else
            {"t": open_[0], "qty": open_[1].qty, "events": open_[1].n_events},
        }
        if not closed:
            return SeriesWrite(st.series, version, st.last_ts, live, None, dict(live, kind="live"))
        forecast = None
        if st.forecast is not None and st.origin is not None:
            forecast = st.forecast.to_dict()
            forecast["t"] = [st.origin + i * self.width for i in range(st.forecast.horizon)]
        actuals = st.actuals(self.width)
        part = {"bucket_seconds": self.width, "actuals": actuals, "forecast": forecast}
        update = dict(live, kind="forecast", bucket_seconds=self.width, forecast=forecast,
                      actuals=actuals[-UPDATE_HISTORY:])
        return SeriesWrite(st.series, version, st.last_ts, live, part, update)
