"""Faust's view of one topic's offsets, for :mod:`stream.continuity` (thin glue).

Reads the consumer's own bookkeeping (committed offsets, the gaps it saw while fetching), asks
Kafka for the log's start and end, and seeks a partition back.

A partition whose last offsets hold no record the worker reads (the commit or abort marker a
transactional producer writes after each transaction, aborted records) looked stalled for
good: the worker sought it back every 5 s, forever, with a warning (a probe's finding).
Before it seeks, it asks the broker (:func:`readable`) whether the offsets left hold a record.

Retention can delete what a stopped (or far behind) worker group had not read: its committed
offset falls below the log's start, and reading goes on from the start. That loss was silent
(a probe's finding: 1,500 events gone, one INFO line of the Kafka client); :meth:`committed`
now says it once, with the offsets lost, and counts them (``lost``: the worker's ops figure
``lost_messages``). A running worker whose unread offsets were deleted (it was frozen, or far
behind) saw a hole at its next offset, sought back to it, was reset past it by the Kafka
client, and never applied that partition again; :meth:`seek_back` now asks for the log's
start first, and a hole below it is that loss, said, and read on from the start. When the
Kafka client's reset reached the agent as a gap in the log (Faust files it with transaction
markers, :meth:`known_gap`), it was taken in silence: each gap taken is checked against the
log's start by the stall watch, and one below it is that loss too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka.errors import KafkaError

from config import Settings

__all__ = ["TopicOffsets", "events_partitions", "readable"]

log = logging.getLogger("salescast.worker")

#: seconds a commit under way holds the stall watch back at most (one stuck waiting for the
#: changelog, stream.commits.CHANGELOG_ACK_TIMEOUT, must not hide a stalled partition)
COMMIT_PATIENCE_S = 30.0


class TopicOffsets:
    """The events topic's partitions as the worker's Faust consumer sees them."""

    def __init__(self, app: Any, topic: str, bootstrap: str | None = None) -> None:
        self.app = app
        self.lost = 0  # messages retention deleted before this group read them
        self._told: set[tuple[int, int]] = set()  # (partition, log start) losses said
        self._gaps: set[tuple[int, int, int]] = set()  # gaps taken, not yet checked
        self.topic = topic
        self.bootstrap = bootstrap  # to ask whether unread offsets hold a record (None: no)
        self.reseeks = 0
        self._earliest: dict[int, int] = {}  # per assignment: retention moves it rarely
        self._bare: dict[int, tuple[int, int]] = {}  # partition -> offsets with no record
        self._committing_at = 0.0  # monotonic time a commit was last seen under way
        self._commit: tuple[object, float] = (None, 0.0)  # that commit, and since when
        self.kafka_away = False  # the last look at the offsets failed (Kafka unreachable)

    @property
    def consumer(self) -> Any:  # Faust's consumer, with its private offset bookkeeping
        return self.app.consumer

    def tp(self, partition: int) -> Any:
        return self.consumer._new_topicpartition(self.topic, partition)

    def assigned(self) -> list[Any]:
        return [tp for tp in self.consumer.assignment() if tp.topic == self.topic]

    def known_gap(self, partition: int, start: int, end: int) -> bool:
        """Offsets start..end-1 were absent when Faust fetched (its own gap bookkeeping)."""
        tree = self.consumer._gap.get(self.tp(partition))
        known = bool(tree) and all(tree.overlaps_point(o) for o in range(start, end))
        if known and end - start > 1:  # not a transaction's marker: retention? (check_gaps)
            self._gaps.add((partition, start, end))
        return known

    async def check_gaps(self) -> None:
        """Say the loss of each gap taken (:meth:`known_gap`) that retention made: its offsets
        are below the log's start (asked again)."""
        gaps, self._gaps = self._gaps, set()
        for partition in {p for p, _, _ in gaps}:
            self._earliest.pop(partition, None)
        for partition, first, end in sorted(gaps):
            if first < (start := await self.earliest(partition)):
                self._deleted(partition, first, min(end, start))

    async def committed(self, partition: int) -> int:
        """The committed offset (the next to read), raised to the log's start when retention
        deleted it. Read when the partition is owned, so after Faust sought it back to its
        committed offset: Faust knows none (``None``, which it also makes of a committed 0)
        only when nothing was committed, and then reading starts at the log's start."""
        committed = self.consumer._committed_offset.get(self.tp(partition))
        start = await self.earliest(partition)
        if committed and committed < start:
            self._deleted(partition, committed, start)
        return max(int(committed or 0), start)

    def _deleted(self, partition: int, first: int, start: int) -> None:
        """Offsets ``first..start-1`` were deleted before they were read: say it (once)."""
        if (partition, start) in self._told:
            return
        self._told.add((partition, start))
        self.lost += start - first
        log.warning("partition %d of %s: offsets %d..%d were deleted (retention) before this "
                    "worker group read them: %d messages lost; reading on from %d",
                    partition, self.topic, first, start - 1, start - first, start)

    async def earliest(self, partition: int) -> int:
        """The log's start offset (asked once per partition and assignment)."""
        if partition not in self._earliest:
            tp = self.tp(partition)
            self._earliest[partition] = int(
                (await self.consumer.earliest_offsets(tp)).get(tp) or 0)
        return self._earliest[partition]

    def forget(self) -> None:
        """Partitions were revoked (a loss said stays said: ``_told`` names its log start)."""
        self._earliest.clear()

    async def ends(self, tps: list[Any]) -> dict[Any, int]:
        """The log-end offset (the next to be written) of each partition."""
        return dict(await self.consumer.highwaters(*tps))

    async def resume_stalled(self, ownership: Any, continuity: Any, progressed: dict[int, float],
                             idle: Callable[[], bool], stall_s: float) -> None:
        """:meth:`watch` once; while Kafka does not answer, a warning the first time and
        nothing more (raised in the worker's timer, a KafkaTimeoutError ended the worker 90 s
        into an outage of the broker: a probe's finding)."""
        try:
            await self.check_gaps()
            await self.watch(ownership, continuity, progressed, idle, stall_s)
        except (KafkaError, ConnectionError, TimeoutError) as exc:
            if not self.kafka_away:
                log.warning("the stall watch cannot read the events topic's offsets (%s): "
                            "it tries again every second", exc)
            self.kafka_away = True
        else:
            self.kafka_away = False

    async def watch(self, ownership: Any, continuity: Any, progressed: dict[int, float],
                    idle: Callable[[], bool], stall_s: float) -> None:
        """Seek back the partitions skipped before the assignment ended
        (``ownership.to_resend``), and (again every ``stall_s``) one with unread offsets that
        applies none while nothing else is applied (``progressed``: partition -> monotonic
        time it last applied a message): when every message fetched for a partition was
        dropped, no later batch shows the hole (:mod:`stream.continuity`), and when a seek
        back did not take, only progress tells. Nothing while a batch is under way (``idle``)."""
        if not idle():
            return
        now = time.monotonic()
        commit = getattr(self.consumer, "_commit_fut", None)
        if commit is not None and commit is not self._commit[0]:
            self._commit = (commit, now)
        if commit is not None and now - self._commit[1] < COMMIT_PATIENCE_S:
            # a commit is under way: Faust's fetch loop awaits the commit it makes every
            # 10,000 messages, so nothing reaches the agent meanwhile, and at a 100k-series
            # day close (commits of seconds) partitions were sought back for that, records
            # thrown away and fetched again, with a warning each
            self._committing_at = now
            return
        resend = ownership.to_resend()
        try:
            for tp in resend:
                nxt = continuity.expected(tp.partition)
                await self.seek_back(tp.partition, await self.committed(tp.partition)
                                     if nxt is None else nxt, "fetched before the assignment",
                                     logging.INFO)  # every start and rebalance: not a fault
        except BaseException:  # Kafka away (below): every one of them again next time
            ownership.again(resend)
            raise
        if now - max(*progressed.values(), self._committing_at, 0.0) < 1.0:
            return  # busy applying other partitions: this one may only be waiting its turn
        # only the partitions the agent owns: a worker frozen past its session (SIGSTOP, a
        # long pause) still lists its old assignment until the group takes it back
        stale = [tp for tp in self.assigned() if tp in ownership.tps and now - max(
            progressed.setdefault(tp.partition, now), self._committing_at) > stall_s]
        if not stale:
            return
        ends = await self.ends(stale)
        for tp in stale:
            nxt = continuity.expected(tp.partition)
            if nxt is None:
                nxt = await self.committed(tp.partition)
            end = ends.get(tp)
            if end is not None and end > nxt and idle():
                if await self._bare_range(tp.partition, nxt, end):
                    continue
                progressed[tp.partition] = now
                await self.seek_back(tp.partition, nxt, f"offsets {nxt}..{end - 1} unread, "
                                     f"none applied for {stall_s:.0f} s ({self.describe(tp)})")

    async def _bare_range(self, partition: int, start: int, end: int) -> bool:
        """Whether offsets ``start..end-1`` hold no record to read (markers, aborted or still
        open transactions), as the broker says once per such range."""
        if self._bare.get(partition) == (start, end):
            return True
        if self.bootstrap is None or await asyncio.to_thread(
                readable, self.bootstrap, self.topic, partition, start, end):
            return False
        self._bare[partition] = (start, end)
        log.info("partition %d: offsets %d..%d hold no record to read (transaction markers, "
                 "aborted or open transactions): nothing to seek", partition, start, end - 1)
        return True

    def describe(self, tp: Any) -> str:
        """Where Faust and aiokafka stand with ``tp``, for the log of a stall: whether Faust
        fetches it (active, not paused nor held back by a full stream buffer), its read offset
        (the last it handed out, or a seek's), and aiokafka's position and records held."""
        c = self.consumer
        try:  # private bookkeeping (aiokafka's in Faust's consumer thread, read without a lock)
            kafka = c._thread._ensure_consumer()
            state = kafka._subscription.subscription.assignment.state_value(tp)
            held = kafka._fetcher._records.get(tp)
            return (f"faust: active={tp in (c._active_partitions or ())} "
                    f"paused={tp in c._paused_partitions} "
                    f"buffered={tp in c._buffered_partitions} flow={c.flow_active} "
                    f"read={c._read_offset.get(tp)}; aiokafka: {state!r} paused={state.paused} "
                    f"held={type(held).__name__ if held is not None else None}")
        except Exception as exc:  # noqa: BLE001 - a log line must not fail the recovery
            return f"state unknown: {exc!r}"

    def dropped(self, tp: Any) -> str:
        """``" (dropped before the agent: why=count, ...)"`` for the records of ``tp`` dropped
        before the agent applied them (:class:`stream.transport.Consumer` ``drops``, and the
        agent's skips while it did not own the partition: the app's ownership ``unowned``),
        or ``""``: the evidence of a seek's log line."""
        drops = dict(getattr(self.consumer, "drops", {}))
        drops["not owned", tp] = getattr(getattr(self.app, "ownership", None), "unowned",
                                         {}).get(tp, 0)
        counts = [f"{why}={n}" for (why, at), n in sorted(drops.items(), key=str)
                  if at == tp and n]
        return f" (dropped before the agent: {', '.join(counts)})" if counts else ""

    async def seek_back(self, partition: int, offset: int, why: str,
                        level: int = logging.WARNING) -> None:
        tp = self.tp(partition)
        self._earliest.pop(partition, None)  # asked again: retention may have moved it
        if offset < (start := await self.earliest(partition)):  # deleted, not dropped:
            self._deleted(partition, offset, start)  # what was refused after the hole comes
            offset = start  # again from the log's start
        else:
            log.log(level, "partition %d: %s; seeking back to offset %d%s", partition, why,
                    offset, self.dropped(tp))
        self.reseeks += 1
        await self.consumer.seek(tp, offset)


def events_partitions(settings: Settings) -> int:
    """The events topic's partition count (the settings' when the topic does not exist yet)."""
    from confluent_kafka.admin import AdminClient

    try:
        # every topic's metadata: naming the topic would create it on a broker with
        # auto.create.topics.enable, with the broker's partition count
        meta = AdminClient({"bootstrap.servers": settings.kafka, "log_level": 0}).list_topics(
            timeout=10)
        topic = meta.topics.get(settings.events_topic)
        if topic is not None and topic.error is None and topic.partitions:
            return len(topic.partitions)
    except Exception as exc:  # noqa: BLE001 - a missing topic is created with the settings
        log.warning("cannot read the partitions of %s (%r); using %d",
                    settings.events_topic, exc, settings.partitions)
    return settings.partitions


def readable(bootstrap: str, topic: str, partition: int, start: int, end: int,
             timeout: float = 10.0) -> bool:
    """Whether offsets ``start..end-1`` of ``topic``'s ``partition`` hold a record that a
    ``read_committed`` consumer reads now; True when the broker does not say within
    ``timeout`` (the caller then seeks back, as for a record dropped in fetching)."""
    from infra.kafka_client import committed_reach

    reach = committed_reach(bootstrap, topic, partition, start, timeout)
    return reach is None or (reach.record and reach.offset < end)
