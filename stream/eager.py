"""Running a coroutine's first step at once, and the rest as a task would, if it suspends.

Faust's consumer delivers every fetched message with
``await self.wait_first(callback(message), self.suspend_flow.wait())`` (``_drain_messages`` in
``faust/transport/consumer.py``): mode's ``Service.wait_first`` wraps that delivery, the flow
suspension, the consumer's stop and its crash in four tasks and waits for the first, about
39 us a message on this machine, half of a plain Faust agent's per-message cost (README,
Benchmarks). A delivery almost never suspends: the conductor puts the event on its stream's
queue and returns. :class:`stream.transport.Consumer` first :func:`step`\\ s the delivery: when it
completes at once it is the only thing that can have happened, and no task is made; when it
suspends, :func:`resume` runs the rest of it as a task and mode's ``wait_first`` races it as
before.

>>> import asyncio
>>> async def done() -> int:
...     return 7
>>> step(done())
(True, 7)
>>> async def main() -> int:
...     fut = asyncio.get_running_loop().create_future()
...     async def waits() -> int:
...         return await fut + 1
...     coro = waits()
...     finished, waiting = step(coro)  # it awaits fut: ``waiting`` is fut
...     assert not finished and waiting is fut
...     fut.set_result(41)
...     return await resume(coro, waiting)
>>> asyncio.run(main())
42
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["resume", "step"]


def step(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Run ``coro`` up to its first suspension: ``(True, its result)`` when it finished,
    ``(False, what it yielded)`` (the future it awaits, None for a bare yield) when not. An
    exception it raises propagates."""
    try:
        waiting = coro.send(None)
    except StopIteration as finished:
        return True, finished.value
    return False, waiting


async def resume(coro: Coroutine[Any, Any, Any], waiting: Any) -> Any:
    """The result of ``coro``, which :func:`step` left suspended on ``waiting``, run on as an
    asyncio task steps a coroutine: it goes on once the future it awaits is done and reads
    that future's outcome itself; a cancellation cancels that future (as a task's ``cancel``
    does), or is thrown into the coroutine at a bare yield."""
    while True:
        if waiting is None:
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError as exc:
                try:
                    waiting = coro.throw(exc)
                except StopIteration as finished:
                    return finished.value
                continue
        elif asyncio.isfuture(waiting):
            waiting._asyncio_future_blocking = False  # taken, as a task takes what it is given
            try:
                await waiting
            except BaseException:
                if not waiting.done():
                    raise
        else:
            raise RuntimeError(f"a coroutine yielded {waiting!r}, not a future")
        try:
            waiting = coro.send(None)
        except StopIteration as finished:
            return finished.value

