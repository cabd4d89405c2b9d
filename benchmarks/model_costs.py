"""``salescast bench models``: the cost of one closed bucket per series, model by model.

What the worker does when a series' bucket closes is ``model.learn_one(value)`` then
``model.forecast()`` (h = 14, both bands and the model description). This benchmark does
exactly that for ``series`` synthetic daily series (intermittent, weekly pattern, fixed seed)
over ``buckets`` buckets after a warm-up of 120, and reports process time per series per
bucket for the worker's model, the plain ensemble, each member with its conformal intervals,
and the reference of the same run: a bare seasonal naive (``learn_one`` + ``forecast(14)``,
no intervals), the cheapest forecaster there is. The issue's target is 20 us per series for
the whole ensemble.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import track
from rich.table import Table

__all__ = ["run_models_bench", "TARGET_US"]

TARGET_US = 20.0
WARMUP = 120
DAY0 = 15_000  # an epoch day (2011-01-26): bank holidays fall inside the run


def _series(n: int, length: int, seed: int = 0) -> list[list[float]]:
    rng = random.Random(seed)
    week = [1.0, 0.95, 0.95, 1.05, 1.25, 1.4, 0.55]
    out = []
    for _ in range(n):
        level, p_sale = rng.lognormvariate(1.0, 1.0), rng.uniform(0.2, 1.0)
        out.append([float(round(level * week[t % 7] * rng.expovariate(1.0)))
                    if rng.random() < p_sale else 0.0 for t in range(length)])
    return out


def _makers() -> dict[str, Callable[[], object]]:
    from models.baselines import RollingMedian, SeasonalNaive
    from models.evaluation.backtest_zoo import wrap
    from models.factory import default_model
    from models.intermittent import TSB
    from models.online import HoltWintersLog1p

    return {
        "seasonal naive, bare (reference)": lambda: SeasonalNaive(7),
        "seasonal naive + intervals": lambda: wrap(SeasonalNaive(7)),
        "rolling median + intervals": lambda: wrap(RollingMedian(28)),
        "holt-winters log1p + intervals": lambda: wrap(HoltWintersLog1p(7)),
        "tsb + intervals": lambda: wrap(TSB()),
        "ensemble + intervals": lambda: default_model(14),
        "worker model (ensemble+holidays)": lambda: default_model(14, holidays=True),
    }


def _time_one(make: Callable[[], object], data: list[list[float]], buckets: int) -> float:
    """Process seconds per series per bucket of learn_one + forecast, after the warm-up."""
    models = [make() for _ in data]
    for m in models:
        set_day = getattr(getattr(m, "forecaster", None), "set_day", None)
        if set_day is not None:
            set_day(DAY0)
    bare = not hasattr(models[0], "interval")
    for t in range(WARMUP):
        for m, ys in zip(models, data, strict=True):
            m.learn_one(ys[t])  # type: ignore[attr-defined]
    t0 = time.process_time()
    for t in range(WARMUP, WARMUP + buckets):
        for m, ys in zip(models, data, strict=True):
            m.learn_one(ys[t])  # type: ignore[attr-defined]
            if bare:
                m.forecast(14)  # type: ignore[attr-defined]
            else:
                m.forecast()  # type: ignore[attr-defined]
    return (time.process_time() - t0) / (len(data) * buckets)


def run_models_bench(series: int, buckets: int, console: Console) -> dict[str, float]:
    """Print the table and return microseconds per series per bucket, by model."""
    data = _series(series, WARMUP + buckets)
    makers = _makers()
    us: dict[str, float] = {}
    for name, make in track(list(makers.items()), description="timing models",
                            transient=True, console=console):
        us[name] = _time_one(make, data, buckets) * 1e6
    ref = us["seasonal naive, bare (reference)"]
    table = Table(title=f"closed bucket: learn_one + forecast(14), {series:,} series x "
                        f"{buckets} buckets (process time)")
    table.add_column("model")
    table.add_column("us / series", justify="right")
    table.add_column("x reference", justify="right")
    table.add_column(f"x target ({TARGET_US:g} us)", justify="right")
    for name, v in us.items():
        table.add_row(name, f"{v:.1f}", f"{v / ref:.1f}", f"{v / TARGET_US:.2f}")
    console.print(table)
    worker = us["worker model (ensemble+holidays)"]
    verdict = "met" if worker <= TARGET_US else "NOT met"
    console.print(f"target <= {TARGET_US:g} us per series for the whole ensemble: {verdict} "
                  f"({worker:.1f} us; {1e6 / worker:,.0f} series-buckets per second per core)")
    return us
