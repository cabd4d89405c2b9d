"""What to stock, for many rows at once: a mean forecast and its lead-time total with quantiles.

The worker's point forecast is median-like (a weighted median of members, several of them
rolling medians): right for absolute error, but on lumpy sales it sits well below the mean
(on ``top500`` its bias is about -60% of mean demand), and a buyer who sums a forecast over a
lead time needs the mean. :class:`MeanBank` keeps, per row and horizon ``k``, an exponentially
weighted mean of the signed out-of-sample error of the ``k``-step forecast, and the mean
forecast adds it::

    b_k  <- b_k + w_c * ((y - yhat(k)) - b_k),  w_c = max(1 / c, 1 - decay)
    mean_k = max(yhat_k + b_k, 0)

(``c``: the error's number for that horizon; the first errors are averaged, then weighted
exponentially.)

The errors are those of the forecasts the bands score (the same pending paths, holiday factor
included), so ``mean`` and ``yhat`` are of the same model. Before horizon ``k`` has an error
it borrows the nearest shorter horizon's (none yet: ``mean = yhat``).

The **lead-time total** is the sum of the mean over the whole horizon ``H`` ("units needed over
the next 14 days"). Its quantiles come from its own past errors, not from the daily bands (the
days of a lead time are not independent): each row keeps the total it forecast at each of the
last ``H`` origins and its last ``H`` actuals; when an origin's ``H`` values are all in, the
actual total minus the forecast one joins a window of the last ``window`` such residuals (of
every ``stride``-th origin: neighbours overlap by ``H - 1`` days and say little more), and the
``p10``/``p90`` of the total are the forecast total plus the conformal 10% / 90% quantiles of
that window (none before ``min_n`` residuals), clipped at 0.

>>> import numpy as np
>>> m = MeanBank(horizon=2, decay=0.5)
>>> rows = m.add(1)
>>> due = np.ones((1, 2), dtype=np.float32)  # both forecasts of every value said 1.0
>>> for n, y in enumerate([5.0, 1.0, 3.0, 3.0]):  # the first value has no forecast
...     m.update(rows, np.array([y]), np.array([n]), due)
...     print(m.bias[0].tolist())
[0.0, 0.0]
[0.0, 0.0]
[1.0, 2.0]
[1.5, 2.0]
>>> m.mean(rows, np.array([[1.0, 0.0]])).tolist()
[[2.5, 2.0]]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from models.bank_ops import grow, state_nbytes
from models.orderstat import rows_index

__all__ = ["MeanBank", "MEAN_DECAY", "LEAD_LEVELS", "LEAD_WINDOW", "LEAD_STRIDE", "lead_total"]

#: the default decay of the bias (chosen on the tuning panels: docs/backtest.md)
MEAN_DECAY = 0.96
#: the quantiles of the lead-time total; the errors of every LEAD_STRIDE-th origin's total are
#: kept, the last LEAD_WINDOW of them (a year; chosen on the tuning panels: docs/backtest.md)
LEAD_LEVELS = (0.1, 0.9)
LEAD_WINDOW, LEAD_STRIDE = 122, 3
_F32 = np.float32


class MeanBank:
    """Per row: the bias of the point forecast per horizon (``bias[row, k-1]``) and what the
    lead-time total's quantiles need (see the module docstring)."""

    bias: np.ndarray
    recent: np.ndarray
    totals: np.ndarray
    res: np.ndarray
    ptr: np.ndarray
    count: np.ndarray
    ranked: np.ndarray
    ranked_ok: np.ndarray

    def __init__(self, horizon: int = 14, decay: float = MEAN_DECAY, window: int = LEAD_WINDOW,
                 min_n: int = 10, stride: int = LEAD_STRIDE) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay!r}")
        self.horizon, self.decay, self.window, self.min_n = horizon, decay, window, min_n
        self.stride = stride
        self.capacity = self.n_rows = 0
        self._shapes: dict[str, tuple[tuple[int, ...], type]] = {
            "bias": ((horizon,), np.float64),
            "recent": ((horizon,), _F32),  # the last H actuals, value t in slot t % H
            "totals": ((horizon,), _F32),  # the total forecast at origin o, in slot o % H
            "res": ((window,), _F32), "ptr": ((), np.int32), "count": ((), np.int32),
            # not saved: the window's two ranked residuals, and whether they are of the
            # window as it is (a residual joining it, or a load, clears ``ranked_ok``)
            "ranked": ((len(LEAD_LEVELS),), _F32), "ranked_ok": ((), np.bool_),
        }
        for name, (shape, dt) in self._shapes.items():
            setattr(self, name, np.zeros((0, *shape), dtype=dt))

    def add(self, n: int) -> np.ndarray:
        rows = grow(self, self._shapes, self.n_rows, n)
        self.n_rows += n
        return rows

    _STATE = ("bias", "recent", "totals", "res", "ptr", "count")

    def state_arrays(self) -> list[np.ndarray]:
        return [getattr(self, name) for name in self._STATE]

    def nbytes(self) -> int:
        return state_nbytes(self._shapes, self._STATE)

    def load(self, row: int, raw: bytes) -> None:
        """Restore ``row`` from its bytes; empty bytes (a row saved before the mean
        existed): nothing learnt yet."""
        pos = 0
        self.ranked_ok[row] = False
        for name in self._STATE:
            shape, dt = self._shapes[name]
            size = math.prod(shape) * np.dtype(dt).itemsize
            part = raw[pos : pos + size]
            getattr(self, name)[row] = (np.frombuffer(part, dtype=dt).reshape(shape) if part
                                        else 0)
            pos += size

    def update(self, rows: np.ndarray, y: np.ndarray, n: np.ndarray, due: np.ndarray) -> None:
        """Learn the errors of ``due`` (``(rows, horizon)``: each horizon's forecast of ``y``;
        ``n``: values learnt before ``y``, so horizons ``k <= n`` have one)."""
        ix = rows_index(rows)
        err = y[:, None] - due.astype(np.float64)
        k = np.arange(1, self.horizon + 1)
        active = k <= n[:, None]
        old = self.bias[ix]
        # the c-th error of a horizon weighs 1/c until that is below 1 - decay: the first ones
        # are averaged, not the first kept (a live start's partial first bucket made every
        # forecast's first error large, and the mean stayed 30-40% high for 25 buckets)
        count = np.maximum(n[:, None] - k + 1, 1)
        new = np.where(count * (1.0 - self.decay) < 1.0, old + (err - old) / count,
                       self.decay * old + (1.0 - self.decay) * err)
        new = np.where(active, np.where(count == 1, err, new), old)
        # horizons with no error yet borrow the longest one that has one (none: 0)
        seen = np.minimum(n, self.horizon)  # horizons that have an error now
        fill = k > seen[:, None]
        if fill.any():
            last = np.where(seen > 0, new[np.arange(len(n)), np.maximum(seen - 1, 0)], 0.0)
            new = np.where(fill, last[:, None], new)
        self.bias[ix] = new
        self._learn_total(rows, y, n)

    def _learn_total(self, rows: np.ndarray, y: np.ndarray, n: np.ndarray) -> None:
        """Value ``n`` completes the lead time of origin ``n - H + 1`` (recorded once value
        ``n - H`` was learnt): its residual joins the window."""
        h = self.horizon
        self.recent[rows, n % h] = y
        done = (n >= h) & ((n - h + 1) % self.stride == 0)
        if not done.any():
            return
        r, slot = rows[done], (n[done] + 1) % h
        residual = self.recent[r].sum(axis=1, dtype=np.float64) - self.totals[r, slot]
        self.res[r, self.ptr[r]] = residual
        self.ranked_ok[r] = False
        self.ptr[r] = (self.ptr[r] + 1) % self.window
        self.count[r] = np.minimum(self.count[r] + 1, self.window)

    def record(self, rows: np.ndarray, path: np.ndarray, n: np.ndarray) -> None:
        """Remember the total of the mean forecast made from ``path`` (the point forecasts of
        the next ``H`` values) once value ``n`` was learnt."""
        self.totals[rows, (n + 1) % self.horizon] = self.mean(rows, path).sum(axis=1)

    def mean(self, rows: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        """The mean forecast of ``rows`` from their point forecasts ``yhat`` (``(K, h)``)."""
        h = yhat.shape[1]
        return np.maximum(yhat + self.bias[rows_index(rows), :h], 0.0)

    def lead(self, rows: np.ndarray, mean: np.ndarray) -> np.ndarray | None:
        """``(K, 3)``: the lead-time total of the mean path ``mean`` (``(K, H)``) and its
        :data:`LEAD_LEVELS` quantiles (NaN before ``min_n`` residuals); None when ``mean``
        is shorter than the horizon."""
        if mean.shape[1] != self.horizon:
            return None
        total = mean.sum(axis=1)
        cnt = self.count[rows]
        stale = ~self.ranked_ok[rows]
        if stale.any():
            self._rank(rows[stale])
        out = np.full((len(rows), 3), np.nan)
        out[:, 0] = total
        ranked = self.ranked[rows].astype(np.float64)
        for j in range(len(LEAD_LEVELS)):
            out[:, j + 1] = np.where(cnt >= self.min_n, np.maximum(total + ranked[:, j], 0.0),
                                     np.nan)
        return out

    def _rank(self, rows: np.ndarray) -> None:
        """Each row's :data:`LEAD_LEVELS` conformal ranks of its window into ``ranked``."""
        cnt = self.count[rows]
        ranks = []
        for level in LEAD_LEVELS:  # conformal ranks (1-based): floor((c + 1) a), ceil((c + 1) a)
            rank = (np.maximum(np.floor((cnt + 1) * level), 1) if level < 0.5 else
                    np.minimum(np.ceil((cnt + 1) * level - 1e-9), np.maximum(cnt, 1)))
            ranks.append(rank.astype(np.int64) - 1)
        if len(cnt) and (cnt == self.window).all():  # full windows: the same ranks, O(W) each
            kth = [int(r[0]) for r in ranks]
            ranked = np.partition(self.res[rows], kth, axis=1)
        else:
            window = np.where(np.arange(self.window) < cnt[:, None], self.res[rows], np.inf)
            ranked = np.sort(window, axis=1)
        self.ranked[rows] = np.stack([ranked[np.arange(len(rows)), rank] for rank in ranks],
                                     axis=1)
        self.ranked_ok[rows] = True


def lead_total(row: Any, buckets: int) -> dict[str, Any]:
    """The payload's ``lead`` from a row of ``BatchForecast.lead`` (NaN quantiles: None).

    >>> lead_total([10.0, float("nan"), float("nan")], 14)
    {'buckets': 14, 'mean': 10.0, 'p10': None, 'p90': None}
    """
    mean, p10, p90 = (float(v) for v in row)
    return {"buckets": buckets, "mean": mean, "p10": None if math.isnan(p10) else p10,
            "p90": None if math.isnan(p90) else p90}
