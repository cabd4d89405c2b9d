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
  rank ``r`` (a value crossed it, or ``r`` moved) sort their window again. On intermittent
  sales (many equal values) most trackers stay valid.

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

__all__ = ["new_trackers", "push", "select", "invalidate"]


def new_trackers(n: int, window: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``q``, ``lt``, ``le`` for ``n`` empty windows of ``window`` slots, ``m`` ranks each.

    An empty window is all ``+inf``: every rank's value is ``inf``, ``lt = 0``, ``le = W``.
    """
    q = np.full((n, m), np.inf)
    lt = np.zeros((n, m), dtype=np.int32)
    le = np.full((n, m), window, dtype=np.int32)
    return q, lt, le


def invalidate(q: np.ndarray, lt: np.ndarray, le: np.ndarray, idx: np.ndarray) -> None:
    """Mark the trackers of windows ``idx`` stale: the next :func:`select` rescans them
    (after a window was filled from outside, e.g. restored from bytes)."""
    q[idx] = np.nan  # compares False with everything: pushes leave lt/le alone
    lt[idx] = np.iinfo(np.int32).max // 2
    le[idx] = -1


def push(values: np.ndarray, ptr: np.ndarray, q: np.ndarray, lt: np.ndarray, le: np.ndarray,
         idx: np.ndarray, v: np.ndarray) -> None:
    """Write ``v[j]`` into the oldest slot of window ``idx[j]`` (``idx`` unique).

    ``values``: ``(N, W)`` rings; ``ptr``: ``(N,)`` next slot; ``q``/``lt``/``le``: ``(N, M)``.
    """
    w = values.shape[1]
    slot = ptr[idx]
    old = values[idx, slot]
    v = v.astype(values.dtype, copy=False)
    values[idx, slot] = v
    ptr[idx] = (slot + 1) % w
    qi = q[idx]
    o, n = old[:, None], v[:, None]
    lt[idx] += (n < qi).view(np.int8) - (o < qi).view(np.int8)
    le[idx] += (n <= qi).view(np.int8) - (o <= qi).view(np.int8)


def select(values: np.ndarray, q: np.ndarray, lt: np.ndarray, le: np.ndarray,
           idx: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """The rank-``rank[j, i]`` (0-based) values of windows ``idx[j]``: ``(len(idx), M)``.

    Trackers that no longer sit at their rank re-sort their window (and are updated).
    """
    qi, lo, hi = q[idx], lt[idx], le[idx]
    stale = ~((lo <= rank) & (rank < hi))
    if not stale.any():
        return qi
    j, i = np.nonzero(stale)
    win = idx[j]
    srt = np.sort(values[win], axis=1)
    r = rank[j, i]
    val = srt[np.arange(len(win)), r]
    col = val[:, None]
    q[win, i] = val
    lt[win, i] = (srt < col).sum(axis=1)
    le[win, i] = (srt <= col).sum(axis=1)
    qi[j, i] = val
    return qi
