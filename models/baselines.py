"""Baseline forecasters: seasonal naive, rolling median and rolling mean.

Cheap, robust, and hard to beat on intermittent retail series; the ensemble keeps them as
members and the backtest scores every model against them.

* :class:`SeasonalNaive`: the value one season ago (the last value until a season is seen).
* :class:`RollingMedian`: the median of the last ``window`` values, flat over the horizon.
* :class:`RollingMean`: the mean of the last ``window`` values, flat over the horizon.

>>> week = [0, 0, 1, 2, 5, 9, 3]
>>> naive, median = SeasonalNaive(season=7), RollingMedian(window=7)
>>> for y in week * 2:
...     naive.learn_one(y)
...     median.learn_one(y)
>>> naive.forecast(8)
[0.0, 0.0, 1.0, 2.0, 5.0, 9.0, 3.0, 0.0]
>>> median.forecast(3)
[2.0, 2.0, 2.0]
"""

from __future__ import annotations

from collections import deque
from typing import Any

from models.base import Forecaster, SortedWindow, check_horizon, check_range

__all__ = ["SeasonalNaive", "RollingMedian", "RollingMean"]


class SeasonalNaive(Forecaster):
    """Forecast the value one season earlier; before a full season, the last value.

    >>> m = SeasonalNaive(season=3)
    >>> m.forecast(2)
    [0.0, 0.0]
    >>> for y in [1, 2]:
    ...     m.learn_one(y)
    >>> m.forecast(2)
    [2.0, 2.0]
    >>> m.learn_one(3)
    >>> m.forecast(4)
    [1.0, 2.0, 3.0, 1.0]
    """

    name = "seasonal_naive"

    def __init__(self, season: int = 7) -> None:
        super().__init__()
        check_range("season", season, 1, 10_000, integer=True)
        self.season = season
        self._last: deque[float] = deque(maxlen=season)

    def _params(self) -> dict[str, Any]:
        return {"season": self.season}

    def learn_one(self, y: float) -> None:
        self._last.append(self._check(y))

    def forecast(self, horizon: int) -> list[float]:
        check_horizon(horizon)
        last = self._last
        if len(last) < self.season:
            return [last[-1] if last else 0.0] * horizon
        return (list(last) * (horizon // self.season + 1))[:horizon]

    def forecast_one(self) -> float:
        last = self._last
        if len(last) < self.season:
            return last[-1] if last else 0.0
        return last[0]


class _Rolling(Forecaster):
    """A flat forecast from the last ``window`` values (``forecast_one`` says which)."""

    def __init__(self, window: int) -> None:
        super().__init__()
        check_range("window", window, 1, 100_000, integer=True)
        self.window = window

    def _params(self) -> dict[str, Any]:
        return {"window": self.window}

    def forecast(self, horizon: int) -> list[float]:
        return [self.forecast_one()] * check_horizon(horizon)


class RollingMedian(_Rolling):
    """Forecast the median of the last ``window`` values (flat); robust to spikes and zeros.

    A sorted copy of the window is kept (``bisect``), so an update costs O(window) memmove
    and a forecast O(1); only the window itself is pickled.

    >>> m = RollingMedian(window=3)
    >>> for y in [1, 100, 2, 3]:
    ...     m.learn_one(y)
    >>> m.forecast(2)
    [3.0, 3.0]
    """

    name = "rolling_median"

    def __init__(self, window: int = 28) -> None:
        super().__init__(window)
        self._window = SortedWindow(window)

    def learn_one(self, y: float) -> None:
        self._window.append(self._check(y))

    def forecast_one(self) -> float:
        s = self._window.sorted
        n = len(s)
        if n == 0:
            return 0.0
        mid = n // 2
        return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2


class RollingMean(_Rolling):
    """Forecast the mean of the last ``window`` values (flat).

    The sum is recomputed from the window on each forecast (no drifting running sum).

    >>> m = RollingMean(window=2)
    >>> for y in [1, 2, 4]:
    ...     m.learn_one(y)
    >>> m.forecast(2), m.forecast_one()
    ([3.0, 3.0], 3.0)
    """

    name = "rolling_mean"

    def __init__(self, window: int = 28) -> None:
        super().__init__(window)
        self._values: deque[float] = deque(maxlen=window)

    def learn_one(self, y: float) -> None:
        self._values.append(self._check(y))

    def forecast_one(self) -> float:
        return sum(self._values) / len(self._values) if self._values else 0.0
