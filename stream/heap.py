"""The worker's heap: a cyclic garbage collector that never walks the long-lived objects, and
numpy arrays in plain pages, so that neither holds up the event loop for long.

A worker holds about nine objects that the collector tracks per series (its state, buckets,
history, alert list...), all living as long as the worker. Python's collector walks every
tracked object of a generation when it collects it, so its cost grows with the number of
series: with the thresholds the worker had before (50,000, 20, 100), loading 100,000 states
(a day close after a rebalance) ran one collection of the middle generation of 288 ms, and a
worker holding 100k series was held up for 360 ms at a time by collections that struck in
whatever code allocated (``unpack``, ``series_write``, a flush step).

:func:`tune` sets small thresholds (:data:`THRESHOLDS`) and, after every full collection,
moves every object left into the permanent generation (``gc.freeze``), which no collection
walks: a full collection then walks only what survived since the previous one. Loading the
same 100,000 states, the longest collection took 2-6 ms (the first, of the objects the
imports made, about 50 ms: :func:`tune` runs it at once, before any event).

NumPy asks the kernel for transparent huge pages for every array of 4 MB or more (``madvise``),
and on this machine a huge page's first touch was slow: writing a new 23 MB array row by row
took 45 ms with them and 10 ms without. The worker's model banks are such arrays, and every
new series' row touches fresh pages; :func:`tune` turns the advice off (NumPy's documented
switch, ``_set_madvise_hugepage``, as the ``NUMPY_MADVISE_HUGEPAGE=0`` variable does).

What this gives up: a frozen object that later becomes part of an unreachable cycle is never
freed (reference counting still frees everything else, which is almost everything a worker
frees). The one such cycle the worker made, a state and the resident bank that holds its row,
is broken by hand (:meth:`stream.resident.Resident.detach`). Collecting everything once at
every rebalance, to free such cycles, held the worker up for about a second at 100,000 series
and delayed the whole group's rebalance, so it does not. (Nor does the worker report
``gc.get_freeze_count()``: it counts the frozen objects one by one, ~100 ms at 100,000
series.)

>>> import gc
>>> before = gc.get_threshold()
>>> tune()
>>> assert gc.get_threshold() == THRESHOLDS and gc.get_freeze_count() > 0
>>> restore(before)
"""

from __future__ import annotations

import gc
from typing import Any

from numpy._core.multiarray import _set_madvise_hugepage  # type: ignore[attr-defined]

__all__ = ["THRESHOLDS", "restore", "tune"]

#: (young objects, young collections per middle one, middle ones per full one); Python's
#: default is (700, 10, 10). Compared on 100,000 states loaded with some churn, one core:
#: (2,000, 2, 2) made the shortest longest collection and the least collection time in all
#: (0.25 s, against 0.39 s with (5,000, 3, 2) and 0.41 s with (50,000, 20, 100) unfrozen).
THRESHOLDS = (2_000, 2, 2)


def _freeze_after_full(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def tune() -> None:
    """Set :data:`THRESHOLDS`, freeze what the program holds now (its imports), freeze what
    survives every full collection from now on, and make new numpy arrays of plain pages."""
    _set_madvise_hugepage(False)
    gc.set_threshold(*THRESHOLDS)
    if _freeze_after_full not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full)
    gc.collect()  # frozen by the callback


def restore(thresholds: tuple[int, int, int]) -> None:
    """Undo :func:`tune` (tests): ``thresholds`` again, nothing frozen, no freezing, numpy's
    huge page advice back on."""
    _set_madvise_hugepage(True)
    if _freeze_after_full in gc.callbacks:
        gc.callbacks.remove(_freeze_after_full)
    gc.unfreeze()
    gc.set_threshold(*thresholds)
