"""A coroutine's first step runs at once; when it suspends, the rest runs as a task would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from stream.eager import resume, step


def test_a_coroutine_that_does_not_suspend_finishes_in_its_first_step() -> None:
    async def add(a: int, b: int) -> int:
        return a + b

    assert step(add(2, 3)) == (True, 5)


def test_an_exception_of_the_first_step_propagates() -> None:
    async def bad() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        step(bad())


async def _full_queue_put() -> str:
    queue: asyncio.Queue[int] = asyncio.Queue(1)
    queue.put_nowait(1)
    asyncio.get_running_loop().call_later(0.01, queue.get_nowait)
    await queue.put(2)
    return "put"


async def _event_wait() -> str:
    event = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, event.set)
    await event.wait()
    return "event"


async def _wait_for_a_task() -> str:
    task = asyncio.ensure_future(asyncio.sleep(0.01, "slept"))
    done, _ = await asyncio.wait([task])
    return done.pop().result()


async def _bare_yields() -> str:
    for _ in range(3):
        await asyncio.sleep(0)
    return "yielded"


@pytest.mark.parametrize(("make", "expected"), [
    (_full_queue_put, "put"), (_event_wait, "event"), (_wait_for_a_task, "slept"),
    (_bare_yields, "yielded")])
def test_a_suspended_coroutine_runs_on_to_its_result(
        make: Callable[[], Coroutine[Any, Any, str]], expected: str) -> None:
    async def main() -> tuple[bool, str]:
        coro = make()
        finished, waiting = step(coro)
        return finished, await asyncio.ensure_future(resume(coro, waiting))

    assert asyncio.run(main()) == (False, expected)


def test_the_coroutine_reads_the_outcome_of_the_future_it_awaits() -> None:
    async def main() -> str:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def reads() -> str:
            try:
                await fut
            except KeyError:
                return "caught"
            return "no error"

        coro = reads()
        _, waiting = step(coro)
        asyncio.get_running_loop().call_later(0.01, fut.set_exception, KeyError("k"))
        return await resume(coro, waiting)

    assert asyncio.run(main()) == "caught"


@pytest.mark.parametrize("bare", [False, True])
def test_a_cancellation_reaches_the_coroutine(bare: bool) -> None:
    """As a task's ``cancel``: it cancels the future the coroutine awaits, or is thrown into
    the coroutine at a bare yield; either way the coroutine's ``finally`` runs."""
    cleaned: list[str] = []

    async def main() -> None:
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def waits() -> None:
            try:
                while bare:
                    await asyncio.sleep(0)
                await never
            finally:
                cleaned.append("finally")

        coro = waits()
        _, waiting = step(coro)
        task = asyncio.ensure_future(resume(coro, waiting))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert bare or never.cancelled()

    asyncio.run(main())
    assert cleaned == ["finally"]
