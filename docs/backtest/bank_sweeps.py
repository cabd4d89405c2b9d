"""The sweeps that chose the ensemble's settings, on the tuning panels only.

    python docs/backtest/bank_sweeps.py share     # the medians' share (MEDIAN_SHARE), ~2 min
    python docs/backtest/bank_sweeps.py cycles    # the seasonal median's seasons, ~1.5 min
    python docs/backtest/bank_sweeps.py coarse    # months and quarters (bank_trend), ~5 min

For each value, the worker's model on the bank (``evaluate_panel_bank``) on ``tuning`` and
``tuning_top``: mean MASE with each origin's in-sample scale and the geometric mean of the
per-series ratios to seasonal naive, then the sums over both panels (lower is better). The
scored panels are not touched here. ``cycles`` 0 is the ensemble without the seasonal median.

``coarse`` does the same for a bank with the damped-trend member (buckets of more than a
day) on ``tuning_monthly`` and ``tuning_quarterly``: each combination of the medians' share,
the trend member's share and the drop ratio (:data:`models.bank_trend.SHARES`, ``DROP``),
then, at the chosen one, the mean forecast's bias decay (``MEAN_DECAY``) with the bias of the
mean forecast as a share of mean demand on both panels.
"""

from __future__ import annotations

import itertools
import sys
from functools import partial

import models.bank_members
import models.bank_trend as bank_trend
import models.evaluation.backtest_bank as backtest_bank
from config import load_settings
from models.bank import ForecasterBank
from models.evaluation.backtest_bank import BANK_ROW, MEAN_ROW, evaluate_panel_bank
from models.evaluation.backtest_panels import daily_series, last_day, select_panel
from models.evaluation.regimes import REGIME_PANELS
from sources.online_retail import fetch_dataset

SWEEPS = {"share": (1.0, 0.8, 0.7, 0.65, 0.6, 0.5, 1 / 3), "cycles": (0, 3, 5, 8, 12)}
#: the coarse sweep's grid: medians' share x the trend member's share x the drop ratio; then
#: the mean decays
COARSE = ((0.65, 0.3, 0.1), (1.0, 2.0, 4.0, 6.0), (2.5, 1.5, 1.25))
MEAN_DECAYS = (0.96, 0.9, 0.8, 0.6)


def _set(sweep: str, value: float) -> None:
    if sweep == "share":  # read by MemberBank when a bank is made
        models.bank_members.MEDIAN_SHARE = value
    else:
        backtest_bank.ForecasterBank = partial(ForecasterBank, cycles=int(value))  # type: ignore


def coarse() -> None:
    """The ``coarse`` sweep (see the module docstring)."""
    data_dir = load_settings().data_dir
    panels = {}
    for name in ("tuning_monthly", "tuning_quarterly"):
        regime, load = REGIME_PANELS[name]
        panels[name] = (load(data_dir)[0], regime)

    def run() -> list[str]:
        cells = []
        for name, (panel, regime) in panels.items():
            board = evaluate_panel_bank(panel, name, regime=regime, members=False)
            row, mean = (next(r for r in board.rows if r.name == n) for n in (BANK_ROW, MEAN_ROW))
            cells.append(f"{row.mase_is:.4f} / {row.gmean_rel_is:.4f} / "
                         f"{100 * mean.bias_share:+.1f}%")
        return cells

    print("medians' share, trend share, drop | tuning_monthly mean / gm / mean's bias | "
          "tuning_quarterly mean / gm / mean's bias")
    for med, top, drop in itertools.product(*COARSE):
        bank_trend.SHARES, bank_trend.DROP = (med, top), drop
        print(f"{med}, {top}, {drop} | {' | '.join(run())}", flush=True)
    bank_trend.SHARES, bank_trend.DROP = (0.1, 4.0), 1.25
    print("mean decay at 0.1, 4, 1.25 | tuning_monthly | tuning_quarterly")
    for decay in MEAN_DECAYS:
        bank_trend.MEAN_DECAY = decay
        print(f"{decay} | {' | '.join(run())}", flush=True)


def main(sweep: str) -> None:
    if sweep == "coarse":
        return coarse()
    if sweep not in SWEEPS:
        raise SystemExit(f"usage: bank_sweeps.py {'|'.join([*SWEEPS, 'coarse'])}")
    path = fetch_dataset(load_settings().data_dir)
    series, day = daily_series(path), last_day(path)
    panels = {p: {c: series[c] for c in select_panel(series, p)} for p in ("tuning", "tuning_top")}
    print(f"{sweep} | tuning mean / gm | tuning_top mean / gm | sum of means | sum of gms")
    for value in SWEEPS[sweep]:
        _set(sweep, value)
        rows = []
        for name, panel in panels.items():
            board = evaluate_panel_bank(panel, name, last_day=day, members=False)
            rows.append(next(r for r in board.rows if r.name == BANK_ROW))
        cells = " | ".join(f"{r.mase_is:.4f} / {r.gmean_rel_is:.4f}" for r in rows)
        print(f"{value:.4g} | {cells} | {sum(r.mase_is for r in rows):.4f} | "
              f"{sum(r.gmean_rel_is for r in rows):.4f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
