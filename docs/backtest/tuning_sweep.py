"""The sweep that chose the ensemble's members, on the two tuning panels only.

    python docs/backtest/tuning_sweep.py            # ~5 min on one core

Prints MASE (absolute, averaged over series) of each candidate on ``tuning`` (100 sparse SKUs)
and ``tuning_top`` (the 100 largest SKUs outside both scored panels). The scored panels
(``top500``, ``sampled``) are not touched here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from config import load_settings
from models.base import Forecaster
from models.baselines import RollingMedian, SeasonalNaive
from models.conformal import ConformalInterval
from models.evaluation.backtest import evaluate_panel
from models.evaluation.backtest_panels import daily_series, select_panel
from models.evaluation.backtest_zoo import wrap
from models.factory import SeriesModel
from models.horizon import HorizonEnsemble
from models.intermittent import TSB
from models.online import HoltWintersLog1p
from sources.online_retail import fetch_dataset

Members = Callable[[], Mapping[str, Forecaster]]


def _ens(members: Members, combine: str = "median") -> Callable[[], SeriesModel]:
    return lambda: SeriesModel(HorizonEnsemble(members(), 14, power=2.0, combine=combine),
                               ConformalInterval(14, (0.8, 0.95)), 14)


CANDIDATES: dict[str, Callable[[], SeriesModel]] = {
    "rolling_median (28)": lambda: wrap(RollingMedian(28)),
    "holt_winters_log1p": lambda: wrap(HoltWintersLog1p(7)),
    "v1: sn rm28 hw tsb": _ens(lambda: {"sn": SeasonalNaive(7), "rm28": RollingMedian(28),
                                        "hw": HoltWintersLog1p(7), "tsb": TSB()}),
    "rm28 hw (mean)": _ens(lambda: {"rm28": RollingMedian(28), "hw": HoltWintersLog1p(7)},
                           "mean"),
    "rm7 rm28 hw": _ens(lambda: {"rm7": RollingMedian(7), "rm28": RollingMedian(28),
                                 "hw": HoltWintersLog1p(7)}),
    "rm14 rm28 rm56 hw": _ens(lambda: {"rm14": RollingMedian(14), "rm28": RollingMedian(28),
                                       "rm56": RollingMedian(56), "hw": HoltWintersLog1p(7)}),
    "rm14 rm28 rm56 hw tsb": _ens(lambda: {"rm14": RollingMedian(14), "rm28": RollingMedian(28),
                                           "rm56": RollingMedian(56),
                                           "hw": HoltWintersLog1p(7), "tsb": TSB()}),
    "v2: sn rm14 rm28 rm56 hw": _ens(lambda: {"sn": SeasonalNaive(7), "rm14": RollingMedian(14),
                                              "rm28": RollingMedian(28),
                                              "rm56": RollingMedian(56),
                                              "hw": HoltWintersLog1p(7)}),
}


def main() -> None:
    series = daily_series(fetch_dataset(load_settings().data_dir))
    print("| candidate | tuning | tuning_top |\n|---|---|---|")
    scores: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    for panel in ("tuning", "tuning_top"):
        codes = select_panel(series, panel)
        board = evaluate_panel({c: series[c] for c in codes}, panel, zoo=CANDIDATES)
        for row in board.rows:
            scores[row.name].append(row.mase)
    for name, (a, b) in scores.items():
        print(f"| {name} | {a:.4f} | {b:.4f} |")


if __name__ == "__main__":
    main()
