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
the weighted median 30 ms -> 11 ms, the bands' quantiles 13 ms -> 6 ms; ``salescast bench
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

__all__ = ["weighted_median", "push_values", "select_ranks", "band_step", "band_widths",
           "scored_errors",
           "normalised_weights", "scatter_paths", "warm", "MAX_STEPS"]

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
def _push(values: np.ndarray, ptr: np.ndarray, q: np.ndarray, lt: np.ndarray, le: np.ndarray,
          idx: np.ndarray, v: np.ndarray) -> None:
    width, ranks = values.shape[1], q.shape[1]
    for j in range(idx.shape[0]):
        w = idx[j]
        slot = ptr[w]
        old = values[w, slot]
        values[w, slot] = v[j]
        new = values[w, slot]  # as stored (cast to the rings' dtype)
        ptr[w] = 0 if slot + 1 == width else slot + 1
        for i in range(ranks):
            qi = q[w, i]
            lt[w, i] += (new < qi) - (old < qi)
            le[w, i] += (new <= qi) - (old <= qi)


def push_values(values: np.ndarray, ptr: np.ndarray, q: np.ndarray, lt: np.ndarray,
                le: np.ndarray, idx: np.ndarray, v: np.ndarray) -> None:
    """:func:`models.orderstat.push`: ``v[j]`` into the oldest slot of window ``idx[j]``, the
    trackers' counts moved by the two comparisons with their value."""
    _push(values, ptr, q, lt, le, np.asarray(idx, dtype=np.int64), np.asarray(v))


@njit(cache=True, nogil=True)
def _next_below(values: np.ndarray, w: int, cur: float) -> float:
    """The largest value of window ``w`` below ``cur`` (-inf: none); branch-free, so it
    vectorises."""
    out = -np.inf
    for s in range(values.shape[1]):
        x = values[w, s]
        out = max(out, x if x < cur else -np.inf)
    return out


@njit(cache=True, nogil=True)
def _next_above(values: np.ndarray, w: int, cur: float) -> float:
    """The smallest value of window ``w`` above ``cur`` (+inf: none, or the empty slots)."""
    out = np.inf
    for s in range(values.shape[1]):
        x = values[w, s]
        out = min(out, x if x > cur else np.inf)
    return out


@njit(cache=True, nogil=True)
def _counts(values: np.ndarray, w: int, at: float) -> tuple[int, int]:
    """How many values of window ``w`` are below ``at``, and at or below it."""
    below, upto = 0, 0
    for s in range(values.shape[1]):
        x = values[w, s]
        below += x < at
        upto += x <= at
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
                 sqrt_k: np.ndarray, q: np.ndarray) -> None:
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


def band_widths(res: np.ndarray, tq: np.ndarray, tlt: np.ndarray, tle: np.ndarray,
                rows: np.ndarray, count: np.ndarray, alphas: np.ndarray, min_n: int,
                sqrt_k: np.ndarray, q: np.ndarray) -> None:
    """``ConformalInterval._quantiles`` for ``rows`` of a :class:`~models.bank_bands.BandBank`:
    each level's and horizon's conformal rank of its residual window (``res``, ``(rows *
    h, W)``; trackers ``tq``/``tlt``/``tle`` ``(rows * h, levels)``) from the window's count
    and miss rate, written into ``q`` ``(rows, levels, h)``; horizons with fewer than
    ``min_n`` residuals get horizon 1's width times ``sqrt_k``, in float32."""
    _band_widths(res, tq, tlt, tle, np.asarray(rows, dtype=np.int64), count, alphas,
                 int(min_n), sqrt_k, q)


@njit(cache=True, nogil=True)
def _band_step(res: np.ndarray, ptr: np.ndarray, count: np.ndarray, tq: np.ndarray,
               tlt: np.ndarray, tle: np.ndarray, alphas: np.ndarray, q: np.ndarray,
               due: np.ndarray, rows: np.ndarray, n: np.ndarray, y: np.ndarray,
               gamma: float, target: np.ndarray) -> None:
    levels, h, width = alphas.shape[1], alphas.shape[2], res.shape[1]
    for j in range(rows.shape[0]):
        row, yj = rows[j], np.float32(y[j])
        slot = row * h + n[j] % h
        for k in range(h):
            r32 = abs(yj - due[slot, k])  # float32, as the per-object code
            if gamma != 0.0:
                for lv in range(levels):
                    miss = 1.0 if r32 > q[row, lv, k] else 0.0
                    a = alphas[row, lv, k] + gamma * (target[lv] - miss)
                    alphas[row, lv, k] = min(max(a, 0.0), 1.0)
            w = row * h + k  # push r32 into the window, move the trackers' counts
            at = ptr[w]
            old = res[w, at]
            res[w, at] = r32
            new = res[w, at]
            ptr[w] = 0 if at + 1 == width else at + 1
            for lv in range(levels):
                qi = tq[w, lv]
                tlt[w, lv] += (new < qi) - (old < qi)
                tle[w, lv] += (new <= qi) - (old <= qi)
            count[row, k] = min(count[row, k] + 1, width)


def band_step(res: np.ndarray, ptr: np.ndarray, count: np.ndarray, tq: np.ndarray,
              tlt: np.ndarray, tle: np.ndarray, alphas: np.ndarray, q: np.ndarray,
              due: np.ndarray, rows: np.ndarray, n: np.ndarray, y: np.ndarray, gamma: float,
              target: np.ndarray) -> None:
    """``BandBank.update`` for rows whose every horizon has a forecast of ``y`` (``n``
    values recorded, ``n >= h``): each horizon's absolute error ``|y - due|`` in float32
    moves the ACI miss rates ``alphas`` (``gamma``; ``target``: 1 - level) and joins its
    window (``res`` ``(rows * h, W)``, ``ptr``, trackers ``tq``/``tlt``/``tle``); ``due``
    ``(rows * h, h)`` the ring of pending forecasts."""
    _band_step(res, ptr, count, tq, tlt, tle, alphas, q, due, np.asarray(rows, dtype=np.int64),
               np.asarray(n, dtype=np.int64), np.asarray(y, dtype=np.float64), float(gamma),
               np.asarray(target, dtype=np.float64).reshape(-1))


@njit(cache=True, nogil=True)
def _scored_errors(e: np.ndarray, due: np.ndarray, slot: np.ndarray, x: np.ndarray,
                   decay: float, rest: np.float32, out: np.ndarray) -> None:
    rows, m, h = e.shape
    for j in range(rows):
        xj = np.float32(x[j])
        for i in range(m):
            for k in range(h):
                err = abs(xj - due[slot[j], i, k])  # float32, as the per-object code
                out[j, i, k] = e[j, i, k] * decay + rest * err


def scored_errors(e: np.ndarray, due: np.ndarray, slot: np.ndarray, x: np.ndarray,
                  decay: float, out: np.ndarray | None = None) -> np.ndarray:
    """The exponentially weighted errors ``e * decay + (1 - decay) * |x - due|`` of rows
    whose every horizon has a forecast of ``x`` (``HorizonEnsemble.update``, steady):
    ``e`` ``(K, m, h)`` float64, ``due`` ``(S, m, h)`` float32 pending forecasts, ``slot``
    ``(K,)`` each row's slot in ``due``, ``x`` ``(K,)`` the values learnt; into ``out``
    when given (it may be ``e``)."""
    if out is None:
        out = np.empty(e.shape, dtype=np.float64)
    _scored_errors(e, due, np.asarray(slot, dtype=np.int64), np.asarray(x, dtype=np.float64),
                   float(decay), np.float32(1.0 - decay), out)
    return out


@njit(cache=True, nogil=True)
def _normalised(inv: np.ndarray, e: np.ndarray, eps: float, power: float, share: np.ndarray,
                drop: float, out: np.ndarray) -> None:
    rows, m, h = e.shape
    limit = np.empty(h)
    total = np.empty(h)
    for j in range(rows):  # horizons innermost: the loops vectorise
        for k in range(h):
            limit[k] = e[j, 0, k]
        for i in range(1, m):
            for k in range(h):
                limit[k] = min(limit[k], e[j, i, k])
        for k in range(h):
            limit[k] *= drop
        for i in range(m):
            for k in range(h):
                x = e[j, i, k] + eps
                w = (1.0 / (x * x) if power == 2.0 else 1.0 / x if power == 1.0 else
                     inv[j, i, k]) * share[i]
                if drop >= 0.0:
                    w *= 1.0 if e[j, i, k] <= limit[k] else 0.0
                out[j, i, k] = w
                total[k] = w if i == 0 else total[k] + w
        for i in range(m):
            for k in range(h):
                out[j, i, k] /= total[k]


def normalised_weights(e: np.ndarray, eps: float, power: float, share: np.ndarray | None,
                       drop: float | None, out: np.ndarray | None = None) -> np.ndarray:
    """``HorizonEnsemble``'s weights from its errors ``e`` ``(K, m, h)``: ``(e + eps) **
    -power`` (as ``1 / x**2`` or ``1 / x`` for the powers 2 and 1, as the per-object code
    computes them; numpy's ``pow`` otherwise) times each member's ``share``, times 0 where a
    member's error is above ``drop`` times the best one, over their sum per row and horizon,
    summed member by member in order; into ``out`` when given."""
    e = np.ascontiguousarray(e, dtype=np.float64)
    m = e.shape[1]
    inv = e if power in (1.0, 2.0) else (e + eps) ** (-power)
    if out is None:
        out = np.empty(e.shape, dtype=np.float64)
    _normalised(inv, e, float(eps), float(power),
                np.ones(m) if share is None else np.asarray(share, dtype=np.float64),
                -1.0 if drop is None else float(drop), out)
    return out


@njit(cache=True, nogil=True)
def _scatter(flat: np.ndarray, base: np.ndarray, places: np.ndarray, pick: np.ndarray,
             values: np.ndarray) -> None:
    for j in range(values.shape[0]):
        b, at = base[j], places[pick[j]]
        for p in range(values.shape[1]):
            flat[b + at[p]] = values[j, p]


def scatter_paths(flat: np.ndarray, base: np.ndarray, places: np.ndarray, pick: np.ndarray,
                  values: np.ndarray) -> None:
    """``flat[base[j] + places[pick[j]]] = values[j]`` for every row ``j`` (cast to
    ``flat``'s dtype): the paths forecast just now, written into each row's ring of pending
    forecasts. ``places`` ``(S, P)``, ``values`` ``(K, P)`` (or any shape ``(K, ...)``)."""
    at = places.reshape(len(places), -1)
    _scatter(flat, np.asarray(base, dtype=np.int64), at, np.asarray(pick, dtype=np.int64),
             values.reshape(len(values), at.shape[1]))


def warm() -> None:
    """Compile (or load from the disk cache) every kernel for the dtypes the bank uses, so
    that the first bucket close does not wait for it."""
    weighted_median(np.full((1, 2, 1), 0.5), np.zeros((1, 2, 1)))
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
                np.zeros((1, 1, 1)), 10, np.ones(1), np.zeros((1, 1, 1)))
    band_step(np.zeros((1, 2), dtype=np.float32), np.zeros(1, dtype=np.int64),
              np.zeros((1, 1), dtype=np.int64), np.full((1, 1), np.inf),
              np.zeros((1, 1), dtype=np.int32), np.full((1, 1), 2, dtype=np.int32),
              np.zeros((1, 1, 1)), np.zeros((1, 1, 1)), np.zeros((1, 1), dtype=np.float32),
              np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64), np.ones(1), 0.005,
              np.array([0.2]))
    one = np.ones((1, 2, 1))
    scored_errors(one, np.ones((1, 2, 1), dtype=np.float32), np.zeros(1), np.ones(1), 0.9)
    for power in (1.0, 2.0, 1.5):
        normalised_weights(one, 1e-6, power, None, 2.0)
    places = np.zeros((1, 2), dtype=np.int64)
    for dt in (np.float32, np.float64):
        scatter_paths(np.zeros(2, dtype=dt), np.zeros(1), places, np.zeros(1), np.ones((1, 2)))
