"""A forecaster fed from outside: the global LSTM's latest path for one series.

The LSTM forecasts many series in one batch, outside the per-series models (the worker runs
it after a batch of buckets closed). :class:`ExternalPath` is how its forecasts join a
series' online ensemble as a member: :meth:`ExternalPath.set_path` stores the path for the
buckets after the last learnt value, and each :meth:`learn_one` consumes one step of it, so
the ensemble always scores a forecast that was made before the value it is scored on (the
path set after bucket ``t`` forecasts ``t+1..t+H``; after learning ``t+1`` what is left is
the ``t+2..t+H`` part of that same path). Until a path is set, or once it is used up, it
forecasts what ``fallback`` forecasts (the online ensemble), so it changes nothing.

>>> from models.baselines import SeasonalNaive
>>> base = SeasonalNaive(2)
>>> ext = ExternalPath(base)
>>> for y in [1.0, 3.0]:
...     base.learn_one(y); ext.learn_one(y)
>>> ext.forecast(3)
[1.0, 3.0, 1.0]
>>> ext.set_path([7.0, 8.0, 9.0], version="v1")
>>> ext.forecast(2), ext.version
([7.0, 8.0], 'v1')
>>> ext.learn_one(5.0)
>>> ext.forecast(3)
[8.0, 9.0, 9.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from models.base import Forecaster, check_horizon

__all__ = ["ExternalPath", "LSTM_PRIOR"]


#: an LSTM's first path: its errors start at this many times the online ensemble's, so an
#: unscored model gets a tenth of the blend (squared inverse errors), not half, and earns more
#: (a probe saw every forecast halve at once when a model of near-zero paths was swapped in)
LSTM_PRIOR = 3.0


class ExternalPath(Forecaster):
    """An ensemble member whose forecasts are set from outside (see the module docstring)."""

    name = "lstm"

    def __init__(self, fallback: Forecaster, owns_fallback: bool = False) -> None:
        super().__init__()
        self.fallback = fallback
        self.owns_fallback = owns_fallback  # True: learning here teaches the fallback too
        self.path: list[float] | None = None
        self.version: str | None = None

    def set_path(self, path: Sequence[float], version: str | None = None) -> None:
        values = [float(v) for v in path]
        if not values or not all(math.isfinite(v) for v in values):
            raise ValueError("path must be a non-empty list of finite numbers")
        self.path, self.version = values, version

    def learn_one(self, y: float) -> None:
        self._check(y)
        if self.owns_fallback:
            self.fallback.learn_one(y)
        if self.path is not None:
            self.path = self.path[1:] or None

    def forecast(self, horizon: int) -> list[float]:
        check_horizon(horizon)
        if self.path is None:
            return self.fallback.forecast(horizon)
        out = self.path[:horizon]
        return out + [out[-1]] * (horizon - len(out))

    def forecast_one(self) -> float:
        return self.path[0] if self.path is not None else self.fallback.forecast_one()
