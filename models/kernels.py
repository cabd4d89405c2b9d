"""Compiled row loops of the model bank, where numpy's whole-array steps cost most.

A bucket close of many rows in numpy makes temporaries as large as the bank at every step
(a sort of every group, gathers, masks, copies back), so it is bound by memory traffic, not
arithmetic. These loops (`numba <https://numba.pydata.org>`_, compiled once and cached on
disk) go through the rows once and write in place:

* :func:`weighted_median`: per row and horizon, the ensemble's weighted median of its
  members (``HorizonEnsemble._combine("median")``: the members in their stable order by
  value, found by counting for all horizons at once, not by a sort per horizon, and the
  weights summed in that order);
* :func:`scored_errors` and :func:`normalised_weights`: ``HorizonEnsemble.update``'s
  exponentially weighted errors and its inverse-error weights (shares, the drop of clear
  losers, the sum member by member);
* :func:`season_learn`: a value into its season's slot, its cycles and their median
  (seasonal naive and the seasonal median of :class:`~models.bank_members.MemberBank`, and
  its second season's), and :func:`second_season_paths`: the second season's forecasts;
* the windows' order statistics and the bands' steady close: :mod:`models.window_kernels`.

Each computes what the numpy code it replaced computed, with the same operations, dtypes and
order of summation, so the bank still equals the per-object stack to the bit
(``tests/unit/models/test_bank.py``). One formula changed on both sides: the weights'
``(e + eps) ** -2`` is ``1 / x**2`` in the bank and in :class:`~models.horizon.HorizonEnsemble`
alike (numpy's vectorised ``pow`` has no equal in a compiled loop; results moved by an ulp).

Why numba, measured (``salescast bench models``, 10,000 rows, ``taskset -c 1``, the same
machine and day): 10.1 us per series of numpy before, 4.5-4.8 us with these loops on a quiet
run. The price: numba's import and the compiled code add about 130 MiB of RSS to a process
(``import numba`` about 110 MiB of it), and the first process on a machine compiles them
(a few seconds; then they load from ``__pycache__``). The worker calls :func:`warm` at start,
so that no bucket close waits for a compilation.

>>> import numpy as np
>>> w = np.array([[[0.2], [0.5], [0.3]]])
>>> weighted_median(w, np.array([[[3.0], [1.0], [2.0]]])).tolist()
[[1.0]]
>>> weighted_median(np.full((1, 3, 1), 1 / 3), np.array([[[3.0], [1.0], [2.0]]])).tolist()
[[2.0]]
"""

from __future__ import annotations

import numpy as np
from numba import njit

from models import pending, window_kernels
from models.pending import cells_of as cells

__all__ = ["weighted_median", "scored_errors", "normalised_weights",
           "season_learn", "second_season_paths", "path_cap", "warm"]

_HALF = 0.5 - 1e-12  # the cumulative weight the median's member first reaches


@njit(cache=True, nogil=True)
def _weighted_median(w: np.ndarray, v: np.ndarray, out: np.ndarray) -> None:
    rows, m, h = v.shape
    rank = np.empty((m, h), dtype=np.int64)
    pos = np.empty((m, h), dtype=np.int64)
    for r in range(rows):
        for j in range(m):  # each member's place in the stable order by value: those below
            for k in range(h):  # it, and those equal before it (horizons innermost: the
                rank[j, k] = 0  # loops vectorise, where a sort per horizon branches)
                pos[j, k] = j  # (a place no member takes, were a value NaN, stays valid)
            for i in range(m):
                if i < j:
                    for k in range(h):
                        rank[j, k] += v[r, i, k] <= v[r, j, k]
                elif i > j:
                    for k in range(h):
                        rank[j, k] += v[r, i, k] < v[r, j, k]
        for j in range(m):
            for k in range(h):
                pos[rank[j, k], k] = j
        for k in range(h):  # the weights summed in that order, as a sort would have them
            total, pick = 0.0, pos[m - 1, k]
            for p in range(m):
                total += w[r, pos[p, k], k]
                if not total < _HALF:
                    pick = pos[p, k]
                    break
            out[r, k] = v[r, pick, k]


def weighted_median(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per row and horizon, the member value where the cumulative weight (members sorted by
    value, ties by member order) first reaches 1/2. ``w``, ``v``: ``(K, m, h)``; ``(K, h)``."""
    out = np.empty((v.shape[0], v.shape[2]), dtype=np.float64)
    _weighted_median(np.asarray(w, dtype=np.float64), np.asarray(v, dtype=np.float64), out)
    return out


@njit(cache=True, nogil=True)
def _scored_errors(e: np.ndarray, due: np.ndarray, rows: np.ndarray, t: np.ndarray,
                   x: np.ndarray, decay: float, rest: np.float32, out: np.ndarray) -> None:
    n_rows, m, h = e.shape
    at = np.empty(h, dtype=np.int64)
    for j in range(n_rows):
        xj, row = np.float32(x[j]), rows[j]
        cells(at, t[j])
        for i in range(m):
            for k in range(h):
                err = abs(xj - due[row, at[k], i])  # float32, as the per-object code
                out[j, i, k] = e[j, i, k] * decay + rest * err


def scored_errors(e: np.ndarray, due: np.ndarray, rows: np.ndarray, t: np.ndarray,
                  x: np.ndarray, decay: float, out: np.ndarray | None = None) -> np.ndarray:
    """The exponentially weighted errors ``e * decay + (1 - decay) * |x - due|`` of rows
    whose every horizon has a forecast of ``x`` (``HorizonEnsemble.update``, steady):
    ``e`` ``(K, m, h)`` float64, ``due`` the rings of pending forecasts (``(N, cells, m)``
    float32, :mod:`models.pending`), ``rows`` ``(K,)`` and ``t`` ``(K,)`` each row and the
    index of its value ``x`` ``(K,)``; into ``out`` when given (it may be ``e``)."""
    if out is None:
        out = np.empty(e.shape, dtype=np.float64)
    _scored_errors(e, due, np.asarray(rows, dtype=np.int64), np.asarray(t, dtype=np.int64),
                   np.asarray(x, dtype=np.float64), float(decay), np.float32(1.0 - decay), out)
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
def season_learn(naive: np.ndarray, values: np.ndarray, median: np.ndarray, rows: np.ndarray,
                 y: np.ndarray, n: np.ndarray) -> None:
    """Row ``rows[j]`` learns ``y[j]``, its value number ``n[j]``: into its slot of the
    season (``naive``: ``(R, S)``, ``values``: ``(R, S, C)``, the last ``C`` cycles, NaN:
    none), and the slot's median of its values (``median``, NaN: none) recomputed as
    ``bank_members._slot_median`` does (sorted, the middle one or the mean of the two)."""
    s, c = values.shape[1], values.shape[2]
    buf = np.empty(c)
    for j in range(len(rows)):
        r, slot = rows[j], n[j] % s
        naive[r, slot] = y[j]
        values[r, slot, (n[j] // s) % c] = y[j]
        cnt = 0
        for i in range(c):  # insertion sort of the finite values
            v = values[r, slot, i]
            if v == v:
                k = cnt
                while k > 0 and buf[k - 1] > v:
                    buf[k] = buf[k - 1]
                    k -= 1
                buf[k] = v
                cnt += 1
        if cnt == 0:
            median[r, slot] = np.nan
        elif cnt % 2 == 1:
            median[r, slot] = buf[cnt // 2]
        else:
            median[r, slot] = (buf[(cnt - 1) // 2] + buf[cnt // 2]) / 2


@njit(cache=True, nogil=True)
def second_season_paths(out: np.ndarray, naive: np.ndarray, median: np.ndarray,
                        rows: np.ndarray, n: np.ndarray, fallback: int, at: int) -> None:
    """The second season's naive and slot median of ``rows`` (``n`` values learnt) into
    ``out[:, at]`` and ``out[:, at + 1]`` (``(K, members, h)``): before a whole season, the
    naive is ``out[:, 0]`` (the first season's); a slot with no median, ``out[:, fallback]``."""
    s, h = naive.shape[1], out.shape[2]
    for j in range(len(rows)):
        r, nj = rows[j], n[j]
        for k in range(h):
            slot = (nj + k) % s
            out[j, at, k] = naive[r, slot] if nj >= s else out[j, 0, k]
            q = median[r, slot]
            out[j, at + 1, k] = q if q == q else out[j, fallback, k]


@njit(cache=True, nogil=True)
def path_cap(values: np.ndarray, rows: np.ndarray, factor: float, out: np.ndarray) -> None:
    """``out[j]``: ``factor`` times the largest known value (+inf: an empty slot) of window
    ``values[rows[j]]``, or +inf where that is not above 0 (the members' path cap,
    :data:`models.bank_members.PATH_CAP`)."""
    width = values.shape[1]
    for j in range(len(rows)):
        r, top = rows[j], 0.0
        for s in range(width):  # branch-free, so it vectorises (NaN and +inf count as 0)
            v = values[r, s]
            top = max(top, v if v < np.inf else 0.0)
        out[j] = factor * top if top > 0.0 else np.inf


def warm() -> None:
    """Compile (or load from the disk cache) every loop of the bank, these,
    :mod:`models.window_kernels`' and :mod:`models.pending`'s, for the dtypes it uses, so
    that the first bucket close does not wait for it."""
    window_kernels.warm()
    weighted_median(np.full((1, 2, 1), 0.5), np.zeros((1, 2, 1)))
    one = np.ones((1, 2, 1))
    row = np.zeros(1, dtype=np.int64)
    scored_errors(one, np.ones((1, 1, 2), dtype=np.float32), row, np.ones(1), np.ones(1), 0.9)
    for power in (1.0, 2.0, 1.5):
        normalised_weights(one, 1e-6, power, None, 2.0)
    pending.warm()
    season_learn(np.zeros((1, 2)), np.full((1, 2, 2), np.nan), np.zeros((1, 2)), row,
                 np.ones(1), row)
    second_season_paths(np.zeros((1, 3, 2)), np.zeros((1, 2)), np.zeros((1, 2)), row, row, 0, 1)
    path_cap(np.zeros((1, 2)), row, 3.0, np.zeros(1))
