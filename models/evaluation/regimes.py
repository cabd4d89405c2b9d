"""Backtests on regimes other than daily retail: fpp3's monthly PBS and quarterly tourism.

``salescast backtest pbs`` and ``salescast backtest tourism`` run the worker's model on the
bank (:func:`~models.evaluation.backtest_bank.evaluate_panel_bank`) over every series of the
panel (:mod:`sources.fpp3`), with the regime's horizon, season and origins
(:data:`~models.evaluation.backtest_protocol.MONTHLY`, ``QUARTERLY``), each member on its own
beside it and, with ``peer``, AutoETS. The series are undated (no holiday factor). These
panels are for scoring only: no default was chosen on them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from models.evaluation.backtest_bank import evaluate_panel_bank
from models.evaluation.backtest_protocol import MONTHLY, QUARTERLY, Regime
from models.evaluation.scoreboard import Scoreboard
from sources.fpp3 import CITATION, fetch_fpp3, pbs_panel, tourism_panel

__all__ = ["REGIME_PANELS", "run_regime"]

#: panel -> (its regime, its loader, which of fetch_fpp3's two files it reads)
REGIME_PANELS: dict[str, tuple[Regime, Callable[[Path], dict[str, list[float]]], int]] = {
    "pbs": (MONTHLY, pbs_panel, 0),
    "tourism": (QUARTERLY, tourism_panel, 1),
}


def run_regime(data_dir: Path, panel: str, out_dir: Path, peer: bool = False) -> Scoreboard:
    """Backtest ``panel`` (a key of :data:`REGIME_PANELS`); write ``backtest-{panel}-bank.md``
    (and its plots, when matplotlib is installed) under ``out_dir``."""
    if panel not in REGIME_PANELS:
        raise ValueError(f"panel must be one of {', '.join(REGIME_PANELS)}, got {panel!r}")
    regime, load, which = REGIME_PANELS[panel]
    path = fetch_fpp3(data_dir)[which]
    series = load(path)
    board = evaluate_panel_bank(series, f"{panel}-bank", regime=regime, peer=peer)
    board.meta |= {"data": f"{path.name} ({CITATION})", "series in data": str(len(series))}
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    board.write(Path(out_dir), f"backtest-{board.name}")
    return board
