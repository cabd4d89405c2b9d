"""Per-horizon online conformal prediction intervals, at several coverage levels at once.

:class:`ConformalInterval` wraps the forecasts of *any* model. After each learnt value the
model's path ``yhat[0..H-1]`` is recorded (:meth:`~ConformalInterval.record`); when the value
``k`` steps later arrives (:meth:`~ConformalInterval.update`) the ``k``-step absolute residual
``|y - yhat[k-1]|`` joins the window of horizon ``k``. The half-width at horizon ``k`` and
level ``c`` is the conformal quantile of that window (the ``ceil((n + 1) c)``-th smallest of
its ``n <= window`` residuals): a split-conformal interval whose calibration set slides
forward in time, so old residuals are forgotten after ``window`` values. Residuals and the
forecasts still to be scored are kept as float32 (7 significant digits), vectorised with numpy.

``gamma > 0`` adds adaptive conformal inference (Gibbs & Candes 2021) per horizon and level:
each residual that falls outside the current half-width lowers the working miss rate
``a <- a + gamma (alpha - miss)`` (``alpha = 1 - c``), each hit raises it, which keeps the
long-run coverage near ``c`` on non-exchangeable data (level shifts, ties in the residuals of
intermittent series). ``a`` is clipped to ``[0, 1]``.

Before a horizon has ``min_n`` residuals it borrows horizon 1's half-width times
``sqrt(k)``; before any residual the interval has zero width. A level's half-width is at least
that of every lower level (the miss rates adapt level by level and could cross: a 95% band
inside the 80% one). Bounds are clipped below at ``lower`` (0: sales are not negative),
unless the forecast itself is below it (a series of net returns), so a band always holds its
forecast. ``update`` and ``record`` mutate; the rest does not.

>>> import random
>>> rng, ci = random.Random(7), ConformalInterval(horizon=3, levels=(0.8, 0.95))
>>> hits = {0.8: 0, 0.95: 0}
>>> for t in range(3000):
...     y = 10 + rng.gauss(0, 2)          # exact 80% / 95% half-widths: 2.56 / 3.92
...     if t >= 200:
...         for level, (lo, hi) in ci.bounds([10.0, 10.0, 10.0]).items():
...             hits[level] += lo[0] <= y <= hi[0]
...     ci.update(y)
...     ci.record([10.0, 10.0, 10.0])
>>> print({k: round(v / 2800, 2) for k, v in hits.items()})
{0.8: 0.8, 0.95: 0.95}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from models.base import check_range

__all__ = ["ConformalInterval", "held_lower"]

_ARANGE = np.arange(10_001)  # row indices, sliced (horizons are at most 10,000)


class ConformalInterval:
    """Sliding-window conformal quantiles of ``k``-step absolute residuals, ``k = 1..horizon``.

    >>> ci = ConformalInterval(horizon=2, levels=(0.5,), window=4, gamma=0.0, min_n=1)
    >>> for y in [1.0, 2.0, 4.0, 3.0, 7.0]:
    ...     ci.update(y)
    ...     ci.record([2.0, 3.0])  # always forecast 2 then 3
    >>> ci.residuals(1), ci.residuals(2)
    ([0.0, 2.0, 1.0, 5.0], [1.0, 0.0, 4.0])
    >>> ci.half_widths(0.5), ci.interval([2.0, 3.0], 0.5)
    ([2.0, 1.0], ([0.0, 2.0], [4.0, 4.0]))
    >>> ConformalInterval(levels=(0.8, 1.2))
    Traceback (most recent call last):
    ...
    ValueError: level must be in (0, 1), got 1.2
    """

    def __init__(
        self,
        horizon: int = 14,
        levels: Sequence[float] = (0.8, 0.95),
        window: int = 100,
        gamma: float = 0.005,
        min_n: int = 10,
        lower: float | None = 0.0,
    ) -> None:
        check_range("horizon", horizon, 1, 10_000, integer=True)
        if not levels:
            raise ValueError("levels must not be empty")
        for c in levels:
            if not (type(c) in (int, float) and 0 < c < 1):
                raise ValueError(f"level must be in (0, 1), got {c!r}")
        check_range("window", window, 1, 100_000, integer=True)
        check_range("gamma", gamma, 0, 1)
        check_range("min_n", min_n, 1, 100_000, integer=True)
        if lower is not None and not (type(lower) in (int, float) and math.isfinite(lower)):
            raise ValueError(f"lower must be a finite number or None, got {lower!r}")
        self.horizon = horizon
        self.levels = tuple(levels)
        self.window = window
        self.gamma = gamma
        self.min_n = min_n
        self.lower = lower
        self.n_recorded = 0
        self.alphas = np.array([[1.0 - c] * horizon for c in self.levels])  # ACI miss rates
        self.counts = np.zeros(horizon, dtype=np.int64)  # residuals per horizon (<= window)
        self.ptrs = np.zeros(horizon, dtype=np.int64)  # next slot of each ring
        self._res = np.full((horizon, window), np.inf, dtype=np.float32)  # rings of |residual|
        self._due = np.zeros((horizon, horizon), dtype=np.float32)  # [j, k-1]: k-step forecast
        self._q = np.zeros((len(self.levels), horizon))  # half-widths, from the state
        self._target = 1.0 - np.array(self.levels)[:, None]  # ACI's nominal miss rates

    def __repr__(self) -> str:
        return (
            f"ConformalInterval(horizon={self.horizon}, levels={self.levels}, "
            f"window={self.window}, gamma={self.gamma}, n={self.n})"
        )

    @property
    def n(self) -> int:
        """How many residuals back horizon 1 (at most ``window``)."""
        return int(self.counts[0])

    def residuals(self, k: int) -> list[float]:
        """The window of ``k``-step absolute residuals, oldest first."""
        n, ring = int(self.counts[k - 1]), self._res[k - 1]
        out = ring[:n] if n < self.window else np.roll(ring, -self.ptrs[k - 1])
        return [float(v) for v in out]

    def record(self, path: Sequence[float]) -> None:
        """Record the path forecast just now (``path[0]`` is for the next value)."""
        h = self.horizon
        if len(path) < h:
            raise ValueError(f"path must have at least {h} values, got {len(path)}")
        k = _ARANGE[:h]
        self._due[k, k] = path[:h]
        self.n_recorded += 1

    def update(self, y: float) -> None:
        """Score the recorded paths against the value ``y`` that has just been observed."""
        y = float(y)
        if not math.isfinite(y):
            raise ValueError(f"y must be a finite number, got {y!r}")
        rows = min(self.n_recorded, self.horizon)  # horizons with a forecast of y
        if rows:
            r = np.abs(y - self._due[0, :rows], dtype=np.float64)
            if self.gamma:
                a = self.alphas[:, :rows]  # a view: updated in place
                a += self.gamma * (self._target - (r > self._q[:, :rows]))
                np.minimum(np.maximum(a, 0.0, out=a), 1.0, out=a)
            self._res[_ARANGE[:rows], self.ptrs[:rows]] = r
            self.ptrs[:rows] = (self.ptrs[:rows] + 1) % self.window
            self.counts[:rows] = np.minimum(self.counts[:rows] + 1, self.window)
            self._quantiles()
        due = self._due
        due[:-1] = due[1:]
        due[-1] = 0.0

    def _quantiles(self) -> None:
        """Refresh the half-widths ``_q[level, k-1]`` from the rings and the miss rates."""
        n = self.counts
        if not n[0]:
            self._q[:] = 0.0
            return
        srt = np.sort(self._res, axis=1)  # empty slots (inf) sort last
        rank = np.ceil((n + 1) * (1.0 - self.alphas) - 1e-9).astype(np.int64)
        rank = np.minimum(np.maximum(rank, 1), np.maximum(n, 1)) - 1
        q = srt[_ARANGE[: self.horizon], rank]  # (levels, horizon)
        if n[-1] < self.min_n:
            cold = n < self.min_n
            q[:, cold] = q[:, :1] * np.sqrt(_ARANGE[1 : self.horizon + 1][cold])
        if len(self.levels) > 1:  # no level narrower than a lower one (narrowest first)
            order = np.argsort(self.levels, kind="stable")
            q[order] = np.maximum.accumulate(q[order], axis=0)
        self._q = q.astype(np.float64)

    def half_widths(self, level: float | None = None) -> list[float]:
        """Half-widths for horizons ``1..horizon`` at ``level`` (default: the first level)."""
        j = 0 if level is None else self.levels.index(level)
        out: list[float] = self._q[j].tolist()
        return out

    def interval(
        self, yhat: Sequence[float], level: float | None = None
    ) -> tuple[list[float], list[float]]:
        """Lower and upper bounds around ``yhat`` (at most ``horizon`` long) at ``level``."""
        j = 0 if level is None else self.levels.index(level)
        v = np.asarray(yhat, dtype=np.float64)
        d = self._q[j, : len(v)]
        lo = held_lower(v - d, v, self.lower)
        return lo.tolist(), (v + d).tolist()

    def bounds(self, yhat: Sequence[float]) -> dict[float, tuple[list[float], list[float]]]:
        """``{level: (lo, hi)}`` for every level."""
        return {c: self.interval(yhat, c) for c in self.levels}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_q"], state["_target"]
        res = state.pop("_res")
        state["_res"] = np.concatenate([res[k, :c] for k, c in enumerate(self.counts)]).tobytes()
        state["_due"] = self._due[np.triu_indices(self.horizon)].tobytes()
        state["alphas"] = self.alphas.tobytes()
        state["counts"], state["ptrs"] = self.counts.tolist(), self.ptrs.tolist()
        return state  # bytes and lists: a third of the size of pickled arrays

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        h, flat = self.horizon, np.frombuffer(state["_res"], dtype=np.float32)
        self.alphas = np.frombuffer(state["alphas"]).reshape(len(self.levels), h).copy()
        self.counts = np.array(state["counts"], dtype=np.int64)
        self.ptrs = np.array(state["ptrs"], dtype=np.int64)
        self._res = np.full((h, self.window), np.inf, dtype=np.float32)
        pos = 0
        for k, c in enumerate(state["counts"]):
            self._res[k, :c] = flat[pos : pos + c]
            pos += c
        self._due = np.zeros((h, h), dtype=np.float32)
        self._due[np.triu_indices(h)] = np.frombuffer(state["_due"], dtype=np.float32)
        self._q = np.zeros((len(self.levels), h))
        self._target = 1.0 - np.array(self.levels)[:, None]
        self._quantiles()


def held_lower(lo: Any, yhat: Any, lower: float | None) -> np.ndarray:
    """Lower band edges ``lo`` kept at or above ``lower`` (0: sales), except under a forecast
    below it (net returns): a band holds its forecast.

    >>> held_lower(np.array([-1.0, -3.0]), np.array([0.5, -2.0]), 0.0).tolist()
    [0.0, -3.0]
    """
    lo = np.asarray(lo, dtype=np.float64)
    if lower is None:
        return lo
    return np.where(np.asarray(yhat) >= lower, np.maximum(lo, lower), lo)
