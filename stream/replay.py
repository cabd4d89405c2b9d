"""Replay sale events into Kafka, in event-time order, as fast as possible or paced.

:func:`replay` publishes with an idempotent confluent-kafka producer (``acks=all``), one message
per event keyed by its series id, in the order given (callers pass events in time order).
``speed=k`` sends event time ``k`` times faster than it happened (``3600``: an hour of sales
per second); ``speed=None`` sends as fast as the broker takes them.

Every event goes to its series' partition, :func:`stream.partitioning.partition_for` (the Java
client's murmur2): single events through the key and the producer's ``partitioner``
(:data:`~stream.partitioning.PRODUCER_PARTITIONER`, named in :func:`producer_config` because
librdkafka's default hashes differently), envelopes through an explicit partition.

``envelope=N > 0`` packs events into messages ``{"events": [...]}`` (the wire format of
:mod:`contracts.events`) per partition (:mod:`stream.envelopes`): one pending buffer per
partition, sent when it holds ``N`` events, and every buffer at the end. When paced, a buffer
is also sent once its oldest event is :data:`MAX_ENVELOPE_DELAY` wall seconds old, so a quiet
partition does not hold its events back. An envelope's key is its series when all its events
share one, else none; its partition is explicit either way. Events of one series keep their
order (one partition, one buffer). Pacing follows each envelope's last event. The number of
partitions is read from the topic's metadata: the topic must exist.

The pacing math (:class:`Pacer`), the encoding and the grouping (:mod:`stream.envelopes`) are
pure and tested without a broker.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
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

from config import ConfigError
from contracts.events import MAX_ENVELOPE_EVENTS, SaleEvent
from infra.kafka_client import error_text, unreachable
from stream.envelopes import encode_event, group_envelopes, pack_envelope
from stream.errors import StreamError
from stream.partitioning import PRODUCER_PARTITIONER

__all__ = ["Pacer", "ReplayError", "ReplaySummary", "producer_config", "replay",
           "topic_partitions"]

TICK = 2048  #: events between progress updates and producer polls
FLUSH_TIMEOUT = 60.0
METADATA_TIMEOUT = 10.0
#: when paced, the longest an event waits in an envelope buffer (wall seconds)
MAX_ENVELOPE_DELAY = 0.5
def _messages(
    events: Iterable[SaleEvent], envelope: int, partitions: int, max_span: float | None = None
) -> Iterator[tuple[int | None, str | None, bytes, float, int]]:
    """``(partition or None: the key's, key, value, pacing ts, events in it)`` of each message."""
    if not envelope:
        for e in events:
            yield None, e.series, encode_event(e), e.ts, 1
        return
    for p, chunk in group_envelopes(events, envelope, partitions, max_span):
        key, value = pack_envelope(chunk)
        yield p, key, value, chunk[-1].ts, len(chunk)


class ReplayError(StreamError, ConfigError):
    """The target topic cannot be used (missing, or Kafka does not answer)."""


def topic_partitions(producer: Producer, topic: str, timeout: float = METADATA_TIMEOUT) -> int:
    """How many partitions ``topic`` has; :class:`ReplayError` when it does not exist (after
    ``timeout`` seconds: a topic just created takes a moment to reach every broker's metadata).

    The whole cluster's metadata is asked for: a request naming the topic would make a broker
    with ``auto.create.topics.enable`` create it with its default partition count.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            meta = producer.list_topics(timeout=max(deadline - time.monotonic(), 0.1))
        except KafkaException as exc:
            raise ReplayError(f"kafka does not answer: {error_text(exc)}") from None
        info = meta.topics.get(topic)
        if info is not None and info.error is None and info.partitions:
            return len(info.partitions)
        if time.monotonic() >= deadline:
            why = info.error if info is not None and info.error is not None else "does not exist"
            raise ReplayError(f"topic {topic!r}: {why} (create it first, e.g. `salescast "
                              f"services up` or kafka-topics.sh --create)")
        time.sleep(0.2)


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
    """Idempotent, ``acks=all``, lz4 producer settings; delivery reports only for errors; keys
    hashed like the Java client (``partitioner``, see :mod:`stream.partitioning`).

    >>> producer_config("k:9092", **{"compression.type": "none"})["compression.type"]
    'none'
    >>> producer_config("k:9092")["partitioner"]
    'murmur2_random'
    """
    return {
        "bootstrap.servers": bootstrap,
        "partitioner": PRODUCER_PARTITIONER,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "compression.type": "lz4",
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 500_000,
        "delivery.report.only.error": True,
        "log_level": 3,  # errors only: a fresh broker's "Coordinator load in progress:
        # retrying" warnings reached the demo's screen (a failed delivery is counted anyway)
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
    :class:`Pacer`); ``config`` overrides producer settings. Raises :class:`ReplayError` when
    ``topic`` does not exist or Kafka does not answer. Ctrl-C stops sending, flushes and
    returns a summary with ``interrupted=True`` (events still in envelope buffers are neither
    sent nor counted).
    """
    if not 0 <= envelope <= MAX_ENVELOPE_EVENTS:
        raise ValueError(f"envelope must be in 0..{MAX_ENVELOPE_EVENTS}, got {envelope}")
    pacer = Pacer(speed, max_idle) if speed is not None else None
    failed = [0]

    def on_error(n: int, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failed[0] += n

    settings = {"on_delivery": partial(on_error, 1), **(config or {})}
    if (why := unreachable(bootstrap)) is not None:  # at once, not after the client's retries
        raise ReplayError(why)
    producer = Producer(producer_config(bootstrap, **settings))
    partitions = topic_partitions(producer, topic)
    max_span = speed * MAX_ENVELOPE_DELAY if speed is not None else None

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
            for part, key, value, ts, n in _messages(events, envelope, partitions, max_span):
                if pacer is not None:
                    due = pacer.due(ts, clock())
                    while (left := due - clock()) > 0.0005:
                        poll(min(left, 0.1))
                        bar.update(task, completed=sent)
                while True:
                    try:
                        if part is None:
                            produce(topic, value, key)
                        else:
                            produce(topic, value, key, partition=part,
                                    on_delivery=partial(on_error, n))
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
