"""The backtest's protocol: horizons, origins and the prequential loop over one series.

Origins every :data:`STEP` (7) days once a series has :data:`WARMUP` (56) days of history,
while :data:`HORIZON` (14) days remain (:func:`origins`). At an origin each model forecasts
h = 1..14 from what it has learnt so far, *then* learns the next value (:func:`iter_evaluate`):
strictly in time order, no look-ahead. :mod:`models.evaluation.backtest` runs it over a panel,
:mod:`models.evaluation.backtest_bank` over a panel on the bank.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from models.factory import Forecast, SeriesModel

__all__ = ["DAILY", "HORIZON", "HOURLY", "LEVELS", "MONTHLY", "QUARTERLY", "SEASON", "STEP",
           "WARMUP", "WEEKLY", "Regime", "Step", "iter_evaluate", "origins"]

HORIZON, WARMUP, STEP, SEASON, LEVELS = 14, 56, 7, 7, (0.8, 0.95)


@dataclass(frozen=True)
class Regime:
    """How a panel of one bucket width is backtested, in buckets: the horizons ``1..horizon``,
    the ``season`` (the model's second season, 0: none; its trend member or not, as the
    worker's for that width: :mod:`models.seasons`), the ``warmup`` before the first origin
    and the ``step`` between origins."""

    bucket: str
    horizon: int
    season: int
    warmup: int
    step: int
    season2: int = 0
    trend: bool = False


DAILY = Regime("day", HORIZON, SEASON, WARMUP, STEP)  # Online Retail II
MONTHLY = Regime("month", 12, 12, 60, 3, trend=True)  # fpp3 PBS: five years, then quarterly
QUARTERLY = Regime("quarter", 8, 4, 32, 2, trend=True)  # fpp3 tourism: 8 years, then half-yearly
# a file in weekly buckets (models.evaluation.file_panel): a quarter ahead, after two years,
# then every 4 weeks
WEEKLY = Regime("week", 13, 52, 104, 4, trend=True)
# Online Retail II by the hour: the next day, after four weeks, then every 23 hours (so the
# origins visit every hour of the day); the worker's second season for hourly buckets
HOURLY = Regime("hour", 24, 24, 28 * 24, 23, season2=168)


@dataclass
class Step:
    """One origin of one series: the actuals of h = 1..H and each model's forecast."""

    origin: int
    y: list[float]
    forecasts: dict[str, Forecast]


def iter_evaluate(
    ys: Sequence[float],
    models: Mapping[str, SeriesModel],
    cpu: dict[str, float] | None = None,
    horizon: int = HORIZON,
    warmup: int = WARMUP,
    step: int = STEP,
    after_learn: Callable[[int, Mapping[str, SeriesModel]], None] | None = None,
) -> Iterator[Step]:
    """Prequential loop over one series: forecast at each origin, then learn, in time order.

    Like river's ``evaluate.iter_evaluate`` for forecasting; ``cpu`` accumulates each model's
    process time (learning and forecasting).
    """
    clock = time.process_time
    cpu = {} if cpu is None else cpu
    for t, y in enumerate(ys):
        if t >= warmup and (t - warmup) % step == 0 and t + horizon <= len(ys):
            forecasts = {}
            for name, m in models.items():
                t0 = clock()
                forecasts[name] = m.forecast(horizon)
                cpu[name] = cpu.get(name, 0.0) + clock() - t0
            yield Step(t, list(ys[t : t + horizon]), forecasts)
        for name, m in models.items():
            t0 = clock()
            m.learn_one(y)
            cpu[name] = cpu.get(name, 0.0) + clock() - t0
        if after_learn is not None:  # e.g. hand the LSTM's new path to the models that use it
            after_learn(t, models)


def origins(n: int, horizon: int = HORIZON, warmup: int = WARMUP, step: int = STEP) -> list[int]:
    """The backtest origins of a series of ``n`` values (as :func:`iter_evaluate` uses them).

    >>> origins(80)
    [56, 63]
    """
    return [t for t in range(warmup, n - horizon + 1, step)]
