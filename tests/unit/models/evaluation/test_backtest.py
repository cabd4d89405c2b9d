"""A tiny backtest on a synthetic panel: the scoreboard, and run_backtest end to end."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import models.evaluation.backtest as bt
import models.evaluation.backtest_panels as panels
from models.evaluation.backtest import evaluate_panel
from models.evaluation.backtest_zoo import model_zoo


def synthetic_panel(n: int = 4, days: int = 126, seed: int = 5) -> dict[str, list[float]]:
    rng = random.Random(seed)
    week = [0.0, 1.0, 3.0, 5.0, 4.0, 2.0, 0.0]
    return {
        f"sku{i}": [float(rng.random() < 0.6) * week[t % 7] * (1 + i) for t in range(days)]
        for i in range(n)
    }


def test_tiny_backtest_scoreboard(tmp_path: Path) -> None:
    board = evaluate_panel(synthetic_panel(), "synthetic", progress=False, keep=["sku0"])
    names = [r.name for r in board.rows]
    assert names == list(model_zoo()) and board.n_series == 4 and board.n_origins == 4 * 9
    assert board.relative_mase("seasonal_naive") == 1.0
    for r in board.rows:
        assert r.mase > 0 and r.cpu_s >= 0 and len(r.mase_by_horizon) == 14
        assert 0 <= r.coverage80 <= r.coverage95 <= 1 and r.width80 <= r.width95
    assert len(board.examples["sku0"]) == 9
    paths = board.write(tmp_path, "toy")
    text = paths[0].read_text()
    assert "| ensemble |" in text and "rel. sN" in text


def test_a_file_name_that_is_not_utf8_is_written_escaped(tmp_path: Path) -> None:
    """A file called ``z\xff.csv`` (its name decoded with surrogates) was scored, then the
    scoreboard's write failed with a UnicodeEncodeError traceback."""
    from models.evaluation.scoreboard import Scoreboard

    board = Scoreboard("z", 0, 0, [], meta={"data": "z\udcff.csv"})
    text = board.write(tmp_path, "z")[0].read_text(encoding="utf-8")
    assert "z\\xff.csv" in text


def test_run_backtest_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    panel = synthetic_panel(6)
    monkeypatch.setattr(bt, "daily_panel", lambda path: (panel, {}))
    monkeypatch.setattr(bt, "last_day", lambda path: 15_000)
    monkeypatch.setattr(panels, "PANEL_SIZE", 3)
    a = bt.run_backtest(tmp_path / "none.csv.xz", "top500", False, tmp_path)
    b = bt.run_backtest(tmp_path / "none.csv.xz", "top500", False, tmp_path)
    assert [r.mase for r in a.rows] == [r.mase for r in b.rows] and a.n_series == 3
    assert (tmp_path / "backtest-top500.md").is_file()
