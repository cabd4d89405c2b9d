"""The backtest's worker row on the bank: a whole panel is one :class:`~models.bank.ForecasterBank`.

:func:`evaluate_panel_bank` scores the worker's model (``ensemble+holidays``) with the protocol of
:mod:`models.evaluation.backtest_protocol` (same origins, warm-up, horizons, dating and metrics),
but every series of the panel is a row of one bank, all learning a day in one step: a full panel
takes seconds instead of the ~45 CPU s of the per-object row (the data loading is extra). Beside it,
``seasonal_naive`` (point forecasts only: its bands are not computed here) gives the scale of "rel.
sN". The bank equals the per-object stack, so the row equals the per-object one
(tests/unit/models/evaluation/test_backtest_bank.py).

>>> import random
>>> rng = random.Random(1)
>>> panel = {f"s{i}": [float(rng.random() < 0.4) * (3 + (t % 7)) for t in range(120 + i)]
...          for i in range(3)}
>>> board = evaluate_panel_bank(panel, name="toy", last_day=15_100)
>>> [row.name for row in board.rows], board.n_series, board.n_origins
(['seasonal_naive', 'ensemble+holidays', 'ensemble+holidays mean'], 3, 24)
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np

from models.bank import ForecasterBank
from models.evaluation.backtest_protocol import HORIZON, SEASON, STEP, WARMUP
from models.evaluation.metrics import Tally, snaive_scale, snaive_scales
from models.evaluation.scoreboard import BASELINE, Row, Scoreboard

__all__ = ["evaluate_panel_bank", "BANK_ROW", "MEAN_ROW"]

BANK_ROW = "ensemble+holidays"
MEAN_ROW = "ensemble+holidays mean"  # the same model's mean forecast (models.bank_mean)


def evaluate_panel_bank(panel: Mapping[str, Sequence[float]], name: str = "panel",
                        last_day: int | None = None) -> Scoreboard:
    """Score the worker's model on ``panel`` with one bank (see the module docstring).

    Every series ends on ``last_day`` (the epoch day that dates them for the holiday factor;
    None: undated), so series of different lengths start on different days.
    """
    codes = list(panel)
    ys = [np.asarray(panel[c], dtype=np.float64) for c in codes]
    lens = np.array([len(y) for y in ys])
    span = int(lens.max()) if len(lens) else 0
    start = span - lens  # the global day index of each series' first value
    values = np.zeros((len(codes), span))
    for i, y in enumerate(ys):
        values[i, start[i]:] = y
    bank = ForecasterBank(HORIZON, SEASON)
    rows = bank.add_rows(len(codes))
    if last_day is not None:
        bank.set_day(rows, last_day - lens + 1)
    ens = [Tally(HORIZON) for _ in codes]
    means = [Tally(HORIZON) for _ in codes]
    in_sample = [snaive_scales(y.tolist(), SEASON) for y in ys]
    naive = [Tally(HORIZON) for _ in codes]
    k = np.arange(HORIZON)
    cpu, n_origins = 0.0, 0
    for g in range(span):
        t = g - start
        live = t >= 0
        due = live & (t >= WARMUP) & ((t - WARMUP) % STEP == 0) & (t + HORIZON <= lens)
        if due.any():
            at = rows[due]
            t0 = time.process_time()
            f = bank.forecast(at, HORIZON)
            cpu += time.process_time() - t0
            for j, i in enumerate(at.tolist()):
                ti = int(t[i])
                y = ys[i][ti : ti + HORIZON].tolist()
                scale = in_sample[i][ti]  # its history's seasonal-naive MAE (M4/M5)
                ens[i].add(y, f.yhat[j].tolist(), lo={0.8: f.lo[j].tolist(),
                                                      0.95: f.lo95[j].tolist()},
                           hi={0.8: f.hi[j].tolist(), 0.95: f.hi95[j].tolist()}, scale=scale)
                naive[i].add(y, ys[i][ti - SEASON + k % SEASON].tolist(), scale=scale)
                assert f.mean is not None and f.lead is not None
                p10, p90 = f.lead[j, 1], f.lead[j, 2]
                means[i].add(y, f.mean[j].tolist(), scale=scale,
                             lead=None if np.isnan(p10) else (float(p10), float(p90)))
                n_origins += 1
        t0 = time.process_time()
        bank.learn(rows[live], values[live, g])
        cpu += time.process_time() - t0
    scales = [(snaive_scale(y.tolist(), SEASON), snaive_scale(y.tolist(), SEASON, power=2))
              for y in ys]
    scored = [i for i, t in enumerate(ens) if t.n]
    base = [naive[i] for i in scored]
    board_rows = [
        Row.from_tallies(BASELINE, [(naive[i], *scales[i]) for i in scored], 0.0,
                         baseline=base),
        Row.from_tallies(BANK_ROW, [(ens[i], *scales[i]) for i in scored], cpu, baseline=base),
        Row.from_tallies(MEAN_ROW, [(means[i], *scales[i]) for i in scored], cpu, baseline=base),
    ]
    board = Scoreboard(name, len(panel), n_origins, board_rows)
    board.meta["models"] = (f"{BANK_ROW} on the bank (models.bank); {MEAN_ROW}: its mean "
                            "forecast (models.bank_mean; CPU: the same run); seasonal_naive and "
                            "the mean: point forecasts only (no bands)")
    return board
