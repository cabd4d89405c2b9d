"""A batch's writes built once a series (stream.writes) leave Redis as per-slice writes do."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from contracts.events import SaleEvent
from contracts.wire import SeriesWrite
from stream.envelopes import pack_envelope
from stream.processor import BatchOutput, Message, Processor
from stream.writes import build, merge

DAY = 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY


def _envelopes(days: int = 8, per_day: int = 60, n_series: int = 25, size: int = 5,
               seed: int = 3) -> list[Message]:
    rng = random.Random(seed)
    events = [SaleEvent(f"S{rng.randrange(n_series)}", T0 + d * DAY + i * (DAY // per_day),
                        rng.randint(-1, 6), 2.5, id=f"e{d}.{i}")
              for d in range(days) for i in range(per_day)]
    return [Message(k, 0.0, pack_envelope(events[i:i + size])[1])
            for k, i in enumerate(range(0, len(events), size))]


def _slices(apply: Callable[..., BatchOutput], msgs: list[Message],
            size: int) -> list[BatchOutput]:
    """As :class:`stream.slicing.Slicer` applies a batch, with a fixed slice size."""
    fresh: dict[str, Any] = {}
    outs = []
    for i in range(0, len(msgs), size):
        out = apply(0, msgs[i:i + size], fresh.get)
        fresh.update(out.states)
        outs.append(out)
    return outs


def _redis(writes: list[SeriesWrite]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the sink's versioned writes leave: each series' newest live part and newest
    forecast part (the latter without its ``forecast_version``, compared on its own)."""
    live: dict[str, tuple[int, Any]] = {}
    part: dict[str, tuple[int, Any]] = {}
    for w in writes:
        if w.version > live.get(w.series, (-1, None))[0]:
            live[w.series] = (w.version, w.live)
        if w.forecast is not None and w.version > part.get(w.series, (-1, None))[0]:
            part[w.series] = (w.version, w.forecast)
    return live, part


def test_merge_keeps_the_last_state_the_highest_version_and_any_close() -> None:
    merged = merge([{"A": ("a1", 4, True)}, {"B": ("b", 5, False)},
                    {"A": ("a2", 7, False), "B": ("b2", 8, True)}])
    assert merged == {"A": ("a2", 7, True), "B": ("b2", 8, True)}
    assert merge([]) == {}


def test_a_batch_built_once_leaves_what_its_slices_writes_leave() -> None:
    msgs = _envelopes()
    per_slice = [w for out in _slices(Processor("t").process, msgs, 3) for w in out.writes]
    proc = Processor("t")
    outs = _slices(proc.apply, msgs, 3)
    assert sum(len(out.intents) for out in outs) == len(per_slice)
    asyncio.run(build(proc, 0, outs))
    once = outs[-1].writes
    assert all(not out.intents for out in outs) and all(not o.writes for o in outs[:-1])
    assert len({w.series for w in once}) == len(once) == len({w.series for w in per_slice})
    assert len(once) < len(per_slice) / 10  # 25 series, 96 messages in 32 slices
    live_a, part_a = _redis(per_slice)
    live_b, part_b = _redis(once)
    assert live_a == live_b
    assert part_a.keys() == part_b.keys() and len(part_a) == 25
    for sid, (version, part) in part_a.items():
        later = part_b[sid][1]
        assert later["forecast_version"] >= part["forecast_version"] == version
        assert dict(later, forecast_version=0) == dict(part, forecast_version=0), sid


def test_build_lets_the_event_loop_run_between_writes() -> None:
    proc = Processor("t")
    outs = _slices(proc.apply, _envelopes(days=3), 4)
    ran: list[int] = []

    async def main() -> None:
        async def beside() -> None:
            ran.append(len(outs[-1].writes))

        task = asyncio.ensure_future(beside())
        await build(proc, 0, outs, budget=0.0)
        await task

    asyncio.run(main())
    assert ran and 0 < ran[0] < len(outs[-1].writes)  # it ran while the writes were built


def test_release_frees_a_big_batch_s_writes_a_chunk_a_turn() -> None:
    """A partition's writes all sit in its last slice's output: freed at once, 20,000 held the
    event loop up for 125 ms (a review's probe)."""
    from stream.writes import RELEASE_CHUNK, release

    out = BatchOutput()
    out.writes.extend([None] * (2 * RELEASE_CHUNK + 5))  # type: ignore[list-item]
    outs = [(0, BatchOutput()), (0, out)]
    seen: list[int] = []

    async def main() -> None:
        async def beside() -> None:
            seen.append(len(out.writes))

        task = asyncio.ensure_future(beside())
        await release(outs)
        await task

    asyncio.run(main())
    assert outs == [] and out.writes == [] and 0 < seen[0] < 2 * RELEASE_CHUNK + 5
