"""Compiled loops over many sliding windows: :mod:`models.orderstat`'s rings and trackers,
and a close of the conformal bands (:class:`~models.bank_bands.BandBank`).

* :func:`push_values`: a value into the oldest slot of each window, each tracker's counts
  moved by two comparisons;
* :func:`select_ranks`: the tracked order statistics; a tracker whose value left its rank
  walks to the next distinct value of its window (branch-free scans, which vectorise), and
  sorts the window only when the rank is more than :data:`MAX_STEPS` values away;
* :func:`band_step` and :func:`band_widths`: ``BandBank.update`` (the errors, miss rates and
  windows), and ``ConformalInterval._quantiles`` for many rows.

Every value returned is an element of a window and every formula and dtype is the numpy
code's (``tests/unit/models/test_window_kernels.py``) and the per-object code's, so the bank
still equals the per-object stack to the bit (``tests/unit/models/test_bank.py``).
Why compiled, and what it costs: :mod:`models.kernels`.

>>> import numpy as np
>>> values = np.array([[4.0, 1.0, 3.0, np.inf]])
>>> q, lt, le = np.full((1, 1), np.inf), np.zeros((1, 1), np.int32), np.ones((1, 1), np.int32)
>>> select_ranks(values, q, lt, le, np.array([0]), np.array([[1]])).tolist()
[[3.0]]
>>> lt.tolist(), le.tolist()
([[1]], [[2]])
"""

from __future__ import annotations

import numpy as np
from numba import njit

from models.pending import cells_of

__all__ = ["push_values", "select_ranks", "band_step", "band_widths", "warm", "MAX_STEPS"]

#: A stale tracker walks to the next distinct value of its window this many times at most
#: (one scan each) before it sorts the window instead.
MAX_STEPS = 3


@njit(cache=True, nogil=True, inline="always")
def _push_one(values: np.ndarray, ptr: np.ndarray, q: np.ndarray, lt: np.ndarray,
              le: np.ndarray, w: int, v: float) -> None:
    """``v`` into the oldest slot of window ``w``; its trackers' counts moved."""
    slot = ptr[w]
    old = values[w, slot]
    values[w, slot] = v
    new = values[w, slot]  # as stored (cast to the rings' dtype)
    ptr[w] = 0 if slot + 1 == values.shape[1] else slot + 1
    for i in range(q.shape[1]):
        qi = q[w, i]
        lt[w, i] += (new < qi) - (old < qi)
        le[w, i] += (new <= qi) - (old <= qi)


@njit(cache=True, nogil=True)
def _push(values: np.ndarray, ptr: np.ndarray, q: np.ndarray, lt: np.ndarray, le: np.ndarray,
          idx: np.ndarray, v: np.ndarray) -> None:
    for j in range(idx.shape[0]):
        _push_one(values, ptr, q, lt, le, idx[j], v[j])


def push_values(values: np.ndarray, ptr: np.ndarray, q: np.ndarray, lt: np.ndarray,
                le: np.ndarray, idx: np.ndarray, v: np.ndarray) -> None:
    """:func:`models.orderstat.push`: ``v[j]`` into the oldest slot of window ``idx[j]``, the
    trackers' counts moved by the two comparisons with their value."""
    _push(values, ptr, q, lt, le, np.asarray(idx, dtype=np.int64), np.asarray(v))


# The scans below compare in the window's own dtype: a tracker's value is always one of its
# window's values (or +-inf), so casting it to a float32 window's dtype is exact, and a float32
# scan runs twice the lanes of one that widens every value to float64.


@njit(cache=True, nogil=True)
def _next_below(values: np.ndarray, w: int, cur: float) -> float:
    """The largest value of window ``w`` below ``cur`` (-inf: none); branch-free, so it
    vectorises."""
    c, none = values.dtype.type(cur), values.dtype.type(-np.inf)
    out = none
    for s in range(values.shape[1]):
        x = values[w, s]
        out = max(out, x if x < c else none)
    return out


@njit(cache=True, nogil=True)
def _next_above(values: np.ndarray, w: int, cur: float) -> float:
    """The smallest value of window ``w`` above ``cur`` (+inf: none, or the empty slots)."""
    c, none = values.dtype.type(cur), values.dtype.type(np.inf)
    out = none
    for s in range(values.shape[1]):
        x = values[w, s]
        out = min(out, x if x > c else none)
    return out


@njit(cache=True, nogil=True)
def _counts(values: np.ndarray, w: int, at: float) -> tuple[int, int]:
    """How many values of window ``w`` are below ``at``, and at or below it."""
    a = values.dtype.type(at)
    below, upto = 0, 0
    for s in range(values.shape[1]):
        x = values[w, s]
        below += x < a
        upto += x <= a
    return below, upto


@njit(cache=True, nogil=True)
def _ranked(values: np.ndarray, q: np.ndarray, lt: np.ndarray, le: np.ndarray, w: int, i: int,
            r: int) -> float:
    """The rank-``r`` value of window ``w`` from its tracker ``i`` (updated in place)."""
    cur, below, upto = q[w, i], lt[w, i], le[w, i]
    steps = 0
    while not (below <= r < upto) and steps < MAX_STEPS:
        steps += 1
        if r < below:  # some value lies below cur
            cur = _next_below(values, w, cur)
        elif upto < values.shape[1]:  # some value lies above it
            cur = _next_above(values, w, cur)
        else:
            break
        below, upto = _counts(values, w, cur)
    if not below <= r < upto:  # far away: sort the window
        cur = np.sort(values[w])[r]
        below, upto = _counts(values, w, cur)
    q[w, i], lt[w, i], le[w, i] = cur, below, upto
    return cur


@njit(cache=True, nogil=True)
def _select(values: np.ndarray, q: np.ndarray, lt: np.ndarray, le: np.ndarray,
            idx: np.ndarray, rank: np.ndarray, out: np.ndarray) -> None:
    for j in range(idx.shape[0]):
        w = idx[j]
        for i in range(q.shape[1]):
            r = rank[j, i]
            valid = lt[w, i] <= r < le[w, i]  # the common case, inline
            out[j, i] = q[w, i] if valid else _ranked(values, q, lt, le, w, i, r)


def select_ranks(values: np.ndarray, q: np.ndarray, lt: np.ndarray, le: np.ndarray,
                 idx: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """:func:`models.orderstat.select`'s answer: the rank-``rank[j, i]`` values of windows
    ``idx[j]``, updating the trackers ``q``/``lt``/``le`` in place."""
    out = np.empty(rank.shape, dtype=q.dtype)
    _select(values, q, lt, le, np.asarray(idx, dtype=np.int64),
            np.asarray(rank, dtype=np.int64), out)
    return out


@njit(cache=True, nogil=True)
def _band_widths(res: np.ndarray, tq: np.ndarray, tlt: np.ndarray, tle: np.ndarray,
                 rows: np.ndarray, count: np.ndarray, alphas: np.ndarray, min_n: int,
                 sqrt_k: np.ndarray, order: np.ndarray, q: np.ndarray) -> None:
    levels, h = alphas.shape[1], alphas.shape[2]
    for row in rows:
        for k in range(h):
            cnt = count[row, k]
            for lv in range(levels):
                rank = int(np.ceil((cnt + 1) * (1.0 - alphas[row, lv, k]) - 1e-9))
                rank = min(max(rank, 1), max(cnt, 1)) - 1
                w = row * h + k
                valid = tlt[w, lv] <= rank < tle[w, lv]  # the common case, inline
                q[row, lv, k] = tq[w, lv] if valid else _ranked(res, tq, tlt, tle, w, lv, rank)
        for k in range(h):  # too few residuals: horizon 1's width times sqrt(k)
            if count[row, k] < min_n:
                for lv in range(levels):
                    q[row, lv, k] = np.float32(q[row, lv, 0] * sqrt_k[k])
        for j in range(1, levels):  # no level narrower than a lower one (``order``)
            lower, upper = order[j - 1], order[j]
            for k in range(h):
                q[row, upper, k] = max(q[row, upper, k], q[row, lower, k])


def band_widths(res: np.ndarray, tq: np.ndarray, tlt: np.ndarray, tle: np.ndarray,
                rows: np.ndarray, count: np.ndarray, alphas: np.ndarray, min_n: int,
                sqrt_k: np.ndarray, order: np.ndarray, q: np.ndarray) -> None:
    """``ConformalInterval._quantiles`` for ``rows`` of a :class:`~models.bank_bands.BandBank`:
    each level's and horizon's conformal rank of its residual window (``res``, ``(rows *
    h, W)``; trackers ``tq``/``tlt``/``tle`` ``(rows * h, levels)``) from the window's count
    and miss rate, written into ``q`` ``(rows, levels, h)``; horizons with fewer than
    ``min_n`` residuals get horizon 1's width times ``sqrt_k``, in float32; then no level
    (``order``: their indices, narrowest coverage first) is narrower than the one before."""
    _band_widths(res, tq, tlt, tle, np.asarray(rows, dtype=np.int64), count, alphas,
                 int(min_n), sqrt_k, np.asarray(order, dtype=np.int64), q)


@njit(cache=True, nogil=True)
def _band_step(res: np.ndarray, ptr: np.ndarray, count: np.ndarray, tq: np.ndarray,
               tlt: np.ndarray, tle: np.ndarray, alphas: np.ndarray, q: np.ndarray,
               due: np.ndarray, rows: np.ndarray, n: np.ndarray, y: np.ndarray,
               gamma: float, target: np.ndarray) -> None:
    levels, h, width = alphas.shape[1], alphas.shape[2], res.shape[1]
    at = np.empty(h, dtype=np.int64)
    for j in range(rows.shape[0]):
        row, yj = rows[j], np.float32(y[j])
        cells_of(at, n[j])
        for k in range(min(n[j], h)):  # the horizons that have a forecast of y
            r32 = abs(yj - due[row, at[k], 0])  # float32, as the per-object code
            if gamma != 0.0:
                for lv in range(levels):
                    miss = 1.0 if r32 > q[row, lv, k] else 0.0
                    a = alphas[row, lv, k] + gamma * (target[lv] - miss)
                    alphas[row, lv, k] = min(max(a, 0.0), 1.0)
            _push_one(res, ptr, tq, tlt, tle, row * h + k, r32)
            count[row, k] = min(count[row, k] + 1, width)


def band_step(res: np.ndarray, ptr: np.ndarray, count: np.ndarray, tq: np.ndarray,
              tlt: np.ndarray, tle: np.ndarray, alphas: np.ndarray, q: np.ndarray,
              due: np.ndarray, rows: np.ndarray, n: np.ndarray, y: np.ndarray, gamma: float,
              target: np.ndarray) -> None:
    """``BandBank.update`` but for the half-widths: with ``n`` values recorded, the horizons
    ``k < min(n, h)`` have a forecast of ``y`` in ``due`` (``(rows, cells, 1)``, the rings
    of :mod:`models.pending`); each one's absolute error ``|y - due|`` in float32 moves the
    ACI miss rates ``alphas`` (``gamma``; ``target``: 1 - level) and joins its window
    (``res`` ``(rows * h, W)``, ``ptr``, trackers ``tq``/``tlt``/``tle``)."""
    _band_step(res, ptr, count, tq, tlt, tle, alphas, q, due, np.asarray(rows, dtype=np.int64),
               np.asarray(n, dtype=np.int64), np.asarray(y, dtype=np.float64), float(gamma),
               np.asarray(target, dtype=np.float64).reshape(-1))


def warm() -> None:
    """Compile (or load from the disk cache) these loops for the dtypes the bank uses."""
    for dt in (np.float32, np.float64):
        values = np.zeros((1, 2), dtype=dt)
        for vt in (np.float32, np.float64):
            push_values(values, np.zeros(1, dtype=np.int64), np.full((1, 1), np.inf),
                        np.zeros((1, 1), dtype=np.int32), np.full((1, 1), 2, dtype=np.int32),
                        np.zeros(1, dtype=np.int64), np.ones(1, dtype=vt))
        select_ranks(values, np.full((1, 1), np.inf), np.zeros((1, 1), dtype=np.int32),
                     np.full((1, 1), 2, dtype=np.int32), np.zeros(1, dtype=np.int64),
                     np.zeros((1, 1), dtype=np.int64))
    band_widths(np.zeros((1, 2), dtype=np.float32), np.full((1, 1), np.inf),
                np.zeros((1, 1), dtype=np.int32), np.full((1, 1), 2, dtype=np.int32),
                np.zeros(1, dtype=np.int64), np.zeros((1, 1), dtype=np.int64),
                np.zeros((1, 1, 1)), 10, np.ones(1), np.zeros(1), np.zeros((1, 1, 1)))
    band_step(np.zeros((1, 2), dtype=np.float32), np.zeros(1, dtype=np.int64),
              np.zeros((1, 1), dtype=np.int64), np.full((1, 1), np.inf),
              np.zeros((1, 1), dtype=np.int32), np.full((1, 1), 2, dtype=np.int32),
              np.zeros((1, 1, 1)), np.zeros((1, 1, 1)), np.zeros((1, 1, 1), dtype=np.float32),
              np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64), np.ones(1), 0.005,
              np.array([0.2]))
