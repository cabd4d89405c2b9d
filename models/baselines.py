"""Baseline forecasters: seasonal naive, rolling median and rolling mean.

Cheap, robust, and hard to beat on intermittent retail series; the ensemble keeps them as
members and the backtest scores every model against them.

* :class:`SeasonalNaive`: the value one season ago (the last value until a season is seen).
* :class:`RollingMedian`: the median of the last ``window`` values, flat over the horizon.
* :class:`RollingMean`: the mean of the last ``window`` values, flat over the horizon.
* :class:`SeasonalMedian`: the median of the same slot of the season over the last ``cycles``
  seasons (seasonal naive made robust to one odd week).

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

__all__ = ["SeasonalNaive", "SeasonalMedian", "RollingMedian", "RollingMean"]


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


def median_of_sorted(s: list[float]) -> float:
    """The median of the sorted values ``s`` (0.0 for none): the middle one, or the mean of
    the middle two."""
    n = len(s)
    if n == 0:
        return 0.0
    mid = n // 2
    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2


class SeasonalMedian(Forecaster):
    """Forecast the median of the values in the same slot of the season over the last
    ``cycles`` seasons; a slot not seen yet gets the last value (0.0 before any).

    Where seasonal naive repeats last week, this repeats a typical week: one odd Tuesday
    (a large order, a stock-out) moves the forecast of the next Tuesday only if it is typical.

    >>> m = SeasonalMedian(season=2, cycles=3)
    >>> for y in [1, 10, 5, 20, 2, 30]:
    ...     m.learn_one(y)
    >>> m.forecast(3)  # slot 0 saw 1, 5, 2; slot 1 saw 10, 20, 30
    [2.0, 20.0, 2.0]
    >>> m.learn_one(100)  # the oldest value of slot 0 (1) leaves
    >>> m.forecast(1)
    [20.0]
    """

    name = "seasonal_median"

    def __init__(self, season: int = 7, cycles: int = 8) -> None:
        super().__init__()
        check_range("season", season, 1, 10_000, integer=True)
        check_range("cycles", cycles, 1, 1_000, integer=True)
        self.season, self.cycles = season, cycles
        self._slots: list[deque[float]] = [deque(maxlen=cycles) for _ in range(season)]
        self._n = 0
        self._last = 0.0

    def _params(self) -> dict[str, Any]:
        return {"season": self.season, "cycles": self.cycles}

    def learn_one(self, y: float) -> None:
        self._last = self._check(y)
        self._slots[self._n % self.season].append(self._last)
        self._n += 1

    def forecast(self, horizon: int) -> list[float]:
        check_horizon(horizon)
        m = self.season
        medians = [median_of_sorted(sorted(s)) if s else self._last for s in self._slots]
        return [medians[(self._n + k) % m] for k in range(horizon)]

    def forecast_one(self) -> float:
        return self.forecast(1)[0]


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
        return median_of_sorted(self._window.sorted)


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
