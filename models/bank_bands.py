"""Per-horizon conformal bands for many rows at once: :class:`~models.conformal.ConformalInterval`
as array operations.

Row ``r`` holds what one ``ConformalInterval`` holds: a ring of ``window`` absolute residuals
per horizon (float32, empty slots ``+inf``), the ACI miss rates per level and horizon, and the
forecasts still to be scored (:mod:`models.pending`'s triangle), so nothing shifts. The
quantile of each window comes from :mod:`models.orderstat` (exact; a window is re-sorted only
when its quantile moved), and every formula, dtype and rounding of the per-object code is
kept, so the half-widths are equal.

>>> import numpy as np
>>> b = BandBank(horizon=2, levels=(0.5,), window=4, gamma=0.0, min_n=1)
>>> rows = b.add(1)
>>> for n, y in enumerate([1.0, 2.0, 4.0, 3.0, 7.0]):
...     b.update(rows, np.array([y]), np.array([n]))
...     b.record(rows, np.array([[2.0, 3.0]]), np.array([n]))
>>> b.q[0, 0].tolist()
[2.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models import pending
from models.bank_ops import grow, load_fields, state_nbytes
from models.conformal import held_lower
from models.orderstat import invalidate, rows_index
from models.window_kernels import band_step, band_widths

__all__ = ["BandBank"]

_F32 = np.float32


class BandBank:
    """Conformal half-widths ``q[row, level, k-1]`` fed by each row's recorded paths."""

    res: np.ndarray
    ptr: np.ndarray
    count: np.ndarray
    alphas: np.ndarray
    due: np.ndarray
    q: np.ndarray
    tq: np.ndarray
    tlt: np.ndarray
    tle: np.ndarray

    def __init__(self, horizon: int = 14, levels: Sequence[float] = (0.8, 0.95),
                 window: int = 100, gamma: float = 0.005, min_n: int = 10,
                 lower: float | None = 0.0) -> None:
        self.horizon, self.levels, self.window = horizon, tuple(levels), window
        self.gamma, self.min_n, self.lower = gamma, min_n, lower
        self._target = 1.0 - np.array(self.levels)[:, None]  # (L, 1)
        self._order = np.argsort(self.levels, kind="stable")  # the levels, narrowest first
        self._sqrt_k = np.sqrt(np.arange(1, horizon + 1))
        self.capacity = 0
        h, w, n_lv = horizon, window, len(self.levels)
        self._shapes: dict[str, tuple[tuple[int, ...], type]] = {
            "res": ((h, w), _F32), "ptr": ((h,), np.int64), "count": ((h,), np.int64),
            "alphas": ((n_lv, h), np.float64), "due": ((pending.cells(h), 1), _F32),
            "q": ((n_lv, h), np.float64),
            "tq": ((h, n_lv), np.float64), "tlt": ((h, n_lv), np.int32),
            "tle": ((h, n_lv), np.int32),
        }
        for name, (shape, dt) in self._shapes.items():
            setattr(self, name, np.zeros((0, *shape), dtype=dt))
        self.n_rows = 0

    # -- rows ---------------------------------------------------------------------------

    def add(self, n: int) -> np.ndarray:
        """``n`` fresh rows (no residual, zero width); their ids."""
        rows = grow(self, self._shapes, self.n_rows, n)
        self.res[rows] = np.inf
        self.ptr[rows] = self.count[rows] = 0
        self.alphas[rows] = 1.0 - np.array(self.levels)[:, None]
        self.due[rows] = 0.0
        self.q[rows] = 0.0
        self.tq[rows], self.tlt[rows], self.tle[rows] = np.inf, 0, self.window
        self.n_rows += n
        return rows

    _STATE = ("res", "ptr", "count", "alphas", "due")

    def state_arrays(self) -> list[np.ndarray]:
        """The row arrays a row's exported state is made of, in order (the half-widths are
        recomputed on load)."""
        return [getattr(self, name) for name in self._STATE]

    def nbytes(self) -> int:
        return state_nbytes(self._shapes, self._STATE)

    def load(self, row: int, raw: bytes, n_seen: int) -> None:
        """Restore row ``row`` from :meth:`export`'s bytes (``n_seen``: values learnt)."""
        load_fields(self, self._shapes, self._STATE, row, raw)
        h = self.horizon
        flat = np.arange(row * h, row * h + h)
        invalidate(self.tq.reshape(-1, len(self.levels)), self.tlt.reshape(-1, len(self.levels)),
                   self.tle.reshape(-1, len(self.levels)), flat)
        rows = np.array([row])
        if n_seen > 0 and self.count[row, 0] > 0:
            self._quantiles(rows)
        else:
            self.q[row] = 0.0

    # -- learning -----------------------------------------------------------------------

    def update(self, rows: np.ndarray, y: np.ndarray, n: np.ndarray) -> None:
        """Score the recorded paths of ``rows`` against their new values ``y``; ``n``: values
        recorded so far per row (the horizons ``k <= min(n, H)`` have a forecast of ``y``)."""
        lv = len(self.levels)
        band_step(self.res.reshape(-1, self.window), self.ptr.reshape(-1), self.count,
                  self.tq.reshape(-1, lv), self.tlt.reshape(-1, lv), self.tle.reshape(-1, lv),
                  self.alphas, self.q, self.due, rows, n, y, self.gamma,
                  self._target)
        self._quantiles(rows[n > 0])

    def _quantiles(self, rows: np.ndarray) -> None:
        """Refresh ``q[rows]`` from the rings and miss rates (``ConformalInterval._quantiles``)."""
        if not len(rows):
            return
        lv = len(self.levels)
        band_widths(self.res.reshape(-1, self.window), self.tq.reshape(-1, lv),
                    self.tlt.reshape(-1, lv), self.tle.reshape(-1, lv), rows, self.count,
                    self.alphas, self.min_n, self._sqrt_k, self._order, self.q)

    def pending(self, rows: np.ndarray, n: np.ndarray) -> np.ndarray:
        """``(K, h)`` float32: each horizon's forecast of value ``n`` of ``rows``."""
        return pending.read(self.due, rows, n)[:, 0]

    def record(self, rows: np.ndarray, path: np.ndarray, n: np.ndarray) -> None:
        """Record the paths forecast just now; ``n``: values learnt before the latest one."""
        pending.write(self.due, rows, n + 1, path[:, None, : self.horizon])

    # -- bands --------------------------------------------------------------------------

    def bands(self, rows: np.ndarray, yhat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(lo, hi)`` per level around ``yhat`` (``(K, h)``, ``h <= horizon``)."""
        h = yhat.shape[1]
        out = []
        ix = rows_index(rows)
        for j in range(len(self.levels)):
            d = self.q[ix, j, :h]
            out.append((held_lower(yhat - d, yhat, self.lower), yhat + d))
        return out
