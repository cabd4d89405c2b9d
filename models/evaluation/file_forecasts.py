"""The forecasts a user's file ends on, as a CSV: ``salescast backtest --file`` writes them.

After scoring the worker's model on a file's history (:mod:`models.evaluation.file_panel`),
the model has learnt every bucket of every series; its forecast of the buckets after the
file's last is what a retailer takes to planning. :func:`write_forecasts` writes them, a row
per series and step ahead:

``series,step,start,forecast,lo80,hi80,lo95,hi95,mean,history``

``start`` is the bucket's start on the shop's clock (``2024-03-01``; hours ``2024-03-01
13:00``), ``forecast`` the model's point forecast (median-like), ``lo80..hi95`` its 80% and
95% bands, ``mean`` the forecast whose sum over the steps is unbiased (units to stock), and
``history`` the buckets the series' model learnt (a new product's few: trust it less).

>>> import numpy as np, tempfile, pathlib
>>> f = BatchForecast(np.array([[2.0, 3.0]]), np.array([[1.0, 1.0]]), np.array([[3.0, 5.0]]),
...                   np.array([[0.0, 0.0]]), np.array([[4.0, 7.0]]), np.array([[2.5, 3.5]]))
>>> path = pathlib.Path(tempfile.mkdtemp()) / "f.csv"
>>> write_forecasts(path, {"A": 30}, f, 1704067200, 86400)
1
>>> print(path.read_text().strip())
series,step,start,forecast,lo80,hi80,lo95,hi95,mean,history
A,1,2024-01-02,2,1,3,0,4,2.5,30
A,2,2024-01-03,3,1,5,0,7,3.5,30
"""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping
from pathlib import Path

from models import grid
from models.base import BatchForecast

__all__ = ["write_forecasts", "COLUMNS"]

COLUMNS = ("series", "step", "start", "forecast", "lo80", "hi80", "lo95", "hi95", "mean",
           "history")


def _number(x: float) -> str:
    """A value as short as it reads: ``2`` for 2.0, four decimals at most."""
    return f"{round(x, 4) + 0.0:.4f}".rstrip("0").rstrip(".") if x == x else ""  # -0: 0


def write_forecasts(path: Path, series: Mapping[str, int], forecast: BatchForecast, last: int,
                    width: int) -> int:
    """Write ``forecast`` (a row per series of ``series``, name -> buckets of history, in
    that order) of the buckets after the one starting at ``last`` (epoch seconds), ``width``
    seconds wide, to ``path``; return the number of series written."""
    form = "%Y-%m-%d %H:%M" if width < 86_400 else "%Y-%m-%d"
    starts = [grid.shift(last, k, width) for k in range(1, forecast.horizon + 1)]
    names = [time.strftime(form, time.gmtime(s + grid.utc_offset())) for s in starts]
    mean = forecast.mean if forecast.mean is not None else forecast.yhat
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for i, (name, history) in enumerate(series.items()):
            for k, start in enumerate(names):
                out.writerow([name, k + 1, start, *(_number(float(a[i, k])) for a in (
                    forecast.yhat, forecast.lo, forecast.hi, forecast.lo95, forecast.hi95,
                    mean)), history])
    return len(series)
