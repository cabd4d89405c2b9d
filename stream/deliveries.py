"""Kafka sends of the worker's batches that are not delivered yet.

A batch does not wait for its own sends (dead letters, re-routed events, aggregate reports,
alerts, closed buckets for the trainer): it puts its states and writes Redis at once, and the
next batch runs meanwhile. (Waiting for the aggregate reports, one message per partition to
``total``'s, took ~7 ms of a ~10 ms batch at 2,000 events/s.) What waiting guaranteed, the
flushes keep instead: no state reaches the changelog while a send of an earlier batch is
undelivered, since after a crash the replayed batch would find its states applied and send
nothing again. So each flush step and the commit's own flush wait for every send
(:func:`stream.commits.ready_to_commit`), and a send that fails calls ``on_failure`` (the
worker stops at once, exit code 70) before its batch can be flushed or committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["Deliveries"]


class Deliveries:
    """The sends not delivered yet (see the module docstring).

    >>> async def demo():
    ...     sent = Deliveries()
    ...     fut = asyncio.get_running_loop().create_future()
    ...     sent.add([fut])
    ...     before = sent.pending()
    ...     fut.set_result("acked")
    ...     await sent.delivered()
    ...     return before, sent.pending()
    >>> asyncio.run(demo())
    (True, False)
    """

    def __init__(self, on_failure: Callable[[BaseException], None] | None = None) -> None:
        self.on_failure = on_failure
        self._pending: list[asyncio.Future[Any]] = []  # not delivered: under way or failed

    def add(self, sends: list[asyncio.Future[Any]]) -> None:
        for fut in sends:
            fut.add_done_callback(self._done)
            self._pending.append(fut)

    def _done(self, fut: asyncio.Future[Any]) -> None:
        exc = _error(fut)
        if exc is not None and self.on_failure is not None:
            self.on_failure(exc)

    def pending(self) -> bool:
        """Whether a send is not delivered (under way, or failed)."""
        self._pending = [fut for fut in self._pending if not fut.done() or _error(fut)]
        return bool(self._pending)

    async def delivered(self) -> None:
        """Once every send so far is delivered; a failed one raises its error (the worker's
        ``on_failure`` has stopped it already)."""
        while self.pending():
            waiting = [fut for fut in self._pending if not fut.done()]
            if not waiting:
                raise _error(self._pending[0]) or RuntimeError("a send failed")
            await asyncio.wait(waiting)


def _error(fut: asyncio.Future[Any]) -> BaseException | None:
    """The error of a send that is done (``CancelledError`` when it was cancelled)."""
    return asyncio.CancelledError() if fut.cancelled() else fut.exception()
