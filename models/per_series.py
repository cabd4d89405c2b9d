"""Any per-series model behind the batch contract: one :class:`~models.factory.SeriesModel` per row.

:class:`PerSeries` adapts every entry of the model zoo
(``models.evaluation.backtest_zoo.model_zoo``) and the per-object worker stack to
:class:`~models.base.BatchForecaster`, so one contract suite runs them all beside the bank, and
benchmarks and equivalence tests drive both the same way. It is a loop over objects: use
:class:`~models.bank.ForecasterBank` where speed matters.

>>> import numpy as np
>>> from models.factory import default_model
>>> batch = PerSeries(lambda: default_model(horizon=3))
>>> rows = batch.add_rows(2)
>>> for y in [2.0, 4.0, 3.0] * 10:
...     batch.learn(rows, np.array([y, 0.0]))
>>> batch.forecast(rows, 3).yhat.round(1).tolist()
[[3.0, 3.0, 3.0], [0.0, 0.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from models.base import BatchForecast, BatchForecaster, check_batch, check_horizon
from models.factory import SeriesModel

__all__ = ["PerSeries"]


class PerSeries(BatchForecaster):
    """Rows of ``make()``'s models (each row its own object graph)."""

    def __init__(self, make: Callable[[], SeriesModel]) -> None:
        self.make = make
        self.models: list[SeriesModel] = []
        probe = make()
        self.name = probe.forecaster.name
        self.horizon = probe.horizon

    @property
    def n_rows(self) -> int:
        return len(self.models)

    def add_rows(self, n: int) -> np.ndarray:
        if type(n) is not int or n < 0:
            raise ValueError(f"n must be an integer >= 0, got {n!r}")
        start = len(self.models)
        self.models.extend(self.make() for _ in range(n))
        return np.arange(start, start + n)

    def learn(self, rows: Any, values: Any) -> None:
        r, v = check_batch(rows, values, len(self.models))
        for i, y in zip(r.tolist(), v.tolist(), strict=True):
            self.models[i].learn_one(y)

    def forecast(self, rows: Any, horizon: int) -> BatchForecast:
        check_horizon(horizon)
        r = np.asarray(rows, dtype=np.int64).reshape(-1)
        fs = [self.models[i].forecast(horizon) for i in r.tolist()]

        def stack(name: str, fallback: str) -> np.ndarray:
            return np.array([getattr(f, name) or getattr(f, fallback) for f in fs],
                            dtype=np.float64).reshape(len(fs), horizon)

        return BatchForecast(stack("yhat", "yhat"), stack("lo", "lo"), stack("hi", "hi"),
                             stack("lo95", "lo"), stack("hi95", "hi"))

    def describe(self, row: int) -> dict[str, Any]:
        return self.models[row].forecast(1).model
