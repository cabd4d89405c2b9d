"""Order statistics of many sliding windows at once, exact, without sorting every step.

The bank's rolling medians and conformal quantiles need, after every learnt value, the
``r``-th smallest value of a window of the last ``W`` values, for thousands of windows at once.
Sorting every window every step costs O(W log W) per window; here each window keeps its values
in a ring of ``W`` slots (empty slots hold ``+inf``, so they sort last) and each tracked rank
keeps three numbers: its value ``q``, ``lt`` (slots below ``q``) and ``le`` (slots at or below
``q``). The rank-``r`` value (0-based) of the window is ``q`` exactly when ``lt <= r < le``.

* :func:`push` replaces the oldest slot of some windows by a new value and moves ``lt``/``le``
  by the two comparisons with ``q``: O(1) per tracked rank, no scan.
* :func:`select` returns the rank-``r`` values; only the trackers whose ``q`` is no longer at
  rank ``r`` (a value crossed it, or ``r`` moved) look at their window again, usually for
  the next distinct value (one scan). On intermittent sales (many equal values) most
  trackers stay valid.

Every value returned is an element of the window, so results equal a full sort's exactly.

>>> import numpy as np
>>> vals, ptr = np.full((1, 4), np.inf), np.zeros(1, dtype=np.int64)
>>> q, lt, le = new_trackers(1, 4, m=1)
>>> for v in [5.0, 1.0, 3.0, 2.0, 9.0]:
...     push(vals, ptr, q, lt, le, np.array([0]), np.array([v]))
>>> vals[0].tolist(), select(vals, q, lt, le, np.array([0]), np.array([[1]])).tolist()
([9.0, 1.0, 3.0, 2.0], [[2.0]])
"""

from __future__ import annotations

import numpy as np

from models.window_kernels import push_values, select_ranks

__all__ = ["new_trackers", "push", "select", "invalidate", "rows_index"]


def new_trackers(n: int, window: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``q``, ``lt``, ``le`` for ``n`` empty windows of ``window`` slots, ``m`` ranks each.

    An empty window is all ``+inf``: every rank's value is ``inf``, ``lt = 0``, ``le = W``.
    """
    q = np.full((n, m), np.inf)
    lt = np.zeros((n, m), dtype=np.int32)
    le = np.full((n, m), window, dtype=np.int32)
    return q, lt, le


def invalidate(q: np.ndarray, lt: np.ndarray, le: np.ndarray, idx: np.ndarray) -> None:
    """Reset the trackers of windows ``idx`` (after a window was filled from outside, e.g.
    restored from bytes) to ``q = -inf``: no value is below or at it, so ``lt = le = 0`` is
    exact whatever the window holds, and the next :func:`select` finds the rank from there."""
    q[idx] = -np.inf
    lt[idx] = 0
    le[idx] = 0


def rows_index(idx: np.ndarray) -> slice | np.ndarray:
    """``idx`` as a slice when it is an ascending run of consecutive ids (a whole bank or
    partition closing at once): indexing by it is then a view, not a gather."""
    n = len(idx)
    if n and idx[-1] - idx[0] == n - 1 and (n == 1 or bool((np.diff(idx) == 1).all())):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def push(values: np.ndarray, ptr: np.ndarray, q: np.ndarray, lt: np.ndarray, le: np.ndarray,
         idx: np.ndarray, v: np.ndarray) -> None:
    """Write ``v[j]`` into the oldest slot of window ``idx[j]`` (``idx`` unique).

    ``values``: ``(N, W)`` rings; ``ptr``: ``(N,)`` next slot; ``q``/``lt``/``le``: ``(N, M)``.
    """
    push_values(values, ptr, q, lt, le, idx, v)


def select(values: np.ndarray, q: np.ndarray, lt: np.ndarray, le: np.ndarray,
           idx: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """The rank-``rank[j, i]`` (0-based) values of windows ``idx[j]``: ``(len(idx), M)``.

    A tracker no longer at its rank walks to the next distinct value of its window towards
    the rank, one scan a step, and counts the values below and at it; a few steps away, it
    sorts the window instead (:func:`models.window_kernels.select_ranks`, compiled).
    """
    return select_ranks(values, q, lt, le, idx, rank)
