"""The model the stream worker keeps per series: ensemble + interval, one call per closed bucket.

:func:`default_model` builds a :class:`SeriesModel` of three members (seasonal naive, 28-bucket
rolling median, Holt-Winters on log1p), blended by :class:`~models.ensemble.Ensemble`, with an
80% :class:`~models.intervals.ResidualInterval` fed by the ensemble's own one-step errors.

* ``learn_one(y)``: the closed bucket's value (mutates); returns nothing.
* ``forecast(h)``: a :class:`Forecast` (never mutates): ``yhat``, ``lo``, ``hi`` lists of
  length ``h`` and ``model``, a JSON-ready description (members, weights, winner, ...).
* ``last_prior``: the one-step forecast the model had made for the last learnt value (None
  before), for the anomaly check of a closed actual against what was expected.

The whole object pickles (a few KB) and is deterministic.

>>> m = default_model(horizon=7)
>>> for y in [0, 0, 3, 8, 4, 0, 1] * 8:
...     m.learn_one(y)
>>> f = m.forecast()
>>> [round(v, 1) for v in f.yhat]
[0.0, 0.0, 3.0, 8.0, 4.0, 0.0, 1.0]
>>> f.model["winner"], len(f.lo), f.lo[3] <= f.yhat[3] <= f.hi[3]
('holt_winters_log1p', 7, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.base import check_horizon, check_range
from models.baselines import RollingMedian, SeasonalNaive
from models.ensemble import Ensemble
from models.intervals import ResidualInterval
from models.online import HoltWintersLog1p

__all__ = ["Forecast", "SeriesModel", "default_model"]


@dataclass(frozen=True, slots=True)
class Forecast:
    """Point forecasts and interval bounds for horizons 1..h, and the model that made them."""

    yhat: list[float]
    lo: list[float]
    hi: list[float]
    model: dict[str, Any]

    @property
    def horizon(self) -> int:
        return len(self.yhat)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for payloads."""
        return {"yhat": self.yhat, "lo": self.lo, "hi": self.hi, "model": self.model}


class SeriesModel:
    """An ensemble plus its interval tracker: what the worker keeps per series."""

    def __init__(self, ensemble: Ensemble, interval: ResidualInterval, horizon: int = 14) -> None:
        check_horizon(horizon)
        self.ensemble = ensemble
        self.interval = interval
        self.horizon = horizon
        self.last_prior: float | None = None

    def __repr__(self) -> str:
        return f"SeriesModel(horizon={self.horizon}, n_seen={self.n_seen})"

    @property
    def n_seen(self) -> int:
        return self.ensemble.n_seen

    def learn_one(self, y: float) -> None:
        """Learn the next closed bucket's value; NaN/inf raise ValueError (state unchanged)."""
        prior = self.ensemble.update(y)
        if self.ensemble.n_seen > 1:  # the first prior is the zero forecast of an empty model
            self.interval.update(y, prior)
        self.last_prior = prior

    def forecast(self, horizon: int | None = None) -> Forecast:
        """Forecast ``horizon`` (default: ``self.horizon``) buckets ahead with an interval."""
        h = self.horizon if horizon is None else check_horizon(horizon)
        yhat = self.ensemble.forecast(h)
        lo, hi = self.interval.interval(yhat)
        model = self.ensemble.describe()
        model["interval"] = {"coverage": self.interval.coverage, "n": self.interval.n}
        return Forecast(yhat, lo, hi, model)


def default_model(
    horizon: int = 14, season: int = 7, window: int = 28, coverage: float = 0.8
) -> SeriesModel:
    """The worker's per-series model (see the module docstring).

    >>> default_model(horizon=0)
    Traceback (most recent call last):
    ...
    ValueError: horizon must be an integer >= 1, got 0
    """
    check_horizon(horizon)
    check_range("coverage", coverage, 0, 1, lo_open=True)
    members = [SeasonalNaive(season), RollingMedian(window), HoltWintersLog1p(season)]
    return SeriesModel(Ensemble(members), ResidualInterval(coverage), horizon)
