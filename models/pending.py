"""Forecasts still waiting for their value, kept in a triangle: the ring every part of the
model bank scores its errors from.

When a row learns value ``t``, its ``k+1``-step forecast of it (``k`` from 0) was made ``k+1``
values before. Each horizon ``k`` therefore has ``k + 1`` forecasts waiting at any time (of
values ``t .. t+k``), ``h (h + 1) / 2`` in all for ``h`` horizons: 105 cells for 14, where a
square ring indexed by value (``h * h`` cells, 196) keeps stale ones. Horizon ``k``'s cells
start at ``k (k + 1) / 2`` and value ``t``'s is ``t mod (k + 1)`` among them
(:func:`cells_of`), so each value's forecast is scored (:func:`read`) and then overwritten by the
next one of the same horizon (:func:`write`) in the same cell, and nothing ever shifts.

Each cell holds one forecast per member (``c`` columns, float32): a part's ring is a
``(rows, cells(h), c)`` array. Rows of the layout before (``(h, c, h)`` square rings) are
turned into triangles by :func:`from_square` (:mod:`models.bank_upgrade`).

>>> import numpy as np
>>> due = np.zeros((1, cells(3), 1), dtype=np.float32)
>>> write(due, np.array([0]), np.array([1]), np.array([[[10.0, 20.0, 30.0]]]))  # after value 0
>>> write(due, np.array([0]), np.array([2]), np.array([[[11.0, 21.0, 31.0]]]))  # after value 1
>>> read(due, np.array([0]), np.array([2]))[0, 0].tolist()  # value 2: 1 step, then 2 steps
[11.0, 20.0, 0.0]
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["cells", "cells_of", "read", "write", "from_square", "warm"]


def cells(horizon: int) -> int:
    """Cells a member needs for ``horizon`` horizons (``horizon (horizon + 1) / 2``)."""
    return horizon * (horizon + 1) // 2


@njit(cache=True, nogil=True, inline="always")
def cells_of(out: np.ndarray, t: int) -> None:
    """Value ``t``'s cell for every horizon ``k``, ``k (k + 1) / 2 + t mod (k + 1)``, into
    ``out`` (``t >= -1``; the division is a multiplication, exact for ``t`` far below
    2**52)."""
    for k in range(out.shape[0]):
        q = int(t * (1.0 / (k + 1)))
        r = t - q * (k + 1)
        if r < 0:
            r += k + 1
        elif r > k:
            r -= k + 1
        out[k] = k * (k + 1) // 2 + r


@njit(cache=True, nogil=True)
def _write(due: np.ndarray, rows: np.ndarray, first: np.ndarray, paths: np.ndarray) -> None:
    c, h = paths.shape[1], paths.shape[2]
    at = np.empty(h, dtype=np.int64)
    for j in range(rows.shape[0]):
        row = rows[j]
        # horizon k's forecast is of value first + k: (first + k) mod (k + 1) = (first - 1) mod
        cells_of(at, first[j] - 1)
        for k in range(h):
            for i in range(c):
                due[row, at[k], i] = paths[j, i, k]


def write(due: np.ndarray, rows: np.ndarray, first: np.ndarray, paths: np.ndarray) -> None:
    """Keep ``paths`` (``(K, c, h)``: each member's forecasts of values ``first .. first + h
    - 1`` of ``rows``) in the rings ``due`` (cast to float32)."""
    p = np.asarray(paths, dtype=np.float64)
    if len(p):
        _write(due, np.asarray(rows, dtype=np.int64), np.asarray(first, dtype=np.int64),
               p.reshape(len(p), due.shape[2], -1))


@njit(cache=True, nogil=True)
def _read(due: np.ndarray, rows: np.ndarray, t: np.ndarray, h: int, out: np.ndarray) -> None:
    at = np.empty(h, dtype=np.int64)
    for j in range(rows.shape[0]):
        row = rows[j]
        cells_of(at, t[j])
        for i in range(due.shape[2]):
            for k in range(h):
                out[j, i, k] = due[row, at[k], i]


def read(due: np.ndarray, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``(K, c, h)`` float32: every horizon's forecast of value ``t`` of each of ``rows``
    (only horizons ``k < t`` were ever forecast; the others hold whatever the cell holds)."""
    h = horizon_of(due)
    out = np.empty((len(rows), due.shape[2], h), dtype=np.float32)
    _read(due, np.asarray(rows, dtype=np.int64), np.asarray(t, dtype=np.int64), h, out)
    return out


def horizon_of(due: np.ndarray) -> int:
    """The number of horizons of rings ``due``."""
    n = due.shape[1]
    h = int((np.sqrt(8 * n + 1) - 1) // 2)
    if cells(h) != n:
        raise ValueError(f"{n} cells a member is no triangle")
    return h


def from_square(square: np.ndarray, n: int) -> np.ndarray:
    """One row's ring of the layout before (``(h, c, h)``: slot ``t mod h``, member, horizon)
    as a triangle (``(cells(h), c)``), the row having learnt ``n`` values: horizon ``k``'s
    waiting forecasts are those of values ``n .. n + k``.

    >>> sq = np.zeros((2, 1, 2), dtype=np.float32)
    >>> sq[1, 0, 0], sq[1, 0, 1], sq[0, 0, 1] = 5.0, 6.0, 7.0  # n = 1: value 1, then value 2
    >>> from_square(sq, 1)[:, 0].tolist()
    [5.0, 7.0, 6.0]
    """
    h = square.shape[0]
    k = np.repeat(np.arange(h), np.arange(1, h + 1))  # each cell's horizon, in cell order
    t = n + np.arange(cells(h)) - k * (k + 1) // 2  # values n .. n + k of each horizon
    out = np.empty((cells(h), square.shape[1]), dtype=np.float32)
    out[k * (k + 1) // 2 + t % (k + 1)] = square[t % h, :, k]
    return out


def warm() -> None:
    """Compile (or load from the disk cache) these loops for the dtypes the bank uses."""
    due = np.zeros((1, cells(2), 1), dtype=np.float32)
    write(due, np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64), np.ones((1, 1, 2)))
    read(due, np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64))
