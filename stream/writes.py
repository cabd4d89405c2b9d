"""A batch's Redis writes: one per series, built once the whole batch is applied.

The worker applies a batch a slice at a time (:mod:`stream.slicing`), and each slice notes
the write of every series it changed (``BatchOutput.intents``: the state, the write's
version, whether a bucket closed; :meth:`stream.processor.Processor.apply`). Built slice by
slice, a series touched by several slices of a batch was written once per slice, each write
superseded by the next (versions only grow): with envelopes of 100 events over 2,000
series, ~0.4 writes an event, where one a series a batch does. Building a write (its actuals,
its forecast) costs ~20 us and the sink's JSON and Redis ~13 us more.

:func:`merge` keeps one intent a series: the last slice's state and version, and a closed
bucket if any slice closed one (the forecast part then goes out, with the latest forecast).
:func:`build` builds them with the event loop free every ``budget`` seconds.

>>> merge([{"A": ("a1", 5, True), "B": ("b", 6, False)}, {"A": ("a2", 9, False)}])
{'A': ('a2', 9, True), 'B': ('b', 6, False)}
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from contracts.wire import SeriesWrite
from models.factory import Forecast
from models.grid import shift, starts
from stream.resident import Resident, forecast_states
from stream.series_state import BatchOutput, SeriesState
from stream.slicing import BUDGET, yield_turns
from stream.slicing import release as release_outputs

__all__ = ["Writer", "series_write", "merge", "build", "release"]

#: intents whose forecasts one bank call computes (~25 us a row; an interrupted chunk's rows
#: are still in the bank when the loop comes back: only its holder's rebalance takes them, and
#: that waits for the batch)
CHUNK = 128
RELEASE_CHUNK = 1000  # writes freed between two turns of the event loop (~8 ms)
UPDATE_HISTORY = 28  # closed buckets carried by each live update (the snapshot has them all)

Intent = tuple[Any, int, bool]  # (the series' state, the write's version, a bucket closed)


def merge(intents: Iterable[dict[str, Intent]]) -> dict[str, Intent]:
    """One intent a series from the slices' ``intents``, in order: the last state, the highest
    version, closed if any was."""
    merged: dict[str, Intent] = {}
    for slice_intents in intents:
        for sid, (st, version, closed) in slice_intents.items():
            prev = merged.get(sid)
            if prev is not None:
                version, closed = max(version, prev[1]), closed or prev[2]
            merged[sid] = (st, version, closed)
    return merged


async def build(processor: Writer, partition: int, outs: list[BatchOutput],
                budget: float = BUDGET) -> None:
    """The writes of ``outs`` (one partition's slices of a batch, in order), merged, into the
    last one's ``writes``; the event loop runs every ``budget`` seconds of building."""
    if not outs:
        return
    merged = merge(out.intents for out in outs)
    for out in outs:
        out.intents.clear()
    res, writes, todo = processor.banks.get(partition), outs[-1].writes, list(merged.values())
    started = time.perf_counter()
    for i in range(0, len(todo), CHUNK):
        chunk = todo[i:i + CHUNK]
        processor.forecasts_of([st for st, _, closed in chunk if closed], res)  # together
        for st, version, closed in chunk:
            writes.append(processor.series_write(st, version, closed, res))
            if time.perf_counter() - started > budget:
                await yield_turns()
                started = time.perf_counter()


def series_write(st: SeriesState, version: int, closed: bool, forecast: Forecast | None,
                 width: int) -> SeriesWrite:
    """What the sink writes for ``st``: the live part always; the forecast part (actuals and
    ``forecast``) when a bucket closed (``closed``). Notes ``version`` in ``st.written``."""
    st.written = max(st.written, version)
    open_ = max(st.buckets.open.items(), default=None)
    live = {
        "series": st.series,
        "version": version,
        "events": st.events,
        "event_ts": st.last_ts,
        "open": st.live_open if open_ is None else
        {"t": open_[0], "qty": open_[1].qty, "events": open_[1].n_events},
    }
    if not closed or st.origin is None:  # no bucket closed yet: no forecast part
        return SeriesWrite(st.series, version, st.last_ts, live, None, dict(live, kind="live"))
    part_f = None
    if forecast is not None:
        part_f = forecast.to_dict()
        part_f["t"] = starts(st.origin, shift(st.origin, forecast.horizon, width), width)
    actuals = st.actuals(width)
    # last: the latest closed bucket against what was forecast for it (the dashboard's error)
    part = {"bucket_seconds": width, "actuals": actuals, "forecast": part_f, "last": st.mover,
            "forecast_version": version}
    update = dict(live, kind="forecast", bucket_seconds=width, forecast=part_f,
                  actuals=actuals[-UPDATE_HISTORY:], last=st.mover)
    return SeriesWrite(st.series, version, st.last_ts, live, part, update)


async def release(outs: list[tuple[int, BatchOutput]]) -> None:
    """Free a batch's outputs: their writes :data:`RELEASE_CHUNK` a turn of the event loop,
    then the rest an output a turn (:func:`stream.slicing.release`). A partition's writes all
    sit in its last slice's output (:func:`build`): freed at once, 20,000 of them (~8 us each)
    held the loop up for 125 ms (a review's probe; 7.5 ms when each slice held its own)."""
    for _, out in outs:
        while out.writes:
            del out.writes[-RELEASE_CHUNK:]
            await yield_turns()
    await release_outputs(outs)


class Writer:
    """The model rows of the partitions a worker holds, and the Redis writes of their series
    (the base of :class:`~stream.processor.Processor`)."""

    def __init__(self, horizon: int, lstm: bool, width: int) -> None:
        self.horizon, self.lstm, self.width = horizon, lstm, width
        self.banks: dict[int, Resident] = {}  # partition -> its model rows (stream.resident)
        self._scratch: Resident | None = None  # forecasts of states no partition holds

    def resident(self, partition: int) -> Resident:
        if partition not in self.banks:
            self.banks[partition] = Resident(self.horizon, self.lstm, self.width)
        return self.banks[partition]

    def forget(self, keep: Iterable[Any] = ()) -> None:
        """On a rebalance: the banks go (rows reload from the states' bytes); the states in
        ``keep`` (those still to be flushed) get their rows' bytes first, the others (which
        the store no longer holds) are never pickled again."""
        kept = [st for st in keep if isinstance(st, SeriesState)]
        for res in self.banks.values():
            res.release(kept)
            res.detach()
        self.banks.clear()

    def forecast_of(self, st: SeriesState, res: Resident | None = None) -> Forecast | None:
        self.forecasts_of([st], res)
        return st.forecast

    def forecasts_of(self, states: list[SeriesState], res: Resident | None = None) -> None:
        """Recompute the forecast of each state's model (it is not pickled): in ``res``, else
        in the resident that holds it, the others together in a scratch one (a republish)."""
        todo = [st for st in states
                if st.forecast is None and st.origin is not None and st.modelled()]
        if todo and res is not None:
            res.forecasts(todo, self.horizon)
        elif todo:
            self._scratch = self._scratch or Resident(self.horizon, self.lstm, self.width)
            forecast_states(todo, list(self.banks.values()), self._scratch, self.horizon)

    def series_write(self, st: SeriesState, version: int, closed: bool,
                     res: Resident | None = None) -> SeriesWrite:
        """The live part always; the forecast part (actuals + forecast) when it changed."""
        f = self.forecast_of(st, res) if closed and st.origin is not None else None
        write = series_write(st, version, closed, f, self.width)
        if st.reconciled is None:  # a SKU's forecast is recomputed when needed: ~4.5 KB kept
            st.forecast = None
        return write

    def written(self, partition: int, out: BatchOutput) -> BatchOutput:
        """``out`` with the writes of its intents built (at once: the worker's go by
        :func:`build`)."""
        res, intents = self.banks.get(partition), list(out.intents.values())
        out.intents.clear()
        self.forecasts_of([st for st, _, closed in intents if closed], res)  # together
        out.writes.extend(self.series_write(*intent, res) for intent in intents)
        return out
