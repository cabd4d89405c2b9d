"""Batches of a Faust stream's events: as large as the backlog, closed once the stream caught up.

Faust's ``Stream.take_events(max_, within)`` hands out a batch when ``max_`` events are in or
when ``within`` seconds have passed, so below ``max_`` every event waits for the whole timer:
at a steady 2,000 events/s the worker's event-to-Redis p50 was ~80 ms with a 50 ms timer.
:func:`take_batches` also closes a batch as soon as the stream has caught up: the consumer
handed out every record of its last fetch (:class:`stream.transport.Consumer` tells) and
the stream took every one of them. Under a backlog a fetch holds thousands of records, which
take longer than ``within`` to come through Faust, so batches are as large as before; at a
steady rate a batch starts as soon as the records of a fetch are in.

A batch's events are taken off the stream's channel queue together, not one at a time through
Faust's stream iterator: a py-spy profile of the worker on 50,000 single-event messages had
that iterator (``Stream._passive_drainer``) at about 10% of the main thread's busy time; with
the queue read directly the batching is about 4%, and the worker's main thread was busy 25%
less in all (with :mod:`stream.eager`; docs/benchmarks.md).

When a batch closes is :class:`BatchRule`, a plain function.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["BatchRule", "Rounds", "take_batches"]


@dataclass(frozen=True)
class BatchRule:
    """A batch closes once the stream has caught up, with ``max_events`` in, or ``within``
    seconds after its first event, whichever comes first.

    >>> rule = BatchRule(max_events=100, within=0.050)
    >>> rule.wait(events=10, first=0.0, now=0.010, caught_up=False)  # the timer
    0.04
    >>> rule.wait(events=10, first=0.0, now=0.010, caught_up=True)
    0.0
    >>> rule.wait(events=100, first=0.0, now=0.001, caught_up=False)  # full
    0.0
    """

    max_events: int
    within: float

    def wait(self, events: int, first: float, now: float, caught_up: bool) -> float:
        """Seconds until a batch of ``events`` (its first added at ``first``, loop time)
        closes; 0 when it is closed."""
        if caught_up or events >= self.max_events:
            return 0.0
        return round(max(0.0, first + self.within - now), 9)


class Rounds(Protocol):
    """A consumer that tells whether it is handing out the records of a fetch, and calls
    ``on_round_end`` when it has handed out all of them."""

    delivering: bool
    on_round_end: Callable[[], None] | None


async def take_batches(stream: Any, rule: BatchRule,
                       rounds: Rounds | None = None) -> AsyncGenerator[list[Any], None]:
    """The events of ``stream`` (a Faust agent's stream) in batches closed by ``rule``: caught
    up once ``rounds`` (the app's consumer) delivers no fetch and the channel's queue is empty.

    Events are taken from the stream's channel queue, where Faust's conductor puts them, a
    batch at a time, not one by one through the stream's iterator; each is acked when the code
    using the batch asks for the next batch (or stops), as ``take_events`` does. Events of an
    earlier consumer generation (fetched before a rebalance) are dropped unacked, as Faust's
    stream iterator drops them: they are read again from the committed offset. The batches
    end, as the iterator does, when ``StopAsyncIteration`` is thrown into the channel (what
    Faust's ``Actor.cancel`` does when an agent stops)."""
    loop = asyncio.get_running_loop()
    app, queue = stream.app, stream.channel.queue
    acking, unacked = app.topics.acking_topics, app.consumer._unacked_messages
    round_end = asyncio.Event()  # a fetch round ended: its records are in the queue
    # when each partition last gave the stream an event, as Faust's stream iterator records
    # it: its livelock check logged "Stream has not started processing" every few seconds
    # for each partition with a lag (two thirds of a soak's worker log), and skipped its
    # commit checks
    inbound = getattr(getattr(app, "monitor", None), "stream_inbound_time", None)
    inbound = {} if inbound is None else inbound

    def caught_up() -> bool:
        return not (rounds is not None and rounds.delivering) and queue.empty()

    def keep(event: Any, batch: list[Any]) -> None:
        message = event.message
        if not app.flow_control.is_active() or message.generation_id != app.consumer_generation_id:
            drops = getattr(app.consumer, "drops", None)  # the stall warning's evidence
            if drops is not None:
                drops["before the rebalance", message.tp] += 1
            return
        if message.topic in acking and not message.tracked:
            message.tracked = True  # as Faust's iterator: the consumer knows it is in flight
            unacked.add(message)
        batch.append(event)
        inbound[message.tp] = time.monotonic()

    async def next_event() -> Any:
        """The queue's next event; None once the stream stops."""
        getter = asyncio.ensure_future(queue.get())
        try:
            await stream.wait_for_stopped(getter)
        finally:
            if not getter.done():
                getter.cancel()  # the queue keeps an event it was woken for
        return getter.result() if getter.done() and not getter.cancelled() else None

    if rounds is not None:
        rounds.on_round_end = round_end.set
    await stream.maybe_start()
    batch: list[Any] = []
    first = 0.0  # the loop time the batch's first event was taken
    try:
        while not stream.should_stop:
            if not batch:
                event = await next_event()
                if event is None:
                    continue
                keep(event, batch)
                first = loop.time()
            while len(batch) < rule.max_events and not queue.empty():
                keep(queue.get_nowait(), batch)  # raises what was thrown to the channel
            if not batch or stream.should_stop:
                continue
            wait = rule.wait(len(batch), first, loop.time(), caught_up())
            if wait > 0:
                round_end.clear()
                await stream.wait_for_stopped(round_end, timeout=wait)
                continue
            try:
                yield batch
            finally:
                for event in batch:
                    event.ack()
                batch = []
    except StopAsyncIteration:  # Faust's Actor.cancel: the agent stops reading (a shutdown)
        return
