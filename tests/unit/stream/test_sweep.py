"""The eager close: quiet series close their due buckets in chunks, and learn what their
next event would have made them learn."""

from __future__ import annotations

import asyncio
import functools
import json
import pickle
import random

import numpy as np
import pytest

from contracts.events import SaleEvent
from contracts.wire import dumps
from stream.commits import BatchGate
from stream.partitioning import partition_for
from stream.processor import BatchOutput, Message, Processor
from stream.sweep import Sweeper, series_of

DAY = 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY


def _messages(days: int, seed: int = 0) -> list[Message]:
    """16 series of one partition: busy ones, intermittent ones, and two that fall silent
    (one for good from day 20, one for 9 days from day 30)."""
    rng = random.Random(seed)
    rates = [rng.choice([0.3, 1.0, 4.0, 12.0]) for _ in range(16)]
    msgs: list[Message] = []
    for day in range(days):
        for s, rate in enumerate(rates):
            if (s == 0 and day >= 20) or (s == 1 and 30 <= day < 39):
                continue
            qty = int(np.random.default_rng(seed * 9973 + day * 31 + s).poisson(rate))
            if qty:
                ts = T0 + day * DAY + rng.randrange(DAY - 60)
                msgs.append(Message(len(msgs), ts,
                                    SaleEvent(f"S{s:02d}", ts, qty, 1.5).to_json()))
    msgs.sort(key=lambda m: json.loads(m.value)["ts"])
    return [Message(i, m.timestamp, m.value) for i, m in enumerate(msgs)]


def _apply(store: dict, out: BatchOutput) -> None:
    store.update({k: pickle.loads(pickle.dumps(v)) for k, v in out.states.items()})


def _sweep_all(sweeper: Sweeper, store: dict) -> list[BatchOutput]:
    outs = []
    keys = functools.partial(series_of, store, partitions=1)
    while (out := sweeper.step(0, store.get, lambda p: keys(partition=p))) is not None:
        _apply(store, out)
        outs.append(out)
    return outs


def _view(store: dict) -> dict[str, tuple]:
    """What a series publishes: its closed values, origin, forecast, mover and alerts."""
    proc = Processor("t")
    return {k: (list(st.history), st.origin, json.loads(dumps(proc.forecast_of(
                pickle.loads(pickle.dumps(st))).to_dict())), st.mover, st.alerts)
            for k, st in store.items() if k.startswith("s:")}


def _near(a: object, b: object) -> bool:
    """Equal, floats to 1e-9 (numpy's vectorised ``expm1`` may round an ulp apart)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_near(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_near(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-9)
    return a == b


def test_a_quiet_series_closes_its_zeros_and_is_dated_like_the_others() -> None:
    proc = Processor("t", partitions=1, event_time="replay")
    store: dict = {}
    msgs = _messages(28)
    for i in range(0, len(msgs), 50):
        _apply(store, proc.process(0, msgs[i:i + 50], store.get))
    quiet, busy = store["s:S00"], store["s:S03"]
    assert quiet.origin == T0 + 20 * DAY < busy.origin  # silent from day 20: not closed since
    outs = _sweep_all(Sweeper(proc), store)
    quiet = store["s:S00"]
    assert quiet.origin == busy.origin
    assert list(quiet.history)[-(busy.origin - T0 - 20 * DAY) // DAY:] == [0.0] * (
        (busy.origin - T0 - 20 * DAY) // DAY)
    writes = {w.series: w for out in outs for w in out.writes}
    assert writes["S00"].version == store["p:0"].due_offset > max(quiet.positions.values())
    assert writes["S00"].forecast["forecast"]["t"][0] == busy.origin
    assert "S03" not in writes  # nothing of it was due: its events closed it already


def test_a_republish_writes_a_swept_series_at_its_sweep_s_version() -> None:
    """Redis refuses a write not newer than what it holds: republished at its last event's
    offset (what Redis held before the sweep, when the sweep's write was skipped for an
    outage), a quiet series would keep its forecast of before the sweep for good."""
    from stream.sink import RedisSink

    proc = Processor("t", partitions=1, event_time="replay")
    store: dict = {}
    _apply(store, proc.process(0, _messages(28), store.get))
    _sweep_all(Sweeper(proc), store)
    quiet = store["s:S00"]
    assert quiet.written == store["p:0"].due_offset > max(quiet.positions.values())
    sink, written = RedisSink("redis://127.0.0.1:1/0"), []  # never connected

    async def write(writes: list) -> int:
        written.extend(writes)
        return len(writes)

    async def nothing(*args: object, **kwargs: object) -> None:
        pass

    async def marker_kept(*args: object) -> int:
        return 1

    sink.write, sink.write_movers, sink.write_alerts = write, nothing, nothing  # type: ignore
    sink.redis = type("Epoch", (), {"set": nothing, "exists": marker_kept})()  # type: ignore
    asyncio.run(sink.republish([quiet, store["s:S03"]], proc))
    versions = {w.series: w.version for w in written}
    assert versions == {"S00": quiet.written, "S03": store["s:S03"].written}
    # (a busy series too: its last bucket closed at a message of another series)
    assert versions["S03"] > max(store["s:S03"].positions.values())


def test_the_version_of_a_swept_write_is_the_offset_that_made_its_bucket_due() -> None:
    """Whoever replays the partition gets the same version: a worker taking it over after a
    crash never writes older than what its previous owner wrote."""
    proc = Processor("t", partitions=1, event_time="replay")
    store: dict = {}
    crossed = {}  # due_until -> offset of the message that got there
    for m in _messages(28):
        _apply(store, proc.process(0, [m], store.get))
        crossed.setdefault(store["p:0"].due_until, m.offset)
    pstate = store["p:0"]
    assert pstate.due_offset == crossed[pstate.due_until] < pstate.position
    msgs = _messages(28)
    again: dict = {}
    for i in range(0, len(msgs) // 2, 97):  # in other batches
        _apply(again, Processor("t", partitions=1, event_time="replay").process(
            0, msgs[i:i + 97], again.get))
    later = Processor("t", partitions=1, event_time="replay")  # a restart from the changelog
    _apply(again, later.process(0, msgs[len(msgs) // 2 - 50:], again.get))  # some again
    assert again["p:0"].due_offset == pstate.due_offset


def test_rows_learn_the_same_whether_a_sweep_closes_their_zeros_or_their_next_event() -> None:
    """The eager worker sweeps after every batch; the lazy one only once, at the end (its
    quiet series close many buckets at once when touched). Both publish the same."""
    msgs = _messages(60, seed=3)
    eager, lazy = (Processor("t", partitions=1, event_time="replay") for _ in range(2))
    sweeper = Sweeper(eager, budget=1e-6)  # the smallest chunks: many steps per pass
    stores: tuple[dict, dict] = ({}, {})
    swept = 0
    for i in range(0, len(msgs), 37):
        _apply(stores[0], eager.process(0, msgs[i:i + 37], stores[0].get))
        swept += sum(out.closed for out in _sweep_all(sweeper, stores[0]))
        _apply(stores[1], lazy.process(0, msgs[i:i + 37], stores[1].get))
    _sweep_all(Sweeper(lazy), stores[1])
    print("buckets the sweeps closed:", swept)
    assert swept > 40  # the sweeps did close buckets along the way, in small chunks
    assert sweeper.chunk == 8 and sweeper.pending() == 0
    eager_view, lazy_view = _view(stores[0]), _view(stores[1])
    assert eager_view.keys() == lazy_view.keys()
    for key, got in eager_view.items():
        assert got[:2] == lazy_view[key][:2], key
        assert _near(got[2], lazy_view[key][2]), key
        assert got[3:] == lazy_view[key][3:], key


def test_a_pass_starts_when_a_bucket_falls_due_and_ends_when_every_series_was_seen() -> None:
    proc = Processor("t", partitions=1, event_time="replay")
    sweeper = Sweeper(proc)
    store: dict = {}
    assert not sweeper.has_work(0, store.get)  # no watermark yet
    msgs = _messages(10)
    _apply(store, proc.process(0, msgs, store.get))
    assert sweeper.has_work(0, store.get)
    _sweep_all(sweeper, store)
    assert not sweeper.has_work(0, store.get) and sweeper.pending() == 0
    later = [m for m in _messages(12) if json.loads(m.value)["ts"] >= T0 + 10 * DAY]
    _apply(store, proc.process(0, [Message(len(msgs) + i, m.timestamp, m.value)
                                    for i, m in enumerate(later)], store.get))
    assert sweeper.has_work(0, store.get)  # day 10 fell due
    sweeper.forget()
    assert sweeper.has_work(0, store.get)
    assert Sweeper(Processor("t")).step(0, store.get, lambda p: list(store)) is None  # no
    # partition count: which series live on the partition is unknown


def test_a_pass_is_read_in_a_step_of_its_own_and_short_chunks_do_not_grow_the_chunk() -> None:
    proc = Processor("t", partitions=1, event_time="replay")
    sweeper = Sweeper(proc, budget=10.0)  # every chunk well within it
    sweeper.chunk = 1000  # more than the partition's 16 series
    store: dict = {}
    _apply(store, proc.process(0, _messages(10), store.get))
    keys = functools.partial(series_of, store, partitions=1)
    first = sweeper.step(0, store.get, lambda p: keys(partition=p))
    assert first is not None and not first.writes and sweeper.pending() > 0  # read only
    second = sweeper.step(0, store.get, lambda p: keys(partition=p))
    assert second is not None and second.writes
    assert sweeper.chunk == 1000  # (sized on the chunk of 1000 it was not: 8,192)


def test_the_gate_runs_a_batch_after_the_sweep_before_it_and_the_sweep_sees_it_waits() -> None:
    async def main() -> list[str]:
        gate, seen = BatchGate(), []

        async def sweep() -> None:
            while gate.latest():
                seen.append("chunk")
                await asyncio.sleep(0)
            seen.append("sweep stops")

        async def batch() -> None:
            seen.append("batch")

        first = gate.run(sweep())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        second = gate.run(batch())
        await second
        assert first.done() and gate.idle()
        return seen

    seen = asyncio.run(main())
    assert seen[-2:] == ["sweep stops", "batch"] and "chunk" in seen


def test_run_takes_one_partition_a_step_in_turn_and_at_least_one_step() -> None:
    proc = Processor("t", partitions=2, event_time="replay")
    store: dict = {}
    by_part: dict[int, list[Message]] = {0: [], 1: []}
    for m in _messages(40):
        by_part[partition_for(json.loads(m.value)["series"], 2)].append(m)
    for p, msgs in by_part.items():
        _apply(store, proc.process(p, [Message(i, m.timestamp, m.value)
                                       for i, m in enumerate(msgs)], store.get))
    sweeper = Sweeper(proc, budget=1e-6)
    sweeper.chunk = 1  # then 8 (the least): several steps per partition
    emitted: list[int] = []

    async def emit(outs: list[tuple[int, BatchOutput]]) -> None:
        assert len(outs) == 1
        emitted.append(outs[0][0])
        _apply(store, outs[0][1])

    keys = functools.partial(series_of, store, partitions=2)
    asyncio.run(sweeper.run(lambda: False, lambda: {0, 1}, store.get,
                            lambda p: keys(partition=p), emit))
    assert len(emitted) == 1  # a batch is waiting: one step, then the batch
    asyncio.run(sweeper.run(lambda: True, lambda: {0, 1}, store.get,
                            lambda p: keys(partition=p), emit))
    assert len(emitted) >= 3 and emitted[0] != emitted[1] and sweeper.pending() == 0
    assert not any(sweeper.has_work(p, store.get) for p in (0, 1))


def _redis(writes: list, held: dict[str, tuple[int, dict]]) -> None:
    """Apply writes as the sink's Lua script does: only a newer version; the forecast part
    only with its write."""
    for w in writes:
        v, part = held.get(w.series, (-1, None))
        if w.version > v:
            held[w.series] = (w.version, json.loads(dumps(w.forecast)) if w.forecast else part)


def test_a_capped_batch_leaves_closes_to_the_sweep_and_redis_ends_the_same() -> None:
    """Past the cap, due series close in the next batches or the sweep, whose writes carry
    the offset that made the bucket due: Redis, which keeps only newer versions, ends with
    the forecasts of a worker without a cap."""
    msgs = _messages(40, seed=5)
    capped = Processor("t", partitions=1, event_time="replay", max_closes=2)
    free = Processor("t", partitions=1, event_time="replay")
    sweeper = Sweeper(capped)
    stores: tuple[dict, dict] = ({}, {})
    held: tuple[dict, dict] = ({}, {})
    most, i = 0, 0
    for size in [29, 200, 7, 350, 61] * 40:
        if i >= len(msgs):
            break
        out = capped.process(0, msgs[i:i + size], stores[0].get)
        most = max(most, len({sid for sid, _ in out.buckets}))
        _apply(stores[0], out)
        _redis(out.writes, held[0])
        if size == 7:  # now and then, the eager close between batches
            for swept in _sweep_all(sweeper, stores[0]):
                _redis(swept.writes, held[0])
        out = free.process(0, msgs[i:i + size], stores[1].get)
        _apply(stores[1], out)
        _redis(out.writes, held[1])
        i += size
    for swept in _sweep_all(sweeper, stores[0]):
        _redis(swept.writes, held[0])
    for swept in _sweep_all(Sweeper(free), stores[1]):
        _redis(swept.writes, held[1])
    assert most > 2  # beside the cap: the series with an event at the message
    assert held[0].keys() == held[1].keys()
    for sid, (_, part) in held[0].items():
        other = held[1][sid][1]
        assert part is not None and other is not None
        assert part["actuals"] == other["actuals"] and part["last"] == other["last"], sid
        assert _near(part["forecast"], other["forecast"]), sid
