"""Forecasting models: a catalogue around one contract (``models.base``).

* the contract: :class:`Forecaster` (one series, one value at a time) and
  :class:`BatchForecaster` (many series at once: ``add_rows``, ``learn``, ``forecast``,
  ``describe``), run by ``tests/unit/models/test_model_contract.py`` on every zoo entry and on
  the worker's stack;
* the members and their combination: baselines, online smoothing, intermittent demand,
  SNARIMAX, the per-horizon ensemble, conformal intervals, the holiday factor, anomaly scoring;
* the worker's stack: :func:`default_model` (one object graph per series) and
  :class:`ForecasterBank` (the same stack for many series at once, one row each, in numpy
  arrays; ``models/bank*.py``);
* ``models.evaluation``: backtest, metrics, scoreboard, the AutoETS peer, alert evaluation;
* ``models.neural``: the torch parts (LSTM, trainer, store, LSTM backtest).

Nothing outside ``models.neural`` imports torch, and nothing here imports Kafka, Redis or
Faust; the two sub-packages are imported explicitly.
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
