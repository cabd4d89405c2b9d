"""Forecasting models: pure Python online forecasters, baselines, ensemble and intervals.

Nothing here imports torch, Kafka, Redis or Faust (the LSTM, when it lands, lives in
``models.lstm`` and is imported explicitly). The worker's front door is :func:`default_model`;
``models.metrics``, ``models.backtest`` (which reads the data through ``stream.dataset``) and
``models.scoreboard`` are imported explicitly.
"""

from models.base import Forecaster
from models.baselines import RollingMean, RollingMedian, SeasonalNaive
from models.conformal import ConformalInterval
from models.ensemble import Ensemble
from models.factory import Forecast, SeriesModel, default_model
from models.horizon import HorizonEnsemble
from models.intermittent import TSB
from models.intervals import ResidualInterval
from models.online import HoltWintersLog1p

__all__ = [
    "Forecaster",
    "SeasonalNaive",
    "RollingMedian",
    "RollingMean",
    "HoltWintersLog1p",
    "TSB",
    "Ensemble",
    "HorizonEnsemble",
    "ResidualInterval",
    "ConformalInterval",
    "Forecast",
    "SeriesModel",
    "default_model",
]
