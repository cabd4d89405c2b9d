"""A batch applied a slice at a time ends where the whole batch would, and the event loop runs
between slices."""

from __future__ import annotations

import asyncio
import pickle
import random
import time
from typing import Any

from contracts.events import SaleEvent
from stream.processor import Message, Processor
from stream.slicing import Slicer, yield_turns

DAY = 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY


def _messages(days: int = 20, per_day: int = 60, n_series: int = 25) -> list[Message]:
    rng = random.Random(3)
    msgs = []
    for day in range(days):
        for i in range(per_day):
            ev = SaleEvent(f"S{rng.randrange(n_series)}", T0 + day * DAY + i * (DAY // per_day),
                           rng.randint(0, 6), 2.0)
            msgs.append(Message(len(msgs), 0.0, ev.to_json()))
    return msgs


def _apply(batch: int, slicer: Slicer | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stored states and each series' last write, batches of ``batch`` messages."""
    proc, store, last = Processor("t"), {}, {}
    msgs = _messages()

    async def run() -> None:
        for i in range(0, len(msgs), batch):
            part = msgs[i:i + batch]
            outs = (await slicer.apply(proc.process, 0, part, store.get) if slicer
                    else [proc.process(0, part, store.get)])
            for out in outs:
                store.update(out.states)
                last.update({w.series: w for w in out.writes})

    asyncio.run(run())
    return {k: pickle.dumps(v) for k, v in store.items()}, last


def test_slices_end_where_the_whole_batch_ends() -> None:
    whole, whole_writes = _apply(400, None)
    sliced, sliced_writes = _apply(400, Slicer(budget=0.0, first=7))  # slices of 7, then 16
    assert sliced == whole  # every state, model rows included, byte for byte
    assert sliced_writes.keys() == whole_writes.keys()
    for sid, w in whole_writes.items():
        assert (sliced_writes[sid].version, sliced_writes[sid].live) == (w.version, w.live), sid


def test_the_loop_runs_between_slices() -> None:
    ticks: list[int] = []
    sizes: list[int] = []

    def process(partition: int, messages: list[int], get: Any) -> list[int]:
        sizes.append(len(messages))
        return messages

    async def run() -> list[Any]:
        async def tick() -> None:
            while True:
                ticks.append(len(sizes))
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)
        outs = await Slicer(budget=0.0, first=40).apply(process, 0, list(range(100)),
                                                        lambda key: None)
        ticker.cancel()
        return outs

    outs = asyncio.run(run())
    assert sizes == [40, 16, 16, 16, 12] and sum(outs, []) == list(range(100))
    assert {1, 2} <= set(ticks)  # the other task ran after the first and second slices


def _woken_after(turns: int) -> int:
    """How many pieces of busy work ran before a task whose timer fell due during the
    first piece ran, each piece followed by ``yield_turns(turns)``."""
    async def run() -> list[Any]:
        log: list[Any] = []

        async def sleeper() -> None:
            await asyncio.sleep(0.001)
            log.append("woke")

        task = asyncio.ensure_future(sleeper())
        await asyncio.sleep(0)  # the sleeper now waits on its timer
        for piece in range(4):
            end = time.perf_counter() + 0.003  # past the timer: due during the first piece
            while time.perf_counter() < end:
                pass
            log.append(piece)
            await yield_turns(turns)
        await task
        return log

    return asyncio.run(run()).index("woke")


def test_a_task_woken_by_a_timer_runs_right_after_the_piece_of_work_it_fell_due_in() -> None:
    assert _woken_after(1) == 3  # a bare yield: two more pieces ran first
    assert _woken_after(3) == 1
