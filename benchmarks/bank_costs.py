"""``salescast bench models``: one closed bucket for many series, the bank against per-object.

What the worker does when a bucket closes, for the whole stack it runs (five members,
per-horizon ensemble, holiday factor, 80% / 95% conformal bands, anomaly check of the closed
value against the forecast made before it, then forecast(14) with both bands):

* the bank (:class:`~models.bank.ForecasterBank`): ``close(rows, values)`` then
  ``forecast(rows, 14)`` for ``series`` rows at once;
* per-object (:func:`~models.factory.default_model` with holidays plus
  :class:`~models.bank_anomaly.OneDetector`): the same per series, as ``Processor._learn`` does,
  on the first ``object_series`` series (its cost per series does not depend on how many).

Both run on the same synthetic daily series (intermittent, weekly pattern, fixed seed) after a
warm-up of 120 buckets (full conformal windows), and are timed in process time over ``buckets``
buckets. The issue's target is 5 us per series for the bank. A third row times the bank of
hourly buckets (:func:`~models.seasons.season2_for`: two more members, over the week), on the
same kind of series warmed up over 200 buckets, beside the same stack without its weekly
season (what the second season costs, in the same run). The last times the stack of monthly
buckets (season 12 and the damped-trend member, :func:`~models.seasons.trend_for`), undated,
on the daily rows' series.
"""

from __future__ import annotations

import time

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.model_costs import DAY0, WARMUP, _series
from models.seasons import season2_for

__all__ = ["run_bank_bench", "TARGET_US"]

TARGET_US = 5.0
HORIZON = 14
HOURLY_WARMUP = 200  # past a whole second season (168), so its members run their full path


def _time_bank(data: np.ndarray, buckets: int, season: int = 7, season2: int = 0,
               trend: bool = False) -> tuple[float, float]:
    """Process seconds per bucket for all rows, and the slowest single close + forecast
    (daily rows are dated; hourly and monthly ones, with ``season2`` or ``trend``, not)."""
    from models.bank import ForecasterBank

    bank = ForecasterBank(HORIZON, season, season2=season2, trend=trend)
    rows = bank.add_rows(len(data))
    warmup = data.shape[1] - buckets
    if season == 7:
        bank.set_day(rows, np.full(len(rows), DAY0))
    for t in range(warmup):
        bank.close(rows, data[:, t])
    bank.forecast(rows, HORIZON)
    total, worst = 0.0, 0.0
    for t in range(warmup, warmup + buckets):
        t0 = time.process_time()
        bank.close(rows, data[:, t])
        bank.forecast(rows, HORIZON)
        dt = time.process_time() - t0
        total, worst = total + dt, max(worst, dt)
    return total / buckets, worst


def _time_objects(data: np.ndarray, buckets: int) -> float:
    """Process seconds per bucket for all series, one object graph per series."""
    from models.anomaly import Expected
    from models.bank_anomaly import OneDetector
    from models.factory import default_model

    models = [default_model(HORIZON, holidays=True) for _ in range(len(data))]
    for m in models:
        m.forecaster.set_day(DAY0)  # type: ignore[attr-defined]
    dets = [OneDetector() for _ in models]
    values = data.tolist()
    for t in range(WARMUP):
        for m, ys in zip(models, values, strict=True):
            m.learn_one(ys[t])
    forecasts = [m.forecast(HORIZON) for m in models]
    t0 = time.process_time()
    for t in range(WARMUP, WARMUP + buckets):
        for i, (m, det, ys) in enumerate(zip(models, dets, values, strict=True)):
            f, y = forecasts[i], ys[t]
            det.observe(y, Expected(f.yhat[0], f.lo[0], f.hi[0], f.lo95[0], f.hi95[0]),
                        m.n_seen)
            m.learn_one(y)
            forecasts[i] = m.forecast(HORIZON)
    return (time.process_time() - t0) / buckets


def run_bank_bench(series: int, buckets: int, object_series: int,
                   console: Console) -> dict[str, float]:
    """Print the comparison; return microseconds per series per bucket of both, and the ratio."""
    data = np.array(_series(series, WARMUP + buckets), dtype=np.float64)
    n_obj = min(object_series, series)
    with console.status(f"bank: {series:,} series, {WARMUP} warm-up buckets ..."):
        bank_s, worst = _time_bank(data, buckets)
    with console.status(f"per-object: {n_obj:,} series, {WARMUP} warm-up buckets ..."):
        obj_s = _time_objects(data[:n_obj], buckets)
    hourly = np.array(_series(series, HOURLY_WARMUP + buckets), dtype=np.float64)
    with console.status(f"bank, hourly: {series:,} series, {HOURLY_WARMUP} warm-up buckets ..."):
        hourly_s, _ = _time_bank(hourly, buckets, 24, season2=season2_for(3600))
        daily_only_s, _ = _time_bank(hourly, buckets, 24)
    with console.status(f"bank, monthly: {series:,} series, {WARMUP} warm-up buckets ..."):
        monthly_s, _ = _time_bank(data, buckets, 12, trend=True)
    bank_us, obj_us = bank_s / series * 1e6, obj_s / n_obj * 1e6
    table = Table(title=f"one closed bucket of the worker's stack (close + forecast({HORIZON}) "
                        f"with both bands and the anomaly check), {buckets} buckets, "
                        "process time")
    for col in ("stack", "series", "ms / bucket", "us / series", f"x target ({TARGET_US:g} us)"):
        table.add_column(col, justify="left" if col == "stack" else "right")
    table.add_row("bank (models.bank)", f"{series:,}", f"{bank_s * 1e3:.1f}", f"{bank_us:.2f}",
                  f"{bank_us / TARGET_US:.2f}")
    table.add_row("per-object (default_model + OneDetector)", f"{n_obj:,}",
                  f"{obj_s * 1e3:.1f}", f"{obj_us:.2f}", f"{obj_us / TARGET_US:.2f}")
    hourly_us, daily_only_us = hourly_s / series * 1e6, daily_only_s / series * 1e6
    table.add_row("bank, hourly buckets (seasons 24 and 168: 8 members)", f"{series:,}",
                  f"{hourly_s * 1e3:.1f}", f"{hourly_us:.2f}", f"{hourly_us / TARGET_US:.2f}")
    table.add_row("bank, hourly buckets without the weekly season (6 members)", f"{series:,}",
                  f"{daily_only_s * 1e3:.1f}", f"{daily_only_us:.2f}",
                  f"{daily_only_us / TARGET_US:.2f}")
    monthly_us = monthly_s / series * 1e6
    table.add_row("bank, monthly buckets (season 12, damped trend: 7 members)", f"{series:,}",
                  f"{monthly_s * 1e3:.1f}", f"{monthly_us:.2f}", f"{monthly_us / TARGET_US:.2f}")
    console.print(table)
    ratio = obj_us / bank_us
    verdict = "met" if bank_us <= TARGET_US else "NOT met"
    console.print(f"bank: {bank_us:.2f} us per series, {ratio:.1f}x faster than per-object "
                  f"({obj_us:.1f} us); target <= {TARGET_US:g} us: {verdict}; slowest single "
                  f"close of {series:,} rows: {worst * 1e3:.0f} ms")
    console.print(f"hourly: {hourly_us:.2f} us per series, {hourly_us / daily_only_us:.2f}x "
                  f"the same stack without its weekly season ({daily_only_us:.2f} us)")
    return {"bank_us": bank_us, "object_us": obj_us, "ratio": ratio, "hourly_us": hourly_us,
            "monthly_us": monthly_us}
