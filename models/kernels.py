"""Compiled row loops of the model bank, where numpy's whole-array steps cost most.

Two steps of a bucket close are loops over many small groups that numpy can only do with
temporaries as large as the bank (a sort of every group, gathers, cumulative sums):

* :func:`weighted_median`: per row and horizon, the ensemble's weighted median of its six
  members (``HorizonEnsemble._combine("median")``);
* :func:`select_ranks`: the order statistics of :mod:`models.orderstat` whose tracked value
  left its rank (a value crossed it, or the rank moved): the conformal bands' quantiles and
  the rolling medians.

Both are `numba <https://numba.pydata.org>`_ loops over the rows. They compute exactly what
the numpy code they replaced computed (the same comparisons, the same sequential sums; every
value returned is an element of the input), so the bank still equals the per-object stack to
the bit. Measured with ``taskset -c 1`` on 10,000 rows (one bucket of the worker's stack):
the weighted median 30 ms -> 11 ms, the bands' quantiles 13 ms -> 10 ms; ``salescast bench
models`` 10.1 -> 7.4 us per series. The price is numba's import and the compiled code,
about 130 MiB of RSS per process. Compiled code is cached on disk (``cache=True``) and
:func:`warm` loads it before the first close, so no close waits for a compilation.

>>> import numpy as np
>>> w = np.array([[[0.2], [0.5], [0.3]]])
>>> weighted_median(w, np.array([[[3.0], [1.0], [2.0]]])).tolist()
[[1.0]]
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["weighted_median", "select_ranks", "warm", "MAX_STEPS"]

#: A stale tracker walks to the next distinct value of its window this many times at most
#: (one scan each) before it sorts the window instead.
MAX_STEPS = 3
_HALF = 0.5 - 1e-12  # the cumulative weight the median's member first reaches


@njit(cache=True, nogil=True)
def _weighted_median(w: np.ndarray, v: np.ndarray, out: np.ndarray) -> None:
    rows, m, h = v.shape
    order = np.empty(m, dtype=np.int64)
    for r in range(rows):
        for k in range(h):
            for i in range(m):  # a stable insertion sort of the members by value
                order[i] = i
            for i in range(1, m):
                member, value, j = order[i], v[r, order[i], k], i - 1
                while j >= 0 and v[r, order[j], k] > value:
                    order[j + 1] = order[j]
                    j -= 1
                order[j + 1] = member
            total, pick = 0.0, m - 1
            for i in range(m):
                total += w[r, order[i], k]
                if not total < _HALF:
                    pick = i
                    break
            out[r, k] = v[r, order[pick], k]


def weighted_median(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per row and horizon, the member value where the cumulative weight (members sorted by
    value, ties by member order) first reaches 1/2. ``w``, ``v``: ``(K, m, h)``; ``(K, h)``."""
    out = np.empty((v.shape[0], v.shape[2]), dtype=np.float64)
    _weighted_median(np.asarray(w, dtype=np.float64), np.asarray(v, dtype=np.float64), out)
    return out


@njit(cache=True, nogil=True)
def _select(values: np.ndarray, q: np.ndarray, lt: np.ndarray, le: np.ndarray,
            idx: np.ndarray, rank: np.ndarray, out: np.ndarray) -> None:
    width, ranks = values.shape[1], q.shape[1]
    for j in range(idx.shape[0]):
        w = idx[j]
        for i in range(ranks):
            r, cur, below, upto = rank[j, i], q[w, i], lt[w, i], le[w, i]
            steps = 0
            while not (below <= r < upto) and steps < MAX_STEPS:
                steps += 1
                down = r < below
                nxt = -np.inf if down else np.inf
                found = False
                for s in range(width):  # the next distinct value below (above) cur
                    x = values[w, s]
                    if (x < cur and (not found or x > nxt)) if down else \
                            (x > cur and (not found or x < nxt)):
                        nxt, found = x, True
                if not found:
                    break
                below, upto = 0, 0
                for s in range(width):
                    x = values[w, s]
                    below += x < nxt
                    upto += x <= nxt
                cur = nxt
            if not below <= r < upto:  # far away, or no such value: sort the window
                cur = np.sort(values[w])[r]
                below, upto = 0, 0
                for s in range(width):
                    x = values[w, s]
                    below += x < cur
                    upto += x <= cur
            q[w, i], lt[w, i], le[w, i] = cur, below, upto
            out[j, i] = cur


def select_ranks(values: np.ndarray, q: np.ndarray, lt: np.ndarray, le: np.ndarray,
                 idx: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """:func:`models.orderstat.select`'s answer: the rank-``rank[j, i]`` values of windows
    ``idx[j]``, updating the trackers ``q``/``lt``/``le`` in place."""
    out = np.empty(rank.shape, dtype=q.dtype)
    _select(values, q, lt, le, np.asarray(idx, dtype=np.int64),
            np.asarray(rank, dtype=np.int64), out)
    return out


def warm() -> None:
    """Compile (or load from the disk cache) every kernel for the dtypes the bank uses, so
    that the first bucket close does not wait for it."""
    weighted_median(np.full((1, 2, 1), 0.5), np.zeros((1, 2, 1)))
    for dt in (np.float32, np.float64):
        values = np.zeros((1, 2), dtype=dt)
        select_ranks(values, np.full((1, 1), np.inf), np.zeros((1, 1), dtype=np.int32),
                     np.full((1, 1), 2, dtype=np.int32), np.zeros(1, dtype=np.int64),
                     np.zeros((1, 1), dtype=np.int64))
