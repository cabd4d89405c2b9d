"""The backtest's models: every forecaster of ``models/`` under one name, the same intervals.

Every model is wrapped in a :class:`~models.factory.SeriesModel` with 80%/95% per-horizon
conformal intervals (:func:`wrap`); ``ensemble`` is :func:`~models.factory.default_model` (its
own members). :func:`model_zoo` is what :func:`models.evaluation.backtest.evaluate_panel`
scores by default.

>>> zoo = model_zoo()
>>> list(zoo)[:3], zoo["tsb"]().horizon
(['seasonal_naive', 'rolling_median', 'rolling_mean'], 14)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from models.base import Forecaster
from models.baselines import RollingMean, RollingMedian, SeasonalMedian, SeasonalNaive
from models.calendar import HolidayAdjusted, MonthAdjusted
from models.conformal import ConformalInterval
from models.drift import DriftReset
from models.evaluation.backtest_protocol import HORIZON, LEVELS, SEASON
from models.factory import SEASON_CYCLES, SeriesModel, default_model
from models.horizon import HorizonEnsemble
from models.intermittent import TSB
from models.online import HoltWintersLog1p
from models.price import PriceAdjusted
from models.snarimax import ScaledSNARIMAX

__all__ = ["model_zoo", "wrap"]


def wrap(forecaster: Forecaster) -> SeriesModel:
    """``forecaster`` with the backtest's conformal intervals (80% and 95%, h = 1..14)."""
    return SeriesModel(forecaster, ConformalInterval(HORIZON, LEVELS), HORIZON)


def model_zoo() -> dict[str, Callable[[], SeriesModel]]:
    """Name -> factory of a fresh model, every one with the same conformal intervals."""
    return {
        "seasonal_naive": lambda: wrap(SeasonalNaive(SEASON)),
        "rolling_median": lambda: wrap(RollingMedian(28)),
        "rolling_mean": lambda: wrap(RollingMean(28)),
        "seasonal_median": lambda: wrap(SeasonalMedian(SEASON, SEASON_CYCLES)),
        "holt_winters_log1p": lambda: wrap(HoltWintersLog1p(SEASON)),
        "tsb": lambda: wrap(TSB()),
        "snarimax": lambda: wrap(ScaledSNARIMAX(SEASON)),
        "rolling_median+reset": lambda: wrap(DriftReset(partial(RollingMedian, 28))),
        "holt_winters_log1p+reset": lambda: wrap(DriftReset(partial(HoltWintersLog1p, SEASON))),
        "rolling_median+holidays": lambda: wrap(HolidayAdjusted(partial(RollingMedian, 28))),
        "holt_winters_log1p+holidays": lambda: wrap(
            HolidayAdjusted(partial(HoltWintersLog1p, SEASON))),
        "ensemble_v1+holidays": _ensemble_v1,
        "ensemble": lambda: default_model(HORIZON, SEASON),
        "ensemble+holidays": lambda: default_model(HORIZON, SEASON, holidays=True),
        "ensemble+holidays+month": lambda: wrap(MonthAdjusted(
            lambda: default_model(HORIZON, SEASON, holidays=True).forecaster,
            name="ensemble+holidays+month")),
        "rolling_median+price": lambda: wrap(PriceAdjusted(partial(RollingMedian, 28))),
        "holt_winters_log1p+price": lambda: wrap(
            PriceAdjusted(partial(HoltWintersLog1p, SEASON))),
        "ensemble+holidays+price": lambda: default_model(
            HORIZON, SEASON, holidays=True, price=True),
    }


def _ensemble_v1() -> SeriesModel:
    """The worker's model until 2026-11-24 (four members: seasonal naive, one rolling median,
    Holt-Winters, TSB), kept as a row to compare with."""
    def make() -> Forecaster:
        members = [SeasonalNaive(SEASON), RollingMedian(28), HoltWintersLog1p(SEASON), TSB()]
        return HorizonEnsemble(members, HORIZON, power=2.0, combine="median")

    return wrap(HolidayAdjusted(make, name="ensemble_v1+holidays"))
