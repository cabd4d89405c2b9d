"""The sweeps that chose two of the ensemble's settings, on the two tuning panels only.

    python docs/backtest/bank_sweeps.py share     # the medians' share (MEDIAN_SHARE), ~2 min
    python docs/backtest/bank_sweeps.py cycles    # the seasonal median's seasons, ~1.5 min

For each value, the worker's model on the bank (``evaluate_panel_bank``) on ``tuning`` and
``tuning_top``: mean MASE with each origin's in-sample scale and the geometric mean of the
per-series ratios to seasonal naive, then the sums over both panels (lower is better). The
scored panels are not touched here. ``cycles`` 0 is the ensemble without the seasonal median.
"""

from __future__ import annotations

import sys
from functools import partial

import models.bank_members
import models.evaluation.backtest_bank as backtest_bank
from config import load_settings
from models.bank import ForecasterBank
from models.evaluation.backtest_bank import BANK_ROW, evaluate_panel_bank
from models.evaluation.backtest_panels import daily_series, last_day, select_panel
from sources.online_retail import fetch_dataset

SWEEPS = {"share": (1.0, 0.8, 0.7, 0.65, 0.6, 0.5, 1 / 3), "cycles": (0, 3, 5, 8, 12)}


def _set(sweep: str, value: float) -> None:
    if sweep == "share":  # read by MemberBank when a bank is made
        models.bank_members.MEDIAN_SHARE = value
    else:
        backtest_bank.ForecasterBank = partial(ForecasterBank, cycles=int(value))  # type: ignore


def main(sweep: str) -> None:
    if sweep not in SWEEPS:
        raise SystemExit(f"usage: bank_sweeps.py {'|'.join(SWEEPS)}")
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
