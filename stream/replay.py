"""Replay sale events into Kafka, in event-time order, as fast as possible or paced.

:func:`replay` publishes with an idempotent confluent-kafka producer (``acks=all``), one message
per event keyed by its series id, in the order given (callers pass events in time order).
``speed=k`` sends event time ``k`` times faster than it happened (``3600``: an hour of sales
per second); ``speed=None`` sends as fast as the broker takes them.

``envelope=N > 0`` packs ``N`` consecutive events into one message ``{"events": [...]}`` (the
wire format of :mod:`stream.records`). Its key is the series when all its events share one,
else none (the partitioner spreads keyless messages): consumers of envelopes get no per-series
partition affinity. Pacing then follows each envelope's last event.

The pacing math (:class:`Pacer`) and the encoding (:func:`encode_event`,
:func:`pack_envelope`) are pure and tested without a broker.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from stream.records import MAX_ENVELOPE_EVENTS, SaleEvent

__all__ = ["Pacer", "ReplaySummary", "encode_event", "pack_envelope", "producer_config", "replay"]

TICK = 2048  #: events between progress updates and producer polls
FLUSH_TIMEOUT = 60.0
_str = json.encoder.encode_basestring_ascii


def encode_event(e: SaleEvent) -> bytes:
    """The wire bytes of ``e``: the same as ``e.to_json()``, about 6x faster.

    >>> encode_event(SaleEvent("A", 10.0, 2, 1.5, id="x:0"))
    b'{"series":"A","ts":10.0,"qty":2,"price":1.5,"id":"x:0"}'
    """
    ts, qty, price = e.ts, e.qty, e.price
    if (
        type(ts) is float
        and type(price) is float
        and (type(qty) is int or type(qty) is float)
        and math.isfinite(ts + qty + price)
    ):  # repr is what json writes for these
        out = f'{{"series":{_str(e.series)},"ts":{ts!r},"qty":{qty!r},"price":{price!r}'
        if e.id is not None:
            out += f',"id":{_str(e.id)}'
        if e.country is not None:
            out += f',"country":{_str(e.country)}'
        return (out + "}").encode()
    return e.to_json()


def pack_envelope(events: list[SaleEvent]) -> tuple[str | None, bytes]:
    """``(key, value)`` of one envelope message; the key is the series if all share one.

    >>> pack_envelope([SaleEvent("A", 1.0, 1, 2.0), SaleEvent("A", 2.0, 1, 2.0)])[0]
    'A'
    >>> key, value = pack_envelope([SaleEvent("A", 1.0, 1, 2.0), SaleEvent("B", 2.0, 3, 1.0)])
    >>> key, value
    (None, b'{"events":[{"series":"A","ts":1.0,"qty":1,"price":2.0},{"series":"B","ts":2.0,"qty":3,"price":1.0}]}')
    """  # noqa: E501
    first = events[0].series
    key = first if all(e.series == first for e in events) else None
    return key, b'{"events":[' + b",".join(map(encode_event, events)) + b"]}"


def _messages(
    events: Iterable[SaleEvent], envelope: int
) -> Iterator[tuple[str | None, bytes, float, int]]:
    """``(key, value, pacing ts, events in it)`` of each message to send."""
    if not envelope:
        for e in events:
            yield e.series, encode_event(e), e.ts, 1
        return
    it = iter(events)
    while chunk := list(islice(it, envelope)):
        key, value = pack_envelope(chunk)
        yield key, value, chunk[-1].ts, len(chunk)


@dataclass
class Pacer:
    """Maps event time to wall time: the first event is due at once, event ``ts`` is due
    ``(ts - first ts) / speed`` wall seconds later. Quiet stretches longer than ``max_idle``
    wall seconds are cut to ``max_idle``.

    >>> p = Pacer(speed=3600)
    >>> p.due(1000.0, now=50.0), p.due(1000.0 + 7200, now=50.5)  # 2 h of events -> 2 s
    (50.0, 52.0)
    >>> p = Pacer(speed=3600, max_idle=1.0)
    >>> p.due(0.0, now=0.0), p.due(86400.0, now=0.0), p.due(90000.0, now=0.0)
    (0.0, 1.0, 2.0)
    """

    speed: float
    max_idle: float | None = None
    _origin: tuple[float, float] | None = field(default=None, init=False, repr=False)
    _last: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"speed must be > 0, got {self.speed!r}")
        if self.max_idle is not None and self.max_idle < 0:
            raise ValueError(f"max_idle must be >= 0, got {self.max_idle!r}")

    def due(self, ts: float, now: float) -> float:
        """Wall-clock time (same clock as ``now``) at which the event at ``ts`` is due."""
        if self._origin is None:
            self._origin, self._last = (ts, now), ts
            return now
        ts0, wall0 = self._origin
        gap = (ts - self._last) / self.speed
        if self.max_idle is not None and gap > self.max_idle:
            ts0 += (gap - self.max_idle) * self.speed
            self._origin = (ts0, wall0)
        self._last = max(self._last, ts)
        return wall0 + (ts - ts0) / self.speed


@dataclass(frozen=True)
class ReplaySummary:
    """What a replay did. ``failed`` counts events whose delivery failed or was not confirmed
    when the final flush timed out."""

    sent: int
    failed: int
    messages: int
    seconds: float
    interrupted: bool = False

    @property
    def delivered(self) -> int:
        return self.sent - self.failed

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        head = "replay interrupted" if self.interrupted else "replay done"
        return (
            f"{head}: {self.sent:,} events in {self.messages:,} messages, "
            f"{self.failed:,} failed, {self.seconds:.1f} s, {self.rate:,.0f} events/s"
        )


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """Idempotent, ``acks=all``, lz4 producer settings; delivery reports only for errors.

    >>> producer_config("k:9092", **{"compression.type": "none"})["compression.type"]
    'none'
    """
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "compression.type": "lz4",
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 500_000,
        "delivery.report.only.error": True,
        **overrides,
    }


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} ev/s", style="progress.data.speed")


def replay(
    events: Iterable[SaleEvent],
    bootstrap: str,
    topic: str,
    speed: float | None = None,
    total: int | None = None,
    progress: bool = True,
    envelope: int = 0,
    *,
    max_idle: float | None = None,
    config: dict[str, Any] | None = None,
) -> ReplaySummary:
    """Publish ``events`` to ``topic`` and return a summary (printed too when ``progress``).

    ``total`` (events) sizes the progress bar; ``max_idle`` caps paced waits (see
    :class:`Pacer`); ``config`` overrides producer settings. Ctrl-C stops sending, flushes and
    returns a summary with ``interrupted=True``.
    """
    if not 0 <= envelope <= MAX_ENVELOPE_EVENTS:
        raise ValueError(f"envelope must be in 0..{MAX_ENVELOPE_EVENTS}, got {envelope}")
    pacer = Pacer(speed, max_idle) if speed is not None else None
    failed = [0]

    def on_error(n: int, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failed[0] += n

    settings = {"on_delivery": partial(on_error, 1), **(config or {})}
    producer = Producer(producer_config(bootstrap, **settings))

    produce, poll, clock = producer.produce, producer.poll, time.monotonic
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    sent = messages = 0
    interrupted = False
    started = clock()
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task(f"replay -> {topic}", total=total)
        next_tick = TICK
        try:
            for key, value, ts, n in _messages(events, envelope):
                if pacer is not None:
                    due = pacer.due(ts, clock())
                    while (left := due - clock()) > 0.0005:
                        poll(min(left, 0.1))
                        bar.update(task, completed=sent)
                while True:
                    try:
                        if n == 1:
                            produce(topic, value, key)
                        else:
                            produce(topic, value, key, on_delivery=partial(on_error, n))
                        break
                    except BufferError:
                        poll(0.05)
                sent += n
                messages += 1
                if sent >= next_tick:
                    next_tick = sent + TICK
                    poll(0)
                    bar.update(task, completed=sent)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            left_over = producer.flush(FLUSH_TIMEOUT)
            failed[0] += left_over * (envelope or 1)
            bar.update(task, completed=sent)
    summary = ReplaySummary(sent, min(failed[0], sent), messages, clock() - started, interrupted)
    if progress:
        bar.console.print(str(summary))
    return summary
