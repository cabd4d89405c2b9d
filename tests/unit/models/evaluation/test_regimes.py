"""models/evaluation/regimes.py: the fpp3 panels' backtests, on files shaped like fpp3's."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from models.evaluation import regimes
from models.evaluation.backtest_bank import BANK_ROW, MEMBER_ROW


def _files(tmp_path: Path) -> tuple[Path, Path]:
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    months = [f"{1991 + (6 + t) // 12} {names[(6 + t) % 12]}" for t in range(84)]
    pbs = tmp_path / "PBS.csv"
    pbs.write_text("Month,Concession,Type,ATC1,ATC1_desc,ATC2,ATC2_desc,Scripts,Cost\n" + "".join(
        f"{m},C{i},T,A,x,A0{i},y,{100 + 2 * t + 30 * (t % 12 == 5) + 7 * i},1\n"
        for i in range(3) for t, m in enumerate(months)))
    tourism = tmp_path / "tourism.csv"
    tourism.write_text("Quarter,Region,State,Purpose,Trips\n" + "".join(
        f"{1998 + t // 4} Q{t % 4 + 1},R{i},S,P,{50 + 10 * (t % 4 == 0) + i + 0.1 * t}\n"
        for i in range(2) for t in range(48)))
    return pbs, tourism


@pytest.mark.parametrize(("panel", "horizon"), [("pbs", 12), ("tourism", 8)])
def test_a_regime_panel_is_scored_and_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              panel: str, horizon: int) -> None:
    files = _files(tmp_path)
    monkeypatch.setattr(regimes, "fetch_fpp3", lambda data_dir: files)
    board = regimes.run_regime(tmp_path, panel, tmp_path / "out")
    assert (tmp_path / "out" / f"backtest-{panel}-bank.md").is_file()
    row = board.row(BANK_ROW)
    assert len(row.mase_by_horizon) == horizon and math.isfinite(row.mase_is)
    assert board.row(MEMBER_ROW.format("holt_winters_log1p")).n_series == board.n_series


def test_an_unknown_panel_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pbs, tourism"):
        regimes.run_regime(tmp_path, "m4", tmp_path)
