"""Forecasting models: pure Python online forecasters, baselines, ensemble and intervals.

Nothing here imports torch, Kafka, Redis or Faust (the LSTM, when it lands, lives in
``models.lstm`` and is imported explicitly). The worker's front door is :func:`default_model`
(one object graph per series), and :class:`ForecasterBank`, the same stack for many series at
once (one row each, numpy arrays); ``models.metrics``, ``models.backtest`` (which reads the
data through ``sources.online_retail``) and ``models.scoreboard`` are imported explicitly.
"""

from models.bank import ForecasterBank
from models.base import BatchForecast, BatchForecaster, Forecaster
from models.baselines import RollingMean, RollingMedian, SeasonalNaive
from models.conformal import ConformalInterval
from models.factory import Forecast, SeriesModel, default_model
from models.horizon import HorizonEnsemble
from models.intermittent import TSB
from models.online import HoltWintersLog1p

__all__ = [
    "BatchForecast",
    "BatchForecaster",
    "ForecasterBank",
    "Forecaster",
    "SeasonalNaive",
    "RollingMedian",
    "RollingMean",
    "HoltWintersLog1p",
    "TSB",
    "HorizonEnsemble",
    "ConformalInterval",
    "Forecast",
    "SeriesModel",
    "default_model",
]
