"""Batches of a Faust stream's events: as large as the backlog, closed once the stream caught up.

Faust's ``Stream.take_events(max_, within)`` hands out a batch when ``max_`` events are in or
when ``within`` seconds have passed, so below ``max_`` every event waits for the whole timer:
at a steady 2,000 events/s the worker's event-to-Redis p50 was ~80 ms with a 50 ms timer.
:func:`take_batches` also closes a batch as soon as the stream has caught up: the consumer
handed out every record of its last fetch (:class:`stream.transport.Consumer` tells) and
the stream took every one of them. Under a backlog a fetch holds thousands of records, which
take longer than ``within`` to come through Faust, so batches are as large as before; at a
steady rate a batch starts as soon as the records of a fetch are in.

When a batch closes is :class:`BatchRule`, a plain function.
"""

from __future__ import annotations

import asyncio
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
    """The events of ``stream`` (a Faust stream) in batches closed by ``rule``: caught up
    once ``rounds`` (the app's consumer) delivers no fetch and the stream's queue is empty.

    Each batch's events are acked when the code using it asks for the next batch (or stops),
    as ``take_events`` does. The stream is read in the background while a batch waits to
    close, and holds its next event back while a batch is out."""
    loop = asyncio.get_running_loop()
    events: list[Any] = []
    first = [0.0]  # the loop time of the batch's first event
    wake = asyncio.Event()  # a batch's first event came, or it became full or caught up
    accepting = asyncio.Event()  # cleared while a batch is out or full
    accepting.set()
    channel = aiter(stream.channel)

    def caught_up() -> bool:
        return not (rounds is not None and rounds.delivering) and channel.queue.empty()

    async def add(value: Any) -> Any:
        if not accepting.is_set():
            await accepting.wait()
        event = stream.current_event
        if event is None:
            raise RuntimeError("a batched stream saw a value without its event")
        events.append(event)
        if len(events) == 1:
            first[0] = loop.time()
            wake.set()
        if len(events) >= rule.max_events:
            accepting.clear()
            wake.set()
        elif caught_up():
            wake.set()
        return value

    def round_ended() -> None:
        if events and channel.queue.empty():
            wake.set()

    if rounds is not None:
        rounds.on_round_end = round_ended
    stream.enable_acks = False  # acked below, once a batch is over
    stream.add_processor(add)
    stream._enable_passive(channel)  # as take_events does: the stream is read in the background
    while not stream.should_stop:
        wait = (rule.wait(len(events), first[0], loop.time(), caught_up()) if events
                else None)
        if wait is None or wait > 0:
            wake.clear()
            await stream.wait_for_stopped(wake, timeout=wait)
            continue
        accepting.clear()
        batch = list(events)
        try:
            yield batch
        finally:
            events.clear()
            for event in batch:
                await stream.ack(event)
            accepting.set()
