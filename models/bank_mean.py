"""A mean forecast for many rows at once: the point forecast plus its own recent bias.

The worker's point forecast is median-like (a weighted median of members, several of them
rolling medians): right for absolute error, but on lumpy sales it sits well below the mean
(on ``top500`` its bias is about -60% of mean demand), and a buyer who sums a forecast over a
lead time needs the mean. :class:`MeanBank` keeps, per row and horizon ``k``, an exponentially
weighted mean of the signed out-of-sample error of the ``k``-step forecast, and the mean
forecast adds it::

    b_k  <- decay * b_k + (1 - decay) * (y - yhat(k))     (the first error sets it)
    mean_k = max(yhat_k + b_k, 0)

The errors are those of the forecasts the bands score (the same pending paths, holiday factor
included), so ``mean`` and ``yhat`` are of the same model. Before horizon ``k`` has an error
it borrows the nearest shorter horizon's (``b_1`` first; none yet: ``mean = yhat``).

>>> import numpy as np
>>> m = MeanBank(horizon=2, decay=0.5)
>>> rows = m.add(1)
>>> due = np.zeros((1, 2), dtype=np.float32)  # both forecasts of every value said 1.0
>>> due[:] = 1.0
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

import numpy as np

from models.bank_ops import grow
from models.orderstat import rows_index

__all__ = ["MeanBank", "MEAN_DECAY"]

#: the default decay of the bias (chosen on the tuning panels: docs/backtest.md)
MEAN_DECAY = 0.97


class MeanBank:
    """Per-row, per-horizon bias of the point forecast: ``bias[row, k-1]``."""

    bias: np.ndarray

    def __init__(self, horizon: int = 14, decay: float = MEAN_DECAY) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay!r}")
        self.horizon, self.decay = horizon, decay
        self.capacity = self.n_rows = 0
        self._shapes: dict[str, tuple[tuple[int, ...], type]] = {"bias": ((horizon,), np.float64)}
        self.bias = np.zeros((0, horizon))

    def add(self, n: int) -> np.ndarray:
        rows = grow(self, self._shapes, self.n_rows, n)
        self.n_rows += n
        return rows

    def state_arrays(self) -> list[np.ndarray]:
        return [self.bias]

    def nbytes(self) -> int:
        return self.horizon * 8

    def load(self, row: int, raw: bytes) -> None:
        """Restore ``row`` from its bytes; empty bytes (a row saved before the mean
        existed): no bias yet."""
        self.bias[row] = np.frombuffer(raw, dtype=np.float64) if raw else 0.0

    def update(self, rows: np.ndarray, y: np.ndarray, n: np.ndarray, due: np.ndarray) -> None:
        """Learn the errors of ``due`` (``(rows, horizon)``: each horizon's forecast of ``y``;
        ``n``: values learnt before ``y``, so horizons ``k <= n`` have one)."""
        ix = rows_index(rows)
        err = y[:, None] - due.astype(np.float64)
        k = np.arange(1, self.horizon + 1)
        first = k == n[:, None]  # the first error of that horizon sets it
        active = k <= n[:, None]
        old = self.bias[ix]
        new = np.where(first, err, self.decay * old + (1.0 - self.decay) * err)
        new = np.where(active, new, old)
        # horizons with no error yet borrow the longest one that has one (none: 0)
        seen = np.minimum(n, self.horizon)  # horizons that have an error now
        fill = k > seen[:, None]
        if fill.any():
            last = np.where(seen > 0, new[np.arange(len(n)), np.maximum(seen - 1, 0)], 0.0)
            new = np.where(fill, last[:, None], new)
        self.bias[ix] = new

    def mean(self, rows: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        """The mean forecast of ``rows`` from their point forecasts ``yhat`` (``(K, h)``)."""
        h = yhat.shape[1]
        return np.maximum(yhat + self.bias[rows_index(rows), :h], 0.0)
