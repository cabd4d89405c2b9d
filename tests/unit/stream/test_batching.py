"""Batches close once the stream caught up, when full, or at the timer; acks come after.

The stream here is a stand-in with the surface :func:`stream.batching.take_batches` uses of a
Faust stream (a channel with a queue, processors run by a background drainer, acks); the
integration tests run it on Faust's own streams against Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Any

import pytest

from stream.batching import BatchRule, take_batches


class Channel:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()

    def __aiter__(self) -> Channel:
        return self

    async def __anext__(self) -> str:
        return await self.queue.get()


class FakeStream:
    """Events are strings; the drainer runs each through the processors, one at a time."""

    def __init__(self) -> None:
        self.channel = Channel()
        self.current_event: str | None = None
        self.processors: list[Any] = []
        self.should_stop = False
        self.enable_acks = True
        self.acked: list[str] = []
        self.drainer: asyncio.Task[None] | None = None

    def add_processor(self, processor: Any) -> None:
        self.processors.append(processor)

    def _enable_passive(self, channel: Channel) -> None:
        assert channel is self.channel
        self.drainer = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while True:
            self.current_event = await self.channel.queue.get()
            for processor in self.processors:
                await processor(self.current_event)

    async def wait_for_stopped(self, event: asyncio.Event, timeout: float | None = None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def ack(self, event: str) -> None:
        self.acked.append(event)

    def put(self, *events: str) -> None:
        for e in events:
            self.channel.queue.put_nowait(e)


class Rounds:
    def __init__(self) -> None:
        self.delivering = False
        self.on_round_end: Callable[[], None] | None = None


async def _next(batches: AsyncGenerator[list[Any], None], timeout: float = 2.0) -> list[Any]:
    return await asyncio.wait_for(batches.__anext__(), timeout)


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
    assert stream.enable_acks is False  # the batch acks, not the stream


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
