"""The sweep that chose the rolling medians' share of the ensemble's weights (MEDIAN_SHARE), on
the two tuning panels only.

    python docs/backtest/share_sweep.py            # ~1 min on one core

For each share, the worker's model on the bank (``evaluate_panel_bank``) on ``tuning`` and
``tuning_top``: mean MASE with each origin's in-sample scale and the geometric mean of the
per-series ratios to seasonal naive, then the sums over both panels (lower is better). The
scored panels are not touched here.
"""

from __future__ import annotations

import models.bank_members
from config import load_settings
from models.evaluation.backtest_bank import BANK_ROW, evaluate_panel_bank
from models.evaluation.backtest_panels import daily_series, last_day, select_panel
from sources.online_retail import fetch_dataset

SHARES = (1.0, 0.8, 0.7, 0.65, 0.6, 0.5, 1 / 3)


def main() -> None:
    path = fetch_dataset(load_settings().data_dir)
    series, day = daily_series(path), last_day(path)
    panels = {p: {c: series[c] for c in select_panel(series, p)} for p in ("tuning", "tuning_top")}
    print("share | tuning mean / gm | tuning_top mean / gm | sum of means | sum of gms")
    for share in SHARES:
        models.bank_members.MEDIAN_SHARE = share  # read by MemberBank when a bank is made
        rows = []
        for name, panel in panels.items():
            board = evaluate_panel_bank(panel, name, last_day=day, members=False)
            rows.append(next(r for r in board.rows if r.name == BANK_ROW))
        cells = " | ".join(f"{r.mase_is:.4f} / {r.gmean_rel_is:.4f}" for r in rows)
        print(f"{share:.4g} | {cells} | {sum(r.mase_is for r in rows):.4f} | "
              f"{sum(r.gmean_rel_is for r in rows):.4f}", flush=True)


if __name__ == "__main__":
    main()
