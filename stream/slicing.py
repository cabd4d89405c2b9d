"""A batch's messages applied a slice at a time, with the event loop free between slices.

A batch holds up to 4,096 messages, and applying it is synchronous: when most of them close a
bucket (a day boundary over thousands of series, or single events of series seen once a
day), applying them all at once held up the worker's event loop for about 200 ms (Kafka's
heartbeats and fetches, the next batch's reads, the ops figures all wait). :class:`Slicer`
hands the processor slices sized to take about ``budget`` seconds each and yields to the loop
between them. Each slice is applied as a batch of its own would be, on the states the slices
before it left (they reach the store only once the whole batch is sent), so slicing changes
what a batch writes only as splitting it into smaller batches would: a series touched in two
slices is written twice, the later write newer.

>>> import asyncio
>>> calls = []
>>> def process(partition, messages, get):
...     calls.append(len(messages)); return len(messages)
>>> outs = asyncio.run(Slicer(first=3).apply(process, 0, list(range(7)), lambda key: None))
>>> calls[0], sum(calls), outs == calls  # the first slice, then bigger ones: all in order
(3, 7, True)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Slicer", "release", "resize", "yield_turns"]

BUDGET = 0.01  # seconds a slice aims at (a loop stall's budget is 50 ms: see sweep.BUDGET)
FIRST = 256  # messages in the first slice, before any has been timed
# a message costs ~10 us when it only adds to an open bucket and 50-100 us when it closes one
# (a new series' model row included): at most 512, a slice sized on cheap messages stays
# within ~50 ms when the next batch's messages all close buckets (a day boundary)
MIN_SLICE, MAX_SLICE = 16, 512


#: event-loop iterations :func:`yield_turns` gives away
TURNS = 3


async def yield_turns(turns: int = TURNS) -> None:
    """Let the event loop run what waits, ``turns`` iterations of it, before the caller's next
    piece of work.

    One ``await asyncio.sleep(0)`` puts the caller's continuation at the end of the loop's
    ready queue, ahead of what the same iteration's timers and sockets make ready. A task
    waiting on a timer (a heartbeat, a ``sleep``) or on a socket takes two more iterations to
    run: the timer or the read completes a future, and the future's callback schedules the
    task. After a single yield, such a task ran only after the next two pieces of work (a
    stall of three pieces, measured: 140 ms for pieces of 50 ms); after three, it runs after
    the piece that made it wait (50 ms).
    """
    for _ in range(turns):
        await asyncio.sleep(0)


async def release(items: list[Any]) -> None:
    """Empty ``items``, one item a turn of the event loop (:func:`yield_turns`).

    A batch's outputs, one per slice, hold its writes, forecasts and closed buckets: over
    a day close, tens of thousands of objects. Freed at once when the batch's task ended,
    they held the loop up for 80-165 ms (``salescast bench stall``, 100k series; an
    event-loop watchdog timed the task's last step, from its last Redis reply to its end).

    >>> import asyncio
    >>> outs = [["slice 1"], ["slice 2"]]
    >>> asyncio.run(release(outs)); outs
    []
    """
    while items:
        items.pop()
        await yield_turns()


def resize(size: int, done: int, took: float, budget: float, least: int, most: int) -> int:
    """The next size of a piece of work of ``size`` units whose last piece did ``done`` of
    them in ``took`` seconds, towards ``budget``: down at once when over it, up halfway (a
    piece's cost varies). A short piece (``done < size``: the work ran out) within the
    budget leaves the size as it is: it says little of a full one (a sweep's chunks grew
    to 3x on short ones).

    >>> resize(100, 100, 0.06, 0.03, 8, 1000), resize(100, 100, 0.0075, 0.03, 8, 1000)
    (50, 200)
    >>> resize(100, 10, 0.001, 0.03, 8, 1000), resize(100, 10, 0.06, 0.03, 8, 1000)
    (100, 8)
    """
    if took <= 0 or (done < size and took <= budget):
        return size
    target = done * budget / took
    return int(min(most, max(least, target if target < done else (done * target) ** 0.5)))


class Slicer:
    """How many messages a slice takes: adapted after each slice towards ``budget``."""

    def __init__(self, budget: float = BUDGET, first: int = FIRST) -> None:
        self.budget, self.size = budget, first

    async def apply(self, process: Callable[[int, list[Any], Callable[[str], Any]], Any],
                    partition: int, messages: list[Any], get: Callable[[str], Any]) -> list[Any]:
        """``process(partition, slice, get)`` for each slice of ``messages`` in order; what
        each returned. A slice's ``get`` sees the states the slices before it returned (in
        their ``states``), before the store's."""
        outs: list[Any] = []
        fresh: dict[str, Any] = {}

        def chained(key: str) -> Any:
            state = fresh.get(key)
            return state if state is not None else get(key)

        i = 0
        while i < len(messages):
            part = messages[i:i + self.size]
            started = time.perf_counter()
            out = process(partition, part, chained)
            took = time.perf_counter() - started
            outs.append(out)
            fresh.update(getattr(out, "states", {}))
            i += len(part)
            self.size = resize(self.size, len(part), took, self.budget, MIN_SLICE, MAX_SLICE)
            if i < len(messages):
                await yield_turns()  # heartbeats, fetches, the ops figures
        return outs
