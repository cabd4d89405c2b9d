"""Backtest rows for aggregates: the total and each country, direct, bottom-up and reconciled.

The panel (:func:`country_panel`) is the daily net quantity of the whole shop (``total``) and of
each country (``country:<name>``), from the data's first day to its last; the countries are
the total's children and sum to it exactly. Every series is a row of one
:class:`~models.bank.ForecasterBank` (the worker's model, with the holiday factor). At the
origins of the SKU backtest (:mod:`models.evaluation.backtest_protocol`: every 7 days after 56,
h = 1..14) three forecasts are scored:

* ``direct``: each series' own forecast and bands;
* ``bottom-up``: the total as the sum of its countries' direct forecasts (a country is a leaf:
  its bottom-up forecast is its direct one); point forecasts only;
* ``reconciled``: :func:`models.reconcile.reconcile` of the direct forecasts, with the bands
  of :class:`models.reconcile.AdaptiveBands` (fed every day, as the worker feeds them).

MASE uses each origin's in-sample seasonal-naive scale (M4/M5); coverage is over all points.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> kids = rng.poisson(5.0, size=(3, 120)).astype(float)
>>> rep = evaluate_hierarchy(["total", "c:a", "c:b", "c:c"], np.vstack([kids.sum(0), kids]),
...                          first_day=15_000)
>>> sorted(rep.tallies), rep.n_origins
(['bottom-up', 'direct', 'reconciled'], 8)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.bank import ForecasterBank
from models.evaluation.backtest_protocol import HORIZON, SEASON, STEP, WARMUP
from models.evaluation.metrics import Tally, snaive_scales
from models.reconcile import PARENT_POWER, SPREAD, AdaptiveBands, reconcile, variance_of_band
from sources.online_retail import iter_events

__all__ = ["country_panel", "evaluate_hierarchy", "run_countries", "HierarchyReport", "METHODS"]

DAY = 86400
METHODS = ("direct", "bottom-up", "reconciled")
SCALED, SCALE_FLOOR = True, 1.0


def country_panel(path: Path, width: int = DAY) -> tuple[list[str], np.ndarray, int]:
    """``(names, values, first_day)``: ``total`` then ``country:<name>`` by volume, daily net
    quantity ``(n, days)`` from the data's first UTC day (epoch day ``first_day``). Another
    ``width`` (seconds) gives buckets of that width instead of days (``first_day``: the first
    bucket's index since the epoch)."""
    per: dict[str, dict[int, float]] = {}
    first, last = None, 0
    for e in iter_events(Path(path)):
        d = int(e.ts // width)
        first = d if first is None else min(first, d)
        last = max(last, d)
        days = per.setdefault(f"country:{e.country or '(none)'}", {})
        days[d] = days.get(d, 0.0) + e.qty
    if first is None:
        raise ValueError(f"{path} holds no events")
    names = sorted(per, key=lambda c: (-sum(per[c].values()), c))
    values = np.zeros((len(names) + 1, last - first + 1))
    for i, name in enumerate(names, start=1):
        for d, q in per[name].items():
            values[i, d - first] = q
    values[0] = values[1:].sum(axis=0)
    return ["total", *names], values, first


@dataclass
class HierarchyReport:
    names: list[str]
    tallies: dict[str, list[Tally]] = field(default_factory=dict)  # method -> per series
    n_origins: int = 0
    cpu: float = 0.0

    def to_markdown(self, top: int = 5) -> str:
        """The total and the ``top`` largest children, then the mean over all children."""
        head = ("| series | method | MASE (in-sample scale) | RMSE | bias | 80% cov. | "
                "95% cov. | 80% width |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        lines = [head]

        def cells(t: Tally, banded: bool) -> str:
            m = t.mase_in_sample()
            cov = (f"{t.coverage(0.8):.3f} | {t.coverage(0.95):.3f} | {t.width(0.8):.1f}"
                   if banded else "- | - | -")
            return (f"{'-' if m is None else f'{m:.4f}'} | {t.mse() ** 0.5:.1f} | "
                    f"{t.bias():.1f} | {cov}")

        for i, name in enumerate(self.names[: top + 1]):
            for method in METHODS:
                if method == "bottom-up" and i > 0:
                    continue  # a leaf: its bottom-up forecast is its direct one
                lines.append(f"| {name} | {method} | "
                             f"{cells(self.tallies[method][i], method != 'bottom-up')} |")
        for method in ("direct", "reconciled"):
            ms = [m for t in self.tallies[method][1:] if (m := t.mase_in_sample()) is not None]
            lines.append(f"| all {len(self.names) - 1} children (mean) | {method} | "
                         f"{np.mean(ms):.4f} | | | | | |")
        return "\n".join(lines) + "\n"


def evaluate_hierarchy(names: Sequence[str], values: np.ndarray, first_day: int | None = None,
                       spread: float = SPREAD) -> HierarchyReport:
    """Score direct, bottom-up and reconciled forecasts of ``values`` (row 0 the parent, the
    rest its children, which sum to it) on the SKU backtest's origins."""
    n, days = values.shape
    bank = ForecasterBank(HORIZON, SEASON)
    rows = bank.add_rows(n)
    if first_day is not None:
        bank.set_day(rows, np.full(n, first_day))
    rep = HierarchyReport(list(names), {m: [Tally(HORIZON) for _ in range(n)] for m in METHODS})
    bands = [AdaptiveBands(HORIZON, 1) for _ in range(n)]
    scales = [snaive_scales(values[i].tolist(), SEASON) for i in range(n)]
    for t in range(days):
        t0 = time.process_time()
        f = bank.forecast(rows, HORIZON)
        var = variance_of_band(f.lo95, f.hi95)
        rec = reconcile(f.yhat, var, spread)
        scale = np.sqrt(var) + SCALE_FLOOR if SCALED else np.ones_like(var)
        shift = rec - f.yhat  # young bands (as in the worker): the model's own, moved
        banded = [bands[i].bands(rec[i], scale[i], [a[i] + shift[i] for a in
                                                     (f.lo, f.hi, f.lo95, f.hi95)])
                  for i in range(n)]
        rep.cpu += time.process_time() - t0
        if t >= WARMUP and (t - WARMUP) % STEP == 0 and t + HORIZON <= days:
            rep.n_origins += 1
            bottom_up = np.vstack([f.yhat[1:].sum(axis=0), f.yhat[1:]])
            for i in range(n):
                y, s = values[i, t:t + HORIZON].tolist(), scales[i][t]
                rep.tallies["direct"][i].add(
                    y, f.yhat[i].tolist(), lo={0.8: f.lo[i].tolist(), 0.95: f.lo95[i].tolist()},
                    hi={0.8: f.hi[i].tolist(), 0.95: f.hi95[i].tolist()}, scale=s)
                rep.tallies["bottom-up"][i].add(y, bottom_up[i].tolist(), scale=s)
                lo, hi, lo95, hi95 = banded[i]
                rep.tallies["reconciled"][i].add(y, rec[i].tolist(), lo={0.8: lo, 0.95: lo95},
                                                 hi={0.8: hi, 0.95: hi95}, scale=s)
        t0 = time.process_time()
        for i in range(n):  # the forecast for t, t + 1, ..., then the actual of day t
            bands[i].remember(t, rec[i].tolist(), scale[i].tolist())
            bands[i].learn(t, float(values[i, t]))
        bank.learn(rows, values[:, t])
        rep.cpu += time.process_time() - t0
    return rep


def run_countries(path: Path, out_dir: Path) -> tuple[HierarchyReport, Path]:
    """Backtest the ``countries`` hierarchy of the data at ``path``; write
    ``backtest-countries.md`` under ``out_dir``."""
    names, values, first = country_panel(path)
    rep = evaluate_hierarchy(names, values, first)
    text = (f"# Backtest: the total and its countries ({len(names) - 1} countries, "
            f"{values.shape[1]} days, {rep.n_origins} origins, h = 1..{HORIZON})\n\n"
            "Produced by `salescast backtest countries` (models/evaluation/hierarchy_eval.py). "
            "Children sum to their parent exactly after reconciliation (the parent's WLS share "
            f"to the power {PARENT_POWER:g}; the children's part to the children whose forecast "
            f"standard deviation is above {SPREAD:g} of the widest child's); bands of the "
            "reconciled rows come from their own errors "
            "(models/reconcile.py). MASE: mean over origins of |error| / the in-sample "
            "seasonal-naive MAE up to that origin (M4/M5).\n\n"
            + rep.to_markdown(top=len(names))
            + f"\nCPU: {rep.cpu:.1f} s for the bank, the reconciliation and the bands. "
            f"Data: {Path(path).name}.\n")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "backtest-countries.md"
    target.write_text(text)
    return rep, target
