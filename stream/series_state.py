"""What the worker keeps per series and per partition (pickled into the changelog-backed state
table), and what one processed batch hands back to the agent.

A series' model is a row of the partition's :class:`~models.bank.ForecasterBank`. While a
bank holds the row of a state object (``SeriesState.holder``), the state keeps no copy of it:
pickling the state exports the row (about 14 KB of bytes, no pickled object graph, ~25 us), and
the bank writes it into ``SeriesState.row`` before the row leaves the object
(:class:`stream.resident.Resident`). A copy in every state doubled the worker's memory.
"""

from __future__ import annotations

import heapq
from array import array
from dataclasses import dataclass, field
from typing import Any

from contracts.events import SaleEvent
from contracts.wire import SeriesWrite
from models.activity import ActivityMonitor
from models.factory import Forecast
from models.grid import offset_text, shift, starts, utc_offset
from models.reconcile import AdaptiveBands
from stream.aggregates import Partials
from stream.bucketing import SeriesBuckets, bucket_start
from stream.clock import PartitionClock
from stream.errors import SettingsChanged
from stream.outcomes import ClosedBucket
from stream.records import DeadLetter

__all__ = ["Message", "SeriesState", "PartitionState", "BatchOutput", "series_key",
           "partition_key"]

RECENT_ALERTS = 5  # alerts kept per series, republished when Redis comes back empty


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
    # the model: ForecasterBank.export_row (empty before its first close; out of date while
    # a bank holds the row: ``holder``)
    row: bytes = b""
    positions: dict[int, int] = field(default_factory=dict)  # partition -> last applied offset
    events: int = 0  # accepted events, ever
    last_ts: float = 0.0
    forecast: Forecast | None = None
    origin: int | None = None  # start of the first bucket the forecast is for
    # recent closed values, oldest first, ending at ``origin`` (compact: 8 bytes a bucket)
    history: array[float] = field(default_factory=lambda: array("d"))
    alerts: list[dict[str, Any]] = field(default_factory=list)  # its last RECENT_ALERTS messages
    open_alert: dict[str, Any] | None = None  # the alert still open (models.anomaly.track)
    mover: dict[str, float] | None = None  # distance of the latest closed bucket from forecast
    # aggregates only (stream.aggregate_rows): their bands, coherent forecast and live part
    bands: AdaptiveBands | None = None
    reconciled: Forecast | None = None
    live_open: dict[str, float] | None = None
    # the version of its last write to Redis (a close may be written at another series'
    # offset): what a republish writes it at, or Redis would refuse it as not newer
    written: int = -1
    # the resident bank whose row is this very object's model, while one is (not pickled;
    # ``row`` is then out of date: :meth:`model_bytes`)
    holder: Any = field(default=None, repr=False, compare=False)
    # the hash of the row part of this object's last packed bytes, while its row has not
    # changed since (``stream.state.pack`` reuses that part; not pickled; every change of
    # the row resets it: ``Resident`` and ``bank_rows.learn_closed``)
    packed_row: int | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = self.fields()
        state["row"] = self.model_bytes()
        return state

    def fields(self) -> dict[str, Any]:
        """What is pickled, but the model row (the forecast is recomputed from the row
        whenever it is needed: not worth pickling)."""
        return {k: v for k, v in self.__dict__.items()
                if k not in ("forecast", "holder", "packed_row", "row")}

    @classmethod
    def from_fields(cls, fields: dict[str, Any], row: bytes) -> SeriesState:
        """The state of :meth:`fields` and its model row's bytes."""
        st = cls.__new__(cls)
        st.__setstate__({**fields, "row": row})
        return st

    def model_bytes(self) -> bytes:
        """The model's row as bytes: exported from the bank that holds it, else ``row``
        (empty before the series' first close)."""
        holder = self.holder
        return holder.export_of(self) if holder is not None and holder.holds(self) else self.row

    def modelled(self) -> bool:
        """Whether the series has a model row yet (its first bucket closed)."""
        return bool(self.row) or (self.holder is not None and self.holder.holds(self))

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, forecast=None, holder=None, packed_row=None)
        self.__dict__.setdefault("row", b"")
        self.__dict__.setdefault("alerts", [])
        self.__dict__.setdefault("mover", None)
        self.__dict__.setdefault("open_alert", None)
        self.__dict__.setdefault("written", -1)
        for name in ("bands", "reconciled", "live_open"):
            self.__dict__.setdefault(name, None)
        if self.reconciled is not None:  # an aggregate: its forecast is the reconciled one
            self.forecast = self.reconciled

    def actuals(self, width: int) -> list[list[float]]:
        """``[[bucket start, value], ...]`` of the kept closed buckets, oldest first."""
        if self.origin is None:
            return []
        first = shift(self.origin, -len(self.history), width)
        return [[t, v] for t, v in zip(starts(first, self.origin, width), self.history,
                                       strict=True)]


@dataclass
class PartitionState:
    """The partition's watermark, when each series with open buckets falls due, and how many
    series sell in each bucket (shop-wide closures and surges)."""

    clock: PartitionClock
    due: list[tuple[float, str]] = field(default_factory=list)  # heap of (due_at, series)
    queued: set[str] = field(default_factory=set)  # series with an entry in ``due``
    position: int = -1  # the last offset whose events the clock observed
    activity: ActivityMonitor | None = None  # set by the processor (it knows the bucket width)
    partials: Partials | None = None  # its sums for the aggregates (stream.aggregates)
    reported_until: int | None = None  # the aggregates' buckets before it were reported final
    # the end of the last bucket the watermark made due, and the offset of the message that
    # made it due: the version of the eager close's writes (stream.sweep), the same in any
    # replay of the partition
    due_until: int | None = None
    due_offset: int = -1
    # the settings the partition's state was made with (None: a state of an older worker)
    topic: str | None = None  # SALESCAST_EVENTS_TOPIC
    aggregate_by: str | None = None  # SALESCAST_AGGREGATE_BY
    topic_id: str | None = None  # the topic's Kafka id: a topic made again has another
    utc_offset: int | None = None  # SALESCAST_UTC_OFFSET: the clock its buckets are laid on
    #: (series, bucket) pairs counted as active again while the state caught up with its
    #: series (not saved: it only lives while a state read back behind them catches up)
    recounted: set[tuple[str, int]] = field(default_factory=set, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("recounted", None)
        return state

    def recount(self, activity: ActivityMonitor, series: str, bucket: int) -> None:
        """Count for ``activity`` an event its series applied before this state was saved
        (the state is saved after its series, so one read back after a crash or a rebalance
        can be behind them). Whether that series counted in ``bucket`` before is not known: it
        counts once per state read back (per 100,000 series-buckets), so at most twice, where
        missing it made busy days look like closures (a probe: 44 active series, not 73).

        >>> p, a = PartitionState(PartitionClock()), ActivityMonitor(86400)
        >>> for s in ("a", "a", "b"):
        ...     p.recount(a, s, 0)
        >>> a.active
        {0: 2}
        """
        if len(self.recounted) > 100_000:  # a catch-up this long starts the set again
            self.recounted.clear()
        key = (series, bucket)
        activity.count(bucket, key not in self.recounted)
        self.recounted.add(key)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__["recounted"] = set()
        self.__dict__.setdefault("topic", None)
        self.__dict__.setdefault("aggregate_by", None)
        self.__dict__.setdefault("topic_id", None)
        self.__dict__.setdefault("utc_offset", 0)  # made before the setting: UTC
        self.__dict__.setdefault("position", -1)
        self.__dict__.setdefault("activity", None)
        self.__dict__.setdefault("partials", None)
        self.__dict__.setdefault("reported_until", None)
        self.__dict__.setdefault("due_until", None)
        self.__dict__.setdefault("due_offset", -1)

    def claim(self, partition: int, topic: str, aggregate_by: str,
              topic_id: str | None = None) -> None:
        """Mark the state as made from ``topic`` (Kafka's id ``topic_id``, when known) with
        aggregates by ``aggregate_by`` (``none``: no aggregates);
        :class:`~stream.errors.SettingsChanged` when it was made with others.

        Its series remember the offsets they applied per partition number, so read from
        another topic every event looked like a redelivery and was dropped without a word;
        and the aggregates of another grouping mixed both groupings' children and learnt
        the gap of a run without aggregates as sales of 0 (a probe's findings). A topic
        deleted and made again under the same name (another id) numbers its events from 0
        again: every one looked applied, and a restarted worker dropped them all in silence.
        The clock (``models.grid.utc_offset``) is the process's: from +12:00 to -12:00 every
        bucket starts where it did, but each day is labelled a day earlier (a probe).

        >>> p = PartitionState(PartitionClock())
        >>> p.claim(0, "sales", "country"); p.claim(0, "sales", "country")
        >>> try:
        ...     p.claim(0, "sales2", "country")
        ... except SettingsChanged as exc:
        ...     print(str(exc)[:80])
        partition 0's state was read from topic 'sales' and this worker reads 'sales2' (
        """
        for name, was, now in (("topic", self.topic, topic),
                               ("aggregates", self.aggregate_by, aggregate_by),
                               ("id", self.topic_id, topic_id),
                               ("clock", self.utc_offset, utc_offset())):
            if was is not None and now is not None and was != now:
                what = {"topic": f"was read from topic {was!r} and this worker reads {now!r} "
                                 "(SALESCAST_EVENTS_TOPIC): set it back, or",
                        "aggregates": f"has aggregates by {was!r} and this worker's are by "
                                      f"{now!r} (SALESCAST_AGGREGATE_BY): set it back, or",
                        "id": f"was read from a topic {topic!r} that was deleted and created "
                              f"again since (Kafka's topic id {was}, now {now}): its events "
                              "are numbered anew, and the series' positions name the old ones;",
                        "clock": "was laid on the shop's clock {} and this worker's is {} "
                                 "(SALESCAST_UTC_OFFSET): set it back, or"}[name]
                if name == "clock":
                    what = what.format(offset_text(int(was)), offset_text(int(now)))
                raise SettingsChanged(
                    f"partition {partition}'s state {what} start a new SALESCAST_WORKER_ID "
                    "with an empty Redis (it reads the topic from its start)")
        self.topic, self.aggregate_by = topic, aggregate_by
        self.topic_id, self.utc_offset = topic_id or self.topic_id, utc_offset()

    def mark_due(self, lateness: int, width: int) -> None:
        """After the clock moved at message ``position``: note it if a new bucket fell due."""
        wm = self.clock.watermark
        if wm is not None:
            until = bucket_start(wm - lateness, width)  # the end of the last due, as close_due's
            if self.due_until is None or until > self.due_until:
                self.due_until, self.due_offset = until, self.position

    def schedule(self, series: str, due_at: float, earlier: bool = False) -> None:
        """Make sure ``series`` is looked at once the watermark reaches ``due_at``."""
        if series not in self.queued or earlier:
            heapq.heappush(self.due, (due_at, series))
            self.queued.add(series)


@dataclass
class BatchOutput:
    states: dict[str, Any] = field(default_factory=dict)
    writes: list[SeriesWrite] = field(default_factory=list)
    intents: dict[str, tuple[Any, int, bool]] = field(default_factory=dict)  # stream.writes
    dead: list[DeadLetter] = field(default_factory=list)
    # every bucket closed in this batch, in order: (series, bucket) (the buckets topic)
    buckets: list[tuple[str, ClosedBucket]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # anomaly alerts (JSON-ready)
    reports: list[bytes] = field(default_factory=list)  # the aggregates' sums, keyed by total
    # events found on another partition than their series': (series, event JSON to re-send)
    reroute: list[tuple[str, bytes]] = field(default_factory=list)
    # series -> how far its latest closed bucket was from its forecast (the top movers)
    movers: dict[str, dict[str, float]] = field(default_factory=dict)
    accepted: int = 0
    duplicates: int = 0  # redelivered messages a series had applied already (after a restart)
    duplicate_ids: int = 0  # events whose id the series had counted already (dead-lettered)
    closed: int = 0


def series_key(series: str) -> str:
    return f"s:{series}"


def partition_key(partition: int) -> str:
    return f"p:{partition}"


def raw_of(value: bytes, ev: SaleEvent, single: bool) -> bytes:
    """The bytes a dead letter of ``ev`` carries: the message, or its element re-serialised
    (built only for a rejected event, never on the accepted path)."""
    return value if single else ev.to_json()


def valid_indices(events: list[SaleEvent], rejected: list[Any]) -> list[int | None]:
    """Positions inside the envelope of its valid events (the rejected ones carry theirs)."""
    bad = {r.index for r in rejected}
    return [i for i in range(len(events) + len(rejected)) if i not in bad]


def rerouted(ev: SaleEvent, partition: int, offset: int, index: int | None) -> bytes:
    """The event to re-send keyed by its series: it names where it came from, and gets an id
    when it had none, so a copy sent twice (a crash before the commit) counts once."""
    origin = f"{partition}/{offset}/{'-' if index is None else index}"
    body = ev if ev.id is not None else SaleEvent(ev.series, ev.ts, ev.qty, ev.price,
                                                  f"@{origin}", ev.country)
    return body.to_json()[:-1] + b',"rerouted_from":"' + origin.encode() + b'"}'
