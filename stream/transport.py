"""The worker's Kafka transport: Faust's aiokafka driver with a short broker fetch wait.

faust-streaming builds the worker's :class:`aiokafka.AIOKafkaConsumer`
(``AIOKafkaConsumerThread._create_worker_consumer``) with ``fetch_max_wait_ms=1500``
hard-coded, no setting reaches it: the broker held each fetch of a quiet partition up to
1.5 s, and the event-to-Redis latency p50 was ~790 ms at 500 events/s (docs/benchmarks.md).

The broker answers a fetch once it holds :data:`FETCH_MIN_BYTES` for it, or after
:data:`FETCH_MAX_WAIT_MS`. aiokafka asks for 1 byte: at a steady 2,000 events/s of
single-event messages every few produced messages then made a fetch of their own, and the
worker's consumer thread (19% of a core) and the broker (up to a core, with the producer's
small requests) took the CPU the worker's batches needed on this 2-core machine; waiting for
16 KB or 20 ms, whichever comes first, makes fetches of ~50 messages, and bounds what a
partition left out of a fetch in flight waits for the next one (aiokafka keeps one fetch in
flight per broker) to 20 ms (docs/benchmarks.md, "Latency, 2026-12-06, third").

The classes here lower it through Faust's own extension points, with nothing patched (and the
consumer commits by the rules of :mod:`stream.commits`, and files the log's gaps by those of
:mod:`stream.log_gaps`): :class:`Transport` names its consumer class, :class:`Consumer` makes
its consumer thread, and :class:`ConsumerThread` sets the wait on the aiokafka consumer it
creates, before that consumer starts (aiokafka hands it to its fetcher in ``start()``).
:func:`stream.app.create_app` gives every app this transport.
``tests/unit/stream/test_transport.py`` fails if Faust or aiokafka renames what this relies on
or the wait and the size stop reaching the fetcher.

Each fetched message is delivered without tasks when its delivery needs no wait. Faust's
``Consumer._drain_messages`` awaits ``self.wait_first(callback(message), ...)`` for every
message, and mode's ``wait_first`` makes four tasks for it: ~39 us a message, docs/benchmarks.md.
:meth:`Consumer.wait_first` runs the delivery's first step at once (:mod:`stream.eager`); when
that finishes it, it is the only winner mode could have found. A delivery that waits (a full
stream queue, the producer's buffer, flow control) races the suspension in mode's way.

A seek runs in the consumer thread. Faust's ``ThreadDelegateConsumer._seek`` calls the aiokafka
consumer from the caller's thread, and aiokafka's ``Fetcher.seek_to`` drops the partition's
fetched records while the consumer thread may be draining them (``fetched_records``): the
worker crashed with ``KeyError: TopicPartition(...)`` in the fetcher when its stall recovery
(:mod:`stream.offsets`) sought back during a demo replay (as robinhood/aiokafka#19 reports).

The records a seek overtook are dropped (:class:`stream.fence.SeekFence`). Faust's
``_drain_messages`` goes on handing out the fetch it holds after the agent seeks a partition
back (a hole, :mod:`stream.continuity`): its next old record is then far past the read offset
the seek set, so Faust files the offsets between as a gap in the log (``_add_gap``; they
exist), reads the refetched ones as already read and drops them, and commits over its gaps
(``Consumer._new_offset``), where :func:`stream.commits.new_offset` cannot guard.
What is stale is decided where aiokafka's fetcher runs: the consumer thread runs its calls on
two workers (mode's ``MethodQueue``), so a seek runs while a fetch waits for records, and that
fetch then returns the records refetched from the new position. Judged by when the fetch began,
they were dropped too, aiokafka's position had passed them, and an idle partition sought back
that way stalled for good: every seek back of the stall recovery (:mod:`stream.offsets`) met a
fetch waiting (measured: "offsets 2260..2322 unread" with aiokafka at 2323; two CI runs failed
on it). So the thread marks each fetch's records with the seeks it had done when it drained
them. And Faust's read offset (below which its ``_drain_messages`` drops a record as already
read) becomes the seek's offset as the first record fetched after the seek is handed out, not
when the seek returns, as in Faust's ``seek``: by then a record of the new position may have
been handed out already (and dropped as read), and a record of the old position still being
delivered may yet write its own offset over the seek's. :meth:`Consumer.getmany` hands out
records one at a time to a drain that delivers each before it asks for the next, so at the
first record after the seek every earlier one is delivered and no later one has been read.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiokafka
from faust.transport.consumer import ensure_TP
from faust.transport.drivers import aiokafka as driver
from mode.services import WaitResults

from stream import commits, eager, log_gaps
from stream.committed import seek_to_committed, settle
from stream.fence import Fetched, SeekFence

__all__ = ["FETCH_MAX_WAIT_MS", "FETCH_MIN_BYTES", "ISOLATION", "Consumer", "ConsumerThread",
           "Transport"]

#: how long (ms) the broker may hold a fetch request that has too little data (Faust: 1500)
FETCH_MAX_WAIT_MS = 20
#: how much data (bytes) the broker waits for before it answers a fetch (aiokafka: 1)
FETCH_MIN_BYTES = 16_384
#: the records the worker reads: those of committed transactions (and every non-transactional
#: one); an open transaction holds its partition at the last stable offset until it ends
ISOLATION = "read_committed"


class ConsumerThread(driver.AIOKafkaConsumerThread):
    """Faust's consumer thread; its aiokafka consumer fetches 16 KB or waits at most 20 ms,
    and reads only committed records: a transactional producer's aborted events are not sales
    (Faust reads them outside its exactly-once mode, and a probe's were counted)."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts
        consumer._fetch_min_bytes = FETCH_MIN_BYTES
        consumer._isolation_level = ISOLATION
        return consumer

    async def _fetch_records(self, consumer: aiokafka.AIOKafkaConsumer, active_partitions: Any,
                             timeout: float | None = None,
                             max_records: int | None = None) -> Fetched:
        """Faust's fetch, its records marked with the seeks done when aiokafka handed them out
        (no await between the two, and seeks are done in this thread: a record drained from
        the old position carries a mark below its seek's number)."""
        records = await super()._fetch_records(consumer, active_partitions, timeout=timeout,
                                               max_records=max_records)
        return Fetched(records, self.fence.mark())

    async def seek_to_committed_in_thread(self, numbers: dict[Any, int]) -> Any:
        return await seek_to_committed(self._ensure_consumer(), self.fence, numbers)

    async def seek_in_thread(self, partition: Any, offset: int, number: int = 0) -> None:
        """``seek``, for :meth:`call_thread` (run in this thread's event loop); ``number`` is
        the seek's :meth:`SeekFence.ask`."""
        try:
            self.seek(partition, offset)
        finally:
            self.fence.done(partition, number)

    @property
    def fence(self) -> SeekFence:
        """The worker consumer's fence (:class:`Consumer`)."""
        consumer = self.consumer
        assert isinstance(consumer, Consumer)
        return consumer.fence


class Consumer(driver.Consumer):
    """Faust's aiokafka consumer, running :class:`ConsumerThread`, committing by the rules of
    :mod:`stream.commits`, and telling whether it is handing out the records of a fetch
    (``delivering``; ``on_round_end`` is called once it handed out all of them): a batch of
    the agent closes when the stream has caught up (:mod:`stream.batching`)."""

    delivering = False
    on_round_end: Callable[[], None] | None = None
    #: gives the batch gate back: set while a commit holds it (:meth:`force_commit`)
    _release: Callable[[], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.fence = SeekFence()  # before Faust makes the consumer thread, which uses it
        super().__init__(*args, **kwargs)
        self._fetch_mark: dict[Any, int] | None = None
        #: per partition, its last seek not yet followed by a record: (number, offset)
        self._rewind: dict[Any, tuple[int, int]] = {}
        #: fetched records dropped before the agent, by (why, topic partition): the stall
        #: warning's evidence (:mod:`stream.offsets`)
        self.drops: Counter[tuple[str, Any]] = Counter()
        #: what the group has committed, as Kafka said, and revokes and assignments so far
        self.confirmed: dict[Any, int | None] = {}  # (:mod:`stream.committed`)
        self.assignments = 0

    async def _wait_next_records(self, timeout: float) -> Any:
        records, active = await super()._wait_next_records(timeout)
        self.delivering, self._fetch_mark = bool(records), getattr(records, "mark", None)
        return records, active

    async def getmany(self, timeout: float) -> AsyncIterator[Any]:
        try:
            async for tp, message in super().getmany(timeout):
                mark = self._fetch_mark
                if self.fence.stale(tp, mark):
                    self.drops["fenced", tp] += 1
                    continue  # a seek refetches it
                if self._rewind:
                    self._rewound(tp, mark, message.offset)
                yield tp, message
        finally:
            if self.delivering:
                self.delivering = False
                if self.on_round_end is not None:
                    self.on_round_end()

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _commit(self, offsets: Any) -> bool:
        if not await commits.changelog_written(self.app):
            return False
        return bool(await super()._commit(offsets))

    async def force_commit(self, *args: Any, **kwargs: Any) -> bool:
        release = await commits.ready_to_commit(self.app)
        if release is None:
            return False
        self._release = release  # no batch starts until the states are flushed and the
        try:  # offsets chosen (Faust does both first, without an await: _commit_offsets)
            return bool(await super().force_commit(*args, **kwargs))
        finally:
            self._release = None
            release()

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        if self._release is not None:  # batches run again while the producer flushes and
            self._release()  # the changelog and Kafka acknowledge (a soak: held 80 s)
        assignments = self.assignments
        done = bool(await super()._commit_offsets(offsets, start_new_transaction))
        return settle(self, offsets, done, moved=self.assignments != assignments)

    def _new_offset(self, tp: Any) -> int | None:
        return commits.new_offset(self, tp)

    def _rewound(self, tp: Any, mark: dict[Any, int] | None, offset: int) -> None:
        """A record of ``tp`` at ``offset``, drained at ``mark``, is handed out: the first
        after its partition's last seek sets Faust's read offset to the seek's (see the module
        doc), and files the offsets it skipped as a gap (markers: :mod:`stream.log_gaps`)."""
        pending = self._rewind.get(tp)
        if pending is not None and mark is not None and self.fence.after(tp, mark, pending[0]):
            del self._rewind[tp]
            self._read_offset[tp] = pending[1] if pending[1] else None  # as Faust's seek
            log_gaps.after_seek(self._gap, tp, pending[1], offset)

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        log_gaps.add_gap(self._gap, self._committed_offset, tp, offset_from, offset_to)

    async def seek(self, partition: Any, offset: int) -> None:
        """Faust's ``seek``, but Faust's read offset becomes ``offset`` as the first record
        fetched after the seek is handed out, not when the seek returns (see the module
        doc)."""
        await self._seek(partition, offset)

    async def _seek(self, partition: Any, offset: int) -> None:
        """Seek in the consumer thread, where aiokafka's fetcher runs; the records drained
        before the seek is done are dropped (see the module doc). A seek that fails leaves
        Faust's read offset as it was."""
        tp = ensure_TP(partition)
        number = self.fence.ask(partition)
        self._rewind[tp] = (number, offset)
        thread = self._thread
        assert isinstance(thread, ConsumerThread)
        try:
            await thread.call_thread(thread.seek_in_thread, partition, offset, number)
        except BaseException:
            self.fence.done(partition, number)
            if self._rewind.get(tp, (0, 0))[0] == number:
                del self._rewind[tp]
            raise

    async def perform_seek(self) -> None:
        """Faust's seek of every partition to its committed offset, which sets the read
        offsets itself: no earlier seek's offset is applied after it."""
        self._rewind.clear()
        await super().perform_seek()

    async def seek_to_committed(self) -> Any:
        """Faust's seek to the committed offsets (an assignment's), fenced as the agent's are
        (records fetched before it filed existing offsets as a gap, committed over: a probe's
        broker blackhole past the session lost them); what it read is ``confirmed``."""
        thread, self.assignments = self._thread, self.assignments + 1
        assert isinstance(thread, ConsumerThread)
        numbers: dict[Any, int] = {}
        committed = await thread.call_thread(thread.seek_to_committed_in_thread, numbers)
        self.confirmed.update({ensure_TP(tp): o or None for tp, o in committed.items()})  # as Faust
        for tp, number in numbers.items():  # (a first record past it: a gap, _rewound)
            self._rewind[ensure_TP(tp)] = (number, committed[tp])
        return committed

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.assignments += 1
        for tp in revoked:
            self._rewind.pop(tp, None)
            self.confirmed.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        """mode's ``Service.wait_first``, with no task made when the first coroutine finishes
        at once (:mod:`stream.eager`). Faust's ``_drain_messages`` calls it for every message
        with the message's delivery and the flow suspension; a delivery that finishes at once
        is then the only winner, as mode would find, since the consumer is neither stopped,
        crashed nor suspended."""
        first = coros[0] if coros else None
        if asyncio.iscoroutine(first) and not (
                self.should_stop or self._crashed.is_set() or self.suspend_flow.is_set()):
            try:
                finished, value = eager.step(first)
            except BaseException:
                _close(coros[1:])
                raise
            if finished:
                _close(coros[1:])
                return WaitResults([first], [value], False)
            coros = (eager.resume(first, value), *coros[1:])
        return await super().wait_first(*coros, timeout=timeout)

    def ack(self, message: Any) -> bool:  # a message taken, not applied: it comes again
        return not commits.skipped(self, message) and bool(super().ack(message))


def _close(coros: tuple[Any, ...]) -> None:
    """Close the coroutines among ``coros`` that will not run."""
    for coro in coros:
        if asyncio.iscoroutine(coro):
            coro.close()


class Transport(driver.Transport):
    """Faust's aiokafka transport, whose consumers are :class:`Consumer`."""

    Consumer = Consumer
