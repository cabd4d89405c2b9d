"""The worker's consumers ask the broker to wait at most 100 ms, through Faust's own classes.

These fail when faust-streaming or aiokafka renames a method or attribute that
:mod:`stream.transport` relies on, or when the wait stops reaching aiokafka's fetcher.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiokafka.consumer.consumer as aiokafka_consumer
import pytest
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.consumer import ThreadDelegateConsumer
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

from stream.app import create_app
from stream.transport import (
    FETCH_MAX_WAIT_MS,
    FETCH_MIN_BYTES,
    Consumer,
    ConsumerThread,
    Transport,
)


class FetcherBuilt(Exception):
    """Raised by the fake fetcher: the consumer got as far as building it."""


def test_the_overridden_methods_are_fausts_own() -> None:
    assert "_create_worker_consumer" in vars(driver.AIOKafkaConsumerThread)
    assert "_fetch_records" in vars(driver.AIOKafkaConsumerThread)
    assert "seek" in vars(FaustConsumer) and "_seek" in vars(ThreadDelegateConsumer)
    assert "_new_consumer_thread" in vars(ThreadDelegateConsumer)  # the abstract hook
    assert driver.Transport.Consumer is driver.Consumer


def test_create_app_gives_the_app_this_transport(tmp_path: Path) -> None:
    app = create_app("t-transport", "127.0.0.1:9", datadir=str(tmp_path / "faust"))
    assert type(app.transport) is Transport
    assert app.transport.url == app.conf.broker_consumer


def test_the_worker_consumer_fetches_with_the_short_wait_and_the_minimum_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def fetcher(*args: Any, **kwargs: Any) -> None:
        seen.update(kwargs)
        raise FetcherBuilt

    async def nothing(*args: Any, **kwargs: Any) -> None:
        return None

    async def main() -> None:
        app = create_app("t-transport", "127.0.0.1:9", datadir=str(tmp_path / "faust"))
        consumer = app.consumer
        assert type(consumer) is Consumer
        thread = consumer._thread
        assert type(thread) is ConsumerThread
        kafka = thread._create_consumer(loop=asyncio.get_running_loop())
        # start() with no broker: skip the connection, stop where the fetcher is built
        monkeypatch.setattr(kafka._client, "bootstrap", nothing)
        monkeypatch.setattr(kafka, "_wait_topics", nothing)
        monkeypatch.setattr(aiokafka_consumer, "Fetcher", fetcher)
        try:
            with pytest.raises(FetcherBuilt):
                await kafka.start()
        finally:
            await kafka.stop()

    asyncio.run(main())
    assert seen["fetch_max_wait_ms"] == FETCH_MAX_WAIT_MS == 20
    assert seen["fetch_min_bytes"] == FETCH_MIN_BYTES == 16_384


def test_the_worker_consumer_does_not_record_the_ack_of_a_skipped_message(
    tmp_path: Path,
) -> None:
    """Faust acks every message of a batch; one the agent skipped must not be committed."""
    from faust.types import TP, Message

    async def main() -> None:
        app = create_app("t-transport", "127.0.0.1:9", datadir=str(tmp_path / "faust"))
        consumer = app.consumer
        tp = TP("sales", 0)
        app.topics.acks_enabled_for = lambda topic: True  # type: ignore[method-assign]
        skipped, applied = (Message("sales", 0, offset, 0.0, 0, None, None, b"", b"", None,
                                    tp=tp) for offset in (0, 1))
        app.ownership.skip(skipped)  # type: ignore[attr-defined]
        assert consumer.ack(skipped) is False and skipped.acked
        assert consumer.ack(applied) is True
        assert list(consumer._acked[tp]) == [1]

    asyncio.run(main())


def test_a_seek_runs_in_the_consumer_thread(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """aiokafka's fetcher is not thread-safe: a seek from the main thread raced the consumer
    thread's ``fetched_records`` (KeyError in the fetcher, the worker crashed)."""
    app = create_app("t-transport-seek", "127.0.0.1:9", datadir=str(tmp_path / "faust"))
    consumer = app.consumer
    thread = consumer._thread
    assert isinstance(thread, ConsumerThread)
    calls: list[tuple[str, Any, int]] = []

    async def call_thread(method: Any, *args: Any) -> Any:
        calls.append(("in thread", *args))
        return await method(*args)

    monkeypatch.setattr(thread, "call_thread", call_thread)
    monkeypatch.setattr(thread, "seek", lambda tp, offset: calls.append(("seek", tp, offset)))
    tp = TP("t", 3)
    asyncio.run(consumer.seek(tp, 42))
    assert calls == [("in thread", tp, 42, 1), ("seek", tp, 42)]  # 1: the seek's number
    # Faust's read offset follows when the first record after the seek is handed out (below)


def test_the_consumer_tells_while_it_hands_out_a_fetch(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of the agent waits for the rest of a fetch (:mod:`stream.batching`): the
    consumer is ``delivering`` from the fetch's first record to its last, then calls
    ``on_round_end``; an empty fetch is no round."""
    app = create_app("t-transport-rounds", "127.0.0.1:9", datadir=str(tmp_path / "faust"))
    consumer = app.consumer
    assert isinstance(consumer, Consumer)
    tp = TP("sales", 0)
    fetches = [{tp: ["r1", "r2"]}, {}]

    async def wait_next_records(self: Any, timeout: float) -> Any:
        return fetches.pop(0), {tp}

    monkeypatch.setattr(FaustConsumer, "_wait_next_records", wait_next_records)
    monkeypatch.setattr(consumer, "_to_message", lambda tp, record: record)
    monkeypatch.setattr(consumer, "highwater", lambda tp: 2)
    consumer.flow_active = True
    ends: list[bool] = []
    consumer.on_round_end = lambda: ends.append(consumer.delivering)

    async def main() -> list[tuple[str, bool]]:
        seen = [(m, consumer.delivering) async for _, m in consumer.getmany(timeout=0.1)]
        seen += [(m, consumer.delivering) async for _, m in consumer.getmany(timeout=0.1)]
        return seen

    assert asyncio.run(main()) == [("r1", True), ("r2", True)]
    assert ends == [False] and not consumer.delivering


class _Record(str):
    """A canned record: its text, and its offset from the digits it ends with ("a7": 7)."""

    @property
    def offset(self) -> int:
        digits = self[len(self.rstrip("0123456789")):]
        return int(digits) if digits else 0


class _Fetches:
    """The consumer thread's fetches, faked below aiokafka: each returns the next canned
    records; one may wait for ``release`` first (a fetch waiting for records)."""

    def __init__(self, fetches: list[dict[TP, list[str]]]) -> None:
        self.fetches = fetches
        self.waiting = asyncio.Event()
        self.release: asyncio.Event | None = None

    async def fetch(self, *args: Any, **kwargs: Any) -> dict[TP, list[str]]:
        if self.release is not None:
            self.waiting.set()
            await self.release.wait()
            self.release = None
        return {tp: [_Record(r) for r in records] for tp, records in self.fetches.pop(0).items()}


def _fenced_consumer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tps: set[TP],
                     fetches: _Fetches) -> tuple[Consumer, list[tuple[TP, int]]]:
    """A worker consumer whose thread runs its calls inline and fetches ``fetches``; the
    seeks it does are listed."""
    app = create_app("t-transport-fence", "127.0.0.1:9", datadir=str(tmp_path / "faust"))
    consumer = app.consumer
    assert isinstance(consumer, Consumer)
    thread = consumer._thread
    assert isinstance(thread, ConsumerThread)
    seeks: list[tuple[TP, int]] = []

    async def call_thread(method: Any, *args: Any, **kwargs: Any) -> Any:
        return await method(*args, **kwargs)

    monkeypatch.setattr(driver.AIOKafkaConsumerThread, "_fetch_records", fetches.fetch)
    monkeypatch.setattr(thread, "call_thread", call_thread)
    monkeypatch.setattr(thread, "_ensure_consumer", lambda: type("K", (), {
        "_max_poll_records": None})())
    monkeypatch.setattr(thread, "seek", lambda tp, offset: seeks.append((tp, offset)))
    monkeypatch.setattr(consumer, "_to_message", lambda tp, record: record)
    monkeypatch.setattr(consumer, "highwater", lambda tp: 10)
    consumer._active_partitions = set(tps)
    consumer.flow_active = True
    return consumer, seeks


def test_a_seek_drops_the_records_of_its_partition_fetched_before_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent seeks a partition back while Faust hands out a fetch: the rest of that
    partition's records are dropped (handed out, Faust filed the offsets between the seek and
    them as a gap in the log, and committed over it), the other partitions' are not, and the
    next fetch's come through."""
    sought, other = TP("sales", 0), TP("sales", 1)
    fetches = _Fetches([{sought: ["a7", "a8", "a9"], other: ["b3", "b4"]}, {sought: ["a5"]}])
    consumer, seeks = _fenced_consumer(tmp_path, monkeypatch, {sought, other}, fetches)

    async def main() -> list[str]:
        seen = []
        async for _, m in consumer.getmany(timeout=0.1):
            seen.append(m)
            if m == "a7":
                await consumer.seek(sought, 5)
        seen += [m async for _, m in consumer.getmany(timeout=0.1)]
        return seen

    assert sorted(asyncio.run(main())) == ["a5", "a7", "b3", "b4"]
    assert seeks == [(sought, 5)] and consumer._read_offset[sought] == 5
    assert dict(consumer.drops) == {("fenced", sought): 2}  # the stall warning shows them


def test_records_refetched_by_a_fetch_that_waited_through_the_seek_come_through(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The consumer thread runs a seek while a fetch waits for records (two workers), and
    that fetch returns the records refetched from the new position: they are handed out.
    (Dropped, an idle partition sought back stalled for good: aiokafka's position had passed
    them.) And Faust's read offset is the seek's when the first of them is handed out, though
    the delivery of a record from before the seek wrote its own offset after the seek
    returned: Faust's drain would otherwise drop them as read."""
    tp = TP("sales", 3)
    fetches = _Fetches([{tp: ["x"]}])
    consumer, seeks = _fenced_consumer(tmp_path, monkeypatch, {tp}, fetches)
    consumer._read_offset[tp] = 2321  # Faust handed out up to 2321 before

    async def main() -> list[tuple[str, int | None]]:
        fetches.release = asyncio.Event()

        async def fetch() -> list[tuple[str, int | None]]:
            return [(m, consumer._read_offset[tp]) async for _, m in consumer.getmany(1.0)]

        under_way = asyncio.create_task(fetch())
        await fetches.waiting.wait()  # the fetch waits for records
        await consumer.seek(tp, 2260)  # the stall recovery seeks back meanwhile
        consumer._read_offset[tp] = 2322  # a delivery of the old position ends after it
        fetches.fetches = [{tp: ["2260", "2261"]}]  # what aiokafka refetched
        fetches.release.set()
        return await under_way

    # (read offsets as the drain finds them; it sets its own after each delivery)
    assert asyncio.run(main()) == [("2260", 2260), ("2261", 2260)]
    assert seeks == [(tp, 2260)]


def test_a_seek_that_fails_leaves_no_partition_fenced_for_good(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nor Faust's read offset moved: the next records come from where they were."""
    tp = TP("sales", 2)
    fetches = _Fetches([{tp: ["r1"]}])
    consumer, _ = _fenced_consumer(tmp_path, monkeypatch, {tp}, fetches)
    consumer._read_offset[tp] = 11

    def refuse(tp: TP, offset: int) -> None:
        raise RuntimeError("not assigned")

    monkeypatch.setattr(consumer._thread, "seek", refuse)

    async def main() -> list[tuple[str, int | None]]:
        with pytest.raises(RuntimeError):
            await consumer.seek(tp, 7)
        return [(m, consumer._read_offset[tp]) async for _, m in consumer.getmany(0.1)]

    assert asyncio.run(main()) == [("r1", 11)]


def test_a_delivery_that_finishes_at_once_is_the_only_winner_and_makes_no_task(
        tmp_path: Path) -> None:
    """Faust's ``_drain_messages`` waits for each message's delivery with
    ``wait_first(callback(message), suspend_flow.wait())``."""
    app = create_app("t-transport-eager", "127.0.0.1:9", datadir=str(tmp_path / "faust"))
    consumer = app.consumer
    delivered: list[str] = []

    async def deliver(message: str) -> str:
        delivered.append(message)
        return message

    async def main() -> tuple[Any, int]:
        before = len(asyncio.all_tasks())
        flow = consumer.suspend_flow.wait()
        delivery = deliver("m1")
        result = await consumer.wait_first(delivery, flow)
        assert flow.cr_frame is None  # closed, not left un-awaited
        return result, len(asyncio.all_tasks()) - before

    result, tasks = asyncio.run(main())
    assert delivered == ["m1"] and tasks == 0
    assert not result.stopped and result.results == ["m1"]


def test_a_delivery_that_suspends_still_races_the_flow_suspension(tmp_path: Path) -> None:
    """A delivery waiting for room (a full queue) is left once a rebalance suspends the flow,
    as mode's ``wait_first`` leaves it; one that gets room finishes."""
    ends: list[str] = []

    async def main() -> None:  # the app is made in the loop its events belong to
        app = create_app("t-transport-race", "127.0.0.1:9", datadir=str(tmp_path / "faust"))
        consumer = app.consumer
        queue: asyncio.Queue[str] = asyncio.Queue(1)
        queue.put_nowait("waiting")

        async def deliver(message: str) -> None:
            try:
                await queue.put(message)
                ends.append(f"put {message}")
            except asyncio.CancelledError:
                ends.append(f"left {message}")
                raise

        loop = asyncio.get_running_loop()
        loop.call_later(0.02, queue.get_nowait)  # room: the delivery finishes
        await consumer.wait_first(deliver("m1"), consumer.suspend_flow.wait())
        loop.call_later(0.02, consumer.suspend_flow.set)  # a rebalance starts
        await consumer.wait_first(deliver("m2"), consumer.suspend_flow.wait())
        await asyncio.sleep(0.01)

    asyncio.run(main())
    assert ends == ["put m1", "left m2"]


def test_while_the_flow_is_suspended_mode_waits_as_before(tmp_path: Path) -> None:
    started: list[str] = []

    async def deliver(message: str) -> None:
        started.append(message)

    async def main() -> Any:
        app = create_app("t-transport-suspended", "127.0.0.1:9",
                         datadir=str(tmp_path / "faust"))
        consumer = app.consumer
        consumer.suspend_flow.set()
        return await consumer.wait_first(deliver("m1"), consumer.suspend_flow.wait(),
                                         timeout=1.0)

    result = asyncio.run(main())
    # mode's own wait ran: it finds both done (the fast path would name the delivery alone)
    assert not result.stopped and len(result.done) == 2 and started == ["m1"]


def test_offsets_a_seek_or_an_assignment_skipped_are_filed_as_gaps(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A probe: a transactional producer's commit marker took one offset after each
    transaction. Sought back (or assigned) to a marker, the first record came one offset
    further on, Faust filed no gap (its read offset was the seek's), and the continuity check
    sought back to the marker every 5 s, forever. The offsets a fetch from the seek's offset
    skipped hold no record: they are filed as a gap, as Faust files the ones it sees."""
    sought, assigned = TP("sales", 0), TP("sales", 1)
    fetches = _Fetches([{sought: ["a7", "a8"], assigned: ["b140"]}])
    consumer, _ = _fenced_consumer(tmp_path, monkeypatch, {sought, assigned}, fetches)
    thread = consumer._thread
    assert isinstance(thread, ConsumerThread)

    async def committed_in_thread(numbers: dict[TP, int]) -> dict[TP, int]:
        numbers[assigned] = thread.fence.ask(assigned)
        thread.fence.done(assigned, numbers[assigned])
        return {assigned: 139}

    monkeypatch.setattr(thread, "seek_to_committed_in_thread", committed_in_thread)

    async def main() -> list[str]:
        await consumer.seek_to_committed()
        await consumer.seek(sought, 5)
        return [m async for _, m in consumer.getmany(timeout=0.1)]

    assert sorted(asyncio.run(main())) == ["a7", "a8", "b140"]
    gaps = {tp: sorted((i.begin, i.end) for i in consumer._gap[tp]) for tp in (sought, assigned)}
    assert gaps == {sought: [(5, 7)], assigned: [(139, 140)]}


def test_a_gap_that_starts_at_the_committed_offset_keeps_it(tmp_path: Path) -> None:
    """Faust clamps a gap at the offset after the committed one, taking it for the last read:
    the committed offset is the next to read, so the marker a commit had reached was left out
    of the gap after it (a probe: the second transaction wedged 7 of 8 partitions). And the
    record handed out is no part of the gap (Faust's own filed it too)."""
    app = create_app("t-transport-gap", "127.0.0.1:9", datadir=str(tmp_path / "faust"))
    consumer, tp = app.consumer, TP("sales", 2)
    consumer._committed_offset[tp] = 139
    asyncio.run(consumer._add_gap(tp, 137, 140))  # Faust's call after 136: 140 handed out
    assert sorted((i.begin, i.end) for i in consumer._gap[tp]) == [(139, 140)]
