"""Backtests on regimes other than daily retail: fpp3's monthly PBS and retail turnover and
quarterly tourism, and Online Retail II by the hour.

``salescast backtest pbs``, ``tourism``, ``retail`` and ``hourly`` run the worker's model on
the bank (:func:`~models.evaluation.backtest_bank.evaluate_panel_bank`) over every series of
the panel, with the regime's horizon, seasons and origins
(:data:`~models.evaluation.backtest_protocol.MONTHLY`, ``QUARTERLY``, ``HOURLY``), each member
on its own beside it and, with ``peer``, AutoETS. The series are undated (no holiday factor).

* ``pbs``, ``tourism``, ``retail``: every series of fpp3's files (:mod:`sources.fpp3`;
  ``retail`` is the monthly retail-turnover panel that issue 12's probe scored). These are for
  scoring only: no default was chosen on them.
* ``tuning_monthly``, ``tuning_quarterly``: other fpp3 files of the same regimes
  (:func:`~sources.fpp3.tuning_monthly_panel`, :func:`~sources.fpp3.tuning_quarterly_panel`),
  where the defaults of buckets of more than a day are chosen (:mod:`models.bank_trend`).
* ``hourly``: the net quantity per UTC hour of the whole shop (``total``) and of its
  :data:`HOURLY_COUNTRIES` largest countries (:func:`hourly_panel`), each from its first hour
  with a sale: the series a worker with hourly buckets keeps for its aggregates.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from models.evaluation.backtest_bank import evaluate_panel_bank
from models.evaluation.backtest_protocol import HOURLY, MONTHLY, QUARTERLY, Regime
from models.evaluation.hierarchy_eval import country_panel
from models.evaluation.scoreboard import Scoreboard
from models.seasons import HOUR
from sources import fpp3, online_retail

__all__ = ["HOURLY_COUNTRIES", "REGIME_PANELS", "hourly_panel", "run_regime"]

#: the countries of the hourly panel, beside the total: the largest by net quantity
HOURLY_COUNTRIES = 20
Loaded = tuple[dict[str, list[float]], str]  # the series by name, and where they came from
_Files = TypeVar("_Files", Path, dict[str, Path])  # an fpp3 panel's file, or files by name


def hourly_panel(path: Path, countries: int = HOURLY_COUNTRIES) -> dict[str, list[float]]:
    """The hourly panel of Online Retail II's file ``path`` (see the module docstring)."""
    names, values, _ = country_panel(path, HOUR)
    out = {}
    for name, row in zip(names[: countries + 1], values, strict=False):
        sold = np.flatnonzero(row > 0)
        if len(sold):
            out[name] = row[sold[0] :].tolist()
    return out


def _fpp3(fetch: Callable[[Path], _Files], load: Callable[[_Files], dict[str, list[float]]],
          ) -> Callable[[Path], Loaded]:
    """The loader of an fpp3 panel: ``fetch`` its file (or files, by name) from the data
    directory, ``load`` it."""
    def run(data_dir: Path) -> Loaded:
        got = fetch(data_dir)
        names = ", ".join(p.name for p in (got.values() if isinstance(got, dict) else [got]))
        return load(got), f"{names} ({fpp3.CITATION})"
    return run


def _hourly(data_dir: Path) -> Loaded:
    path = online_retail.fetch_dataset(data_dir)
    return hourly_panel(path), f"{path.name} ({online_retail.CITATION})"


#: panel -> (its regime, what loads its series from the data directory)
REGIME_PANELS: dict[str, tuple[Regime, Callable[[Path], Loaded]]] = {
    "pbs": (MONTHLY, _fpp3(lambda d: fpp3.fetch_fpp3(d)[0], fpp3.pbs_panel)),
    "tourism": (QUARTERLY, _fpp3(lambda d: fpp3.fetch_fpp3(d)[1], fpp3.tourism_panel)),
    "retail": (MONTHLY, _fpp3(lambda d: fpp3.fetch_retail(d), fpp3.retail_panel)),
    "tuning_monthly": (MONTHLY, _fpp3(lambda d: fpp3.fetch_tuning(d, fpp3.TUNING_MONTHLY),
                                      fpp3.tuning_monthly_panel)),
    "tuning_quarterly": (QUARTERLY, _fpp3(lambda d: fpp3.fetch_tuning(d, fpp3.TUNING_QUARTERLY),
                                          fpp3.tuning_quarterly_panel)),
    "hourly": (HOURLY, _hourly),
}


def run_regime(data_dir: Path, panel: str, out_dir: Path, peer: bool = False) -> Scoreboard:
    """Backtest ``panel`` (a key of :data:`REGIME_PANELS`); write ``backtest-{panel}-bank.md``
    (and its plots, when matplotlib is installed) under ``out_dir``."""
    if panel not in REGIME_PANELS:
        raise ValueError(f"panel must be one of {', '.join(REGIME_PANELS)}, got {panel!r}")
    regime, load = REGIME_PANELS[panel]
    series, data = load(data_dir)
    board = evaluate_panel_bank(series, f"{panel}-bank", regime=regime, peer=peer)
    board.meta |= {"data": data, "series in data": str(len(series))}
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    board.write(Path(out_dir), f"backtest-{board.name}")
    return board
