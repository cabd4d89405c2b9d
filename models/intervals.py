"""Prediction intervals from recent one-step residuals (simple, split-conformal in spirit).

:class:`ResidualInterval` keeps the last ``window`` absolute one-step-ahead residuals
``|y - yhat|`` and uses their conformal quantile ``q`` (the ``ceil((n + 1) * coverage)``-th
smallest) as the half-width at horizon 1, widened by ``sqrt(h)`` at horizon ``h`` (the random
walk rule), and clipped below at ``lower`` (0: sales are not negative).

This is deliberately simple: the residuals are only one-step ones, the ``sqrt(h)`` scaling is an
assumption, the interval is symmetric, and coverage is only approximate on non-exchangeable
data. A later issue replaces it with per-horizon (adaptive) conformal intervals. Until the first
residual arrives the interval has zero width; ``n`` says how many residuals back it.

>>> iv = ResidualInterval(coverage=0.8, window=5)
>>> for y in [11.0, 9.0, 10.5, 12.0, 10.0]:  # forecast 10 each time: |r| = 1, 1, 0.5, 2, 0
...     iv.update(y, yhat=10.0)
>>> iv.half_width(), iv.interval([10.0, 10.0, 1.0])
(2.0, ([8.0, 7.17157287525381, 0.0], [12.0, 12.82842712474619, 4.464101615137754]))

Coverage on noise it has not seen (Gaussian, sd 2: the exact 80% half-width is 2.56):

>>> import random
>>> rng, iv, hits = random.Random(7), ResidualInterval(coverage=0.8, window=100), 0
>>> for t in range(2000):
...     y = 10 + rng.gauss(0, 2)
...     lo, hi = iv.interval([10.0])
...     hits += t >= 100 and lo[0] <= y <= hi[0]
...     iv.update(y, yhat=10.0)
>>> print(f"coverage {hits / 1900:.2f}, half-width {iv.half_width():.2f}")
coverage 0.80, half-width 2.42
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from operator import add, sub

from models.base import SortedWindow, check_range

__all__ = ["ResidualInterval"]

_SQRT = [math.sqrt(h) for h in range(1, 101)]  # sqrt(h) for h = 1.., grown on demand


class ResidualInterval:
    """Online quantile of absolute one-step residuals -> ``[yhat - q sqrt(h), yhat + q sqrt(h)]``.

    ``update`` mutates; ``half_width`` and ``interval`` do not. Only the residual window pickles.

    >>> ResidualInterval(coverage=1.5)
    Traceback (most recent call last):
    ...
    ValueError: coverage must be in (0, 1], got 1.5
    """

    def __init__(self, coverage: float = 0.8, window: int = 100, lower: float | None = 0.0) -> None:
        check_range("coverage", coverage, 0, 1, lo_open=True)
        check_range("window", window, 1, 100_000, integer=True)
        if lower is not None and not (type(lower) in (int, float) and math.isfinite(lower)):
            raise ValueError(f"lower must be a finite number or None, got {lower!r}")
        self.coverage = coverage
        self.window = window
        self.lower = lower
        self._window = SortedWindow(window)

    def __repr__(self) -> str:
        return f"ResidualInterval(coverage={self.coverage!r}, window={self.window!r}, n={self.n})"

    @property
    def n(self) -> int:
        """How many residuals back the interval (at most ``window``)."""
        return len(self._window)

    def update(self, y: float, yhat: float) -> None:
        """Record the residual of a one-step forecast ``yhat`` of the observed ``y``."""
        r = abs(float(y) - float(yhat))
        if not math.isfinite(r):
            raise ValueError(f"residual must be finite, got y={y!r}, yhat={yhat!r}")
        self._window.append(r)

    def half_width(self, horizon: int = 1) -> float:
        """The half-width at ``horizon`` steps ahead (0 before any residual)."""
        n = len(self._window.sorted)
        if n == 0:
            return 0.0
        k = min(n, math.ceil((n + 1) * self.coverage))  # conformal rank, 1-based
        return self._window.sorted[max(k, 1) - 1] * math.sqrt(horizon)

    def interval(self, yhat: Sequence[float]) -> tuple[list[float], list[float]]:
        """Lower and upper bounds for a forecast path ``yhat`` (``yhat[0]`` is horizon 1)."""
        h = len(yhat)
        if h > len(_SQRT):
            _SQRT.extend(math.sqrt(k) for k in range(len(_SQRT) + 1, h + 1))
        ds = [q * r for r in _SQRT[:h]] if (q := self.half_width(1)) else [0.0] * h
        hi = list(map(add, yhat, ds))
        low = self.lower
        if low is None:
            return list(map(sub, yhat, ds)), hi
        return [v if v > low else low for v in map(sub, yhat, ds)], hi
