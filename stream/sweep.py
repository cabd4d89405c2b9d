"""The eager close: once a partition's watermark makes a bucket due, every series of the
partition closes it, quiet ones included, a chunk at a time.

The processor closes a series' buckets when the watermark passes them and the series has an
open bucket (its events put it on the partition's due heap). A series that sold nothing
since its last close has no open bucket: without this, its zeros would wait for its next
event, and its forecast would stay dated from its last sale. :class:`Sweeper` makes one pass
over the partition's series for each newly due bucket and hands them to
:func:`close_due` in chunks sized to take about ``budget`` seconds
each, so that the event loop (Kafka heartbeats, the next batch) never waits long, whatever
the number of series. A row learns the same whether its buckets close in a pass or when its
next event comes (:func:`stream.bank_rows.learn_due`), so a pass cut short by a crash or a
rebalance changes no forecast: the series close later, to the same values.

The worker runs the chunks between batches (:mod:`stream.agents`), so they are applied, sent
and flushed like a batch; its ops figure ``sweep_pending`` counts the series a pass has
still to look at.

>>> home = partition_for("A", 4)
>>> series_of(["s:A", "p:0", "total"], home, 4), series_of(["s:A"], (home + 1) % 4, 4)
(['s:A'], [])
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from stream.bank_rows import collect, learn_closed
from stream.partitioning import partition_for
from stream.processor import BatchOutput, Processor
from stream.series_state import PartitionState, SeriesState, partition_key, series_key
from stream.slicing import resize, yield_turns

__all__ = ["Sweeper", "close_due", "series_of"]

#: target seconds of one chunk (the issue's budget for a stall of the event loop is 50 ms; on
#: two cores shared with the broker and the consumer thread, a chunk's wall time runs to 2-3
#: times its CPU time). 10 ms: `bench stall` 43-66 ms in six runs, 20 ms 53-96 (alternated)
BUDGET = 0.01
FIRST_CHUNK = 128  # series in the first chunk, before any has been timed
MIN_CHUNK, MAX_CHUNK = 8, 8192  # series that close in one chunk
SCAN = 1024  # series one step looks at, at most (most may have nothing due)


def series_of(keys: Iterable[str], partition: int, partitions: int) -> list[str]:
    """The keys among ``keys`` of the series (``s:<series>``) that live on ``partition`` of
    ``partitions``: the :meth:`Sweeper.step` ``keys`` of a store that does not know which
    partition each key belongs to (hashing a series takes about 4 us)."""
    return [k for k in keys
            if k.startswith("s:") and partition_for(k[2:], partitions) == partition]


def close_due(proc: Processor, partition: int, names: Iterable[str],
              get: Callable[[str], Any]) -> BatchOutput:
    """Close each of ``names``' buckets that ``partition``'s watermark made due, as its next
    event would (a quiet series learns its zeros now). The writes carry the offset of the
    message that made the last bucket due (``PartitionState.due_offset``): newer than any
    write of a series that had nothing open then (one with an open bucket closed at that very
    message), and the same whoever sweeps, so a worker that takes the partition over after
    a crash writes what its previous owner wrote, or something newer."""
    out, pkey = BatchOutput(), partition_key(partition)
    pstate: PartitionState | None = get(pkey)
    wm = None if pstate is None else pstate.clock.watermark
    if pstate is None or wm is None:
        return out
    pstate.claim(partition, proc.topic, proc.aggregate_by)
    res, agg = proc.resident(partition), proc.aggregation
    dues, swept = [], []
    for sid in names:  # (a row learns the same either way: bank_rows.learn_due)
        st: SeriesState | None = get(series_key(sid))
        if st is None or st.buckets.due_at > wm or (agg and agg.grouping.reserved(sid)):
            continue
        closed = st.buckets.close_due(wm)
        dues.append(collect(st, closed, out, proc.history))
        out.closed += len(closed)
        swept.append(st)
    if swept:
        learn_closed(res, dues, out, pstate.activity, swept, proc.path_provider,
                     proc.holidays)
        for st in swept:
            out.states[series_key(st.series)] = st
            out.intents[st.series] = (st, pstate.due_offset, True)
        proc.written(partition, out)
        out.states[pkey] = pstate  # put last again: never flushed ahead of its series
    return out


@dataclass
class _Pass:
    until: int  # the end of the last bucket it closes
    todo: list[str]  # series still to look at, the next one last


class Sweeper:
    """The passes of one worker's partitions, and how many series a chunk takes."""

    def __init__(self, processor: Processor, budget: float = BUDGET) -> None:
        self.processor, self.budget = processor, budget
        self.chunk = FIRST_CHUNK
        self.passes: dict[int, _Pass] = {}
        self.swept = 0  # series that a chunk closed buckets of, ever
        self._turn = 0  # the partition whose chunk comes next (or the next one above it)

    def _due(self, partition: int, get: Callable[[str], Any]) -> tuple[PartitionState, int,
                                                                        bool] | None:
        """The partition's state, the end of its last due bucket, and whether that asks for
        a new pass (None: nothing fell due yet, or the partition count is unknown)."""
        pstate: PartitionState | None = get(partition_key(partition))
        if pstate is None or pstate.due_until is None or self.processor.partitions is None:
            return None
        p = self.passes.get(partition)
        return pstate, pstate.due_until, p is None or p.until < pstate.due_until

    def has_work(self, partition: int, get: Callable[[str], Any]) -> bool:
        due = self._due(partition, get)
        return due is not None and (due[2] or bool(self.passes[partition].todo))

    def pending(self) -> int:
        """Series the current passes have still to look at."""
        return sum(len(p.todo) for p in self.passes.values())

    def step(self, partition: int, get: Callable[[str], Any],
             keys: Callable[[int], Iterable[str]]) -> BatchOutput | None:
        """Close the due buckets of the next chunk of ``partition``'s series that have some
        (``keys(partition)``: the state keys the worker holds of it, read when a pass starts);
        None when its pass is over."""
        due = self._due(partition, get)
        if due is None:
            return None
        pstate, until, new = due
        if new:  # a bucket fell due: every series again
            names = [k[2:] for k in keys(partition) if k.startswith("s:")]
            self.passes[partition] = _Pass(until, sorted(names, reverse=True))
            return BatchOutput()  # its first chunk in a turn of its own (this took ~50 ms)
        p = self.passes[partition]
        if not p.todo:
            return None
        wm = pstate.clock.watermark
        assert wm is not None
        started = time.perf_counter()  # the look included
        names = []  # up to a chunk of series with a due bucket, looked for among at most
        for _ in range(min(SCAN, len(p.todo))):  # SCAN (a first look unpickles: ~30 us)
            st: SeriesState | None = get(series_key(sid := p.todo.pop()))
            if st is not None and st.buckets.due_at <= wm:
                names.append(sid)
                if len(names) == self.chunk:
                    break
        if not names:
            return BatchOutput()
        out = close_due(self.processor, partition, names, get)
        took = time.perf_counter() - started
        self.chunk = resize(self.chunk, len(names), took, self.budget, MIN_CHUNK, MAX_CHUNK)
        self.swept += len(out.writes)
        return out

    async def run(self, turn: Callable[[], bool], owned: Callable[[], Iterable[int]],
                  get: Callable[[str], Any], keys: Callable[[int], Iterable[str]],
                  emit: Callable[[list[tuple[int, BatchOutput]]], Awaitable[object]]) -> None:
        """Chunks of every ``owned`` partition's pass, each handed to ``emit`` (which sends
        and stores it as a batch): one, then more while ``turn()`` (no batch is waiting) and
        work is left. (One that closes something at least: under load a batch is always
        waiting.)"""
        wrote = False
        while True:
            parts = sorted(owned(), key=lambda p: (p < self._turn, p))  # a partition a step
            out = next(((p, o) for p in parts if (o := self.step(p, get, keys)) is not None),
                       None)
            if out is None:
                return
            self._turn = out[0] + 1
            if out[1].writes:
                await emit([out])
                wrote = True
            await yield_turns()  # Kafka's heartbeats; a batch that came meanwhile
            if wrote and not turn():
                return

    def forget(self) -> None:
        """On a rebalance: the passes start again once partitions are assigned."""
        self.passes.clear()
