"""river's SNARIMAX on a scaled target, guarded against divergence.

SNARIMAX fitted by SGD diverges on raw, spiky retail sales (measured here before: forecasts
in the millions after one large order). :class:`ScaledSNARIMAX` fits it on ``log1p(y)``
standardised by a running mean and deviation (so the SGD step sees values of order 1),
forecasts ``expm1`` back, and guards the output: a non-finite forecast, or one beyond
``cap`` times the largest of the last ``window`` values, is replaced by the recent mean; and
when the one-step forecast goes that way right after learning a value, the model is reset to
a fresh one (counted in ``resets``) that warms up again on the next values.

>>> m = ScaledSNARIMAX()
>>> for y in [2, 2, 3, 4, 8, 12, 1] * 30:
...     m.learn_one(y)
>>> f = m.forecast(7)
>>> len(f), all(0 <= v <= 12 * m.cap for v in f), m.resets
(7, True, 0)
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from models.base import Forecaster, check_horizon, check_range

__all__ = ["ScaledSNARIMAX"]


def _new_model(season: int) -> Any:
    from river import linear_model, optim, time_series

    regressor = linear_model.LinearRegression(optimizer=optim.SGD(0.005), intercept_lr=0.01,
                                              l2=0.001)
    return time_series.SNARIMAX(p=season, d=0, q=0, m=season, sp=1, sd=0, sq=0,
                                regressor=regressor)


class ScaledSNARIMAX(Forecaster):
    """SNARIMAX(p=season; seasonal AR 1) on standardised log1p values (see the module doc)."""

    name = "snarimax"

    def __init__(self, season: int = 7, window: int = 28, cap: float = 3.0,
                 warmup: int = 14) -> None:
        super().__init__()
        check_range("season", season, 1, 366, integer=True)
        check_range("window", window, 1, 10_000, integer=True)
        check_range("cap", cap, 1, 1000)
        self.season, self.window, self.cap, self.warmup = season, window, cap, warmup
        self._model = _new_model(season)
        self._fitted = 0
        self._recent: deque[float] = deque(maxlen=window)
        self._mean, self._var, self._n = 0.0, 1.0, 0
        self.resets = 0

    def _params(self) -> dict[str, Any]:
        return {"season": self.season, "window": self.window, "cap": self.cap}

    def _scale(self) -> tuple[float, float]:
        return self._mean, math.sqrt(self._var) if self._var > 1e-6 else 1.0

    def learn_one(self, y: float) -> None:
        y = self._check(y)
        z = math.log1p(max(y, 0.0))
        self._n += 1  # running mean/variance of z (Welford, slowly forgetting after 1000)
        a = 1.0 / min(self._n, 1000)
        delta = z - self._mean
        self._mean += a * delta
        self._var = (1 - a) * self._var + a * delta * (z - self._mean)
        mu, sd = self._scale()
        self._model.learn_one((z - mu) / sd)
        self._fitted += 1
        self._recent.append(y)
        if self._fitted >= self.warmup and self._path(1) is None:
            self._model = _new_model(self.season)  # diverged: start afresh
            self._fitted = 0
            self.resets += 1

    def _fallback(self, horizon: int) -> list[float]:
        mean = sum(self._recent) / len(self._recent) if self._recent else 0.0
        return [mean] * horizon

    def _path(self, horizon: int) -> list[float] | None:
        """The model's forecast on the original scale, or None when it is out of bounds."""
        mu, sd = self._scale()
        limit = self.cap * max(max(self._recent), 1.0)
        try:
            out = [math.expm1(min(z * sd + mu, 50.0))
                   for z in self._model.forecast(horizon=horizon)]
        except (OverflowError, ValueError, ZeroDivisionError):
            return None
        if not all(math.isfinite(v) and v <= limit for v in out):
            return None
        return [v if v > 0.0 else 0.0 for v in out]

    def forecast(self, horizon: int) -> list[float]:
        check_horizon(horizon)
        if self._fitted < self.warmup:
            return self._fallback(horizon)
        path = self._path(horizon)
        return self._fallback(horizon) if path is None else path
