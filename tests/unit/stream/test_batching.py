"""Batches close once the stream caught up, when full, or at the timer; acks come after.

The stream here is a stand-in with the surface :func:`stream.batching.take_batches` uses of a
Faust agent's stream (its channel's queue, the app's flow control and consumer generation,
events that ack); the integration tests run it on Faust's own streams against Kafka.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Coroutine
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from stream.batching import BatchRule, take_batches


class Channel:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()


@dataclass(eq=False)  # hashable by identity, as Faust's messages
class Message:
    generation_id: int
    topic: str = "events"
    tracked: bool = False
    tp: tuple[str, int] = ("events", 0)


@dataclass
class Event:
    name: str
    message: Message
    acked: list[str]

    def ack(self) -> None:
        self.acked.append(self.name)


class App:
    """What the batches read of a Faust app: flow control, the consumer's generation."""

    def __init__(self) -> None:
        self.flow_control = SimpleNamespace(is_active=lambda: True)
        self.consumer_generation_id = 1
        self.topics = SimpleNamespace(acking_topics={"events"})
        self.consumer = SimpleNamespace(_unacked_messages=set(), drops=Counter())


class FakeStream:
    """A Faust agent's stream as the batches see it: a channel queue of events, and a stop."""

    def __init__(self) -> None:
        self.app = App()
        self.channel = Channel()
        self.should_stop = False
        self.stopped = asyncio.Event()
        self.started = False
        self.acked: list[str] = []

    async def maybe_start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.should_stop = True
        self.stopped.set()

    async def wait_for_stopped(self, *waits: Any, timeout: float | None = None) -> None:
        futures = [asyncio.ensure_future(w.wait() if isinstance(w, asyncio.Event) else w)
                   for w in (*waits, self.stopped)]
        try:
            await asyncio.wait(futures, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in futures:
                if not f.done():
                    f.cancel()

    def put(self, *names: str, generation: int = 1) -> None:
        for name in names:
            self.channel.queue.put_nowait(Event(name, Message(generation), self.acked))


class Rounds:
    def __init__(self) -> None:
        self.delivering = False
        self.on_round_end: Callable[[], None] | None = None


async def _next(batches: AsyncGenerator[list[Any], None], timeout: float = 2.0) -> list[str]:
    return [event.name for event in await asyncio.wait_for(batches.__anext__(), timeout)]


@pytest.fixture
def stream() -> FakeStream:
    return FakeStream()


def in_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body in a fresh event loop."""
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))
    return run


@in_loop
async def test_a_batch_closes_as_soon_as_the_stream_caught_up(stream: FakeStream) -> None:
    loop = asyncio.get_running_loop()
    batches = take_batches(stream, BatchRule(max_events=100, within=10.0), Rounds())
    stream.put("a", "b", "c")
    start = loop.time()
    assert await _next(batches) == ["a", "b", "c"]
    assert loop.time() - start < 1.0  # not the 10 s timer
    assert stream.started


@in_loop
async def test_the_batch_waits_for_the_rest_of_a_fetch(stream: FakeStream) -> None:
    rounds = Rounds()
    rounds.delivering = True  # the consumer is still handing out a fetch's records
    batches = take_batches(stream, BatchRule(max_events=100, within=10.0), rounds)
    stream.put("a", "b")
    pending = asyncio.ensure_future(_next(batches))
    await asyncio.sleep(0.05)
    assert not pending.done()
    stream.put("c")
    await asyncio.sleep(0.01)
    rounds.delivering = False
    assert rounds.on_round_end is not None
    rounds.on_round_end()
    assert await pending == ["a", "b", "c"]


@in_loop
async def test_a_full_batch_closes_and_holds_the_next_event_back(stream: FakeStream) -> None:
    rounds = Rounds()
    rounds.delivering = True
    batches = take_batches(stream, BatchRule(max_events=3, within=10.0), rounds)
    stream.put("a", "b", "c", "d", "e")
    assert await _next(batches) == ["a", "b", "c"]
    assert stream.acked == []  # acked when the next batch is asked for
    rounds.delivering = False
    assert await _next(batches) == ["d", "e"]
    assert stream.acked == ["a", "b", "c"]


@in_loop
async def test_the_timer_closes_a_batch_while_a_fetch_goes_on(stream: FakeStream) -> None:
    rounds = Rounds()
    rounds.delivering = True
    loop = asyncio.get_running_loop()
    batches = take_batches(stream, BatchRule(max_events=100, within=0.1), rounds)
    stream.put("a")
    start = loop.time()
    assert await _next(batches) == ["a"]
    assert loop.time() - start >= 0.09


@in_loop
async def test_without_rounds_an_empty_queue_is_caught_up(stream: FakeStream) -> None:
    batches = take_batches(stream, BatchRule(max_events=100, within=10.0))
    stream.put("a")
    assert await _next(batches) == ["a"]
    stream.put("b", "c")
    assert await _next(batches) == ["b", "c"]
    await batches.aclose()
    assert stream.acked == ["a", "b", "c"]


@in_loop
async def test_events_of_an_earlier_generation_are_dropped_unacked(stream: FakeStream) -> None:
    batches = take_batches(stream, BatchRule(max_events=100, within=10.0))
    stream.put("old", generation=0)  # fetched before a rebalance
    stream.put("a", "b")
    assert await _next(batches) == ["a", "b"]
    stream.app.consumer_generation_id = 2
    stream.put("c", "d", generation=1)
    stream.put("e", generation=2)
    assert await _next(batches) == ["e"]
    await batches.aclose()
    assert stream.acked == ["a", "b", "e"]
    assert len(stream.app.consumer._unacked_messages) == 3  # tracked, as Faust's iterator does
    assert stream.app.consumer.drops == {("before the rebalance", ("events", 0)): 3}


@in_loop
async def test_an_error_thrown_into_the_channel_reaches_the_batches(stream: FakeStream) -> None:
    class Throwing(asyncio.Queue[Event]):
        def get_nowait(self) -> Event:
            event = super().get_nowait()
            if event.name == "bad":
                raise ValueError("thrown")
            return event

    stream.channel.queue = Throwing()
    batches = take_batches(stream, BatchRule(max_events=100, within=10.0))
    stream.put("a", "bad")
    with pytest.raises(ValueError, match="thrown"):
        await _next(batches)


@in_loop
async def test_a_stopped_stream_ends_the_batches(stream: FakeStream) -> None:
    batches = take_batches(stream, BatchRule(max_events=100, within=10.0))
    pending = asyncio.ensure_future(_next(batches))
    await asyncio.sleep(0.02)
    stream.stop()
    with pytest.raises(StopAsyncIteration):
        await pending
    stream.put("a")
    assert stream.channel.queue.qsize() == 1 and stream.acked == []


@pytest.mark.parametrize("waiting", [True, False])
@in_loop
async def test_a_stop_thrown_into_the_channel_ends_the_batches(stream: FakeStream,
                                                               waiting: bool) -> None:
    """Faust's ``Actor.cancel`` (an agent stopping: a worker's shutdown) throws
    ``StopAsyncIteration`` into the agent's channel; the batches end, as Faust's stream
    iterator does, while waiting for an event or while taking a batch's events."""
    queue: ThrowableQueue[Event] = ThrowableQueue(flow_control=FlowControlEvent())
    stream.channel.queue = queue
    batches = take_batches(stream, BatchRule(max_events=100, within=10.0))
    if waiting:
        pending = asyncio.ensure_future(_next(batches))
        await asyncio.sleep(0.02)  # waiting for the first event
        queue._throw(StopAsyncIteration())
    else:
        stream.put("a")
        queue._throw(StopAsyncIteration())  # behind the event: taken with it
        pending = asyncio.ensure_future(_next(batches))
    with pytest.raises(StopAsyncIteration):
        await pending
    assert stream.acked == []


@in_loop
async def test_each_partition_s_last_event_time_reaches_faust_s_monitor(
        stream: FakeStream) -> None:
    """Faust's stream iterator records it; taken from the queue, it was never recorded, and
    Faust's livelock check logged "Stream has not started processing" every few seconds for
    every partition with a lag (two thirds of a soak's worker log)."""
    inbound: dict[Any, float] = {}
    stream.app.monitor = SimpleNamespace(stream_inbound_time=inbound)  # type: ignore[attr-defined]
    batches = take_batches(stream, BatchRule(max_events=10, within=10.0))
    stream.put("a")
    before = time.monotonic()
    assert await _next(batches) == ["a"]
    assert inbound.keys() == {("events", 0)} and inbound[("events", 0)] >= before
    await batches.aclose()
