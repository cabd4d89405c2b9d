"""A tiny backtest on a synthetic panel: the protocol, no look-ahead, the scoreboard."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import models.backtest as bt
import models.backtest_panels as panels
from models.backtest import evaluate_panel
from models.backtest_panels import select_panel
from models.backtest_protocol import iter_evaluate
from models.backtest_zoo import model_zoo
from models.factory import Forecast, SeriesModel


def synthetic_panel(n: int = 4, days: int = 126, seed: int = 5) -> dict[str, list[float]]:
    rng = random.Random(seed)
    week = [0.0, 1.0, 3.0, 5.0, 4.0, 2.0, 0.0]
    return {
        f"sku{i}": [float(rng.random() < 0.6) * week[t % 7] * (1 + i) for t in range(days)]
        for i in range(n)
    }


def test_origins_every_seven_days_after_warmup() -> None:
    ys = [float(t % 7) for t in range(100)]
    steps = list(iter_evaluate(ys, {"m": model_zoo()["seasonal_naive"]()}))
    assert [s.origin for s in steps] == [56, 63, 70, 77, 84]  # 84 + 14 <= 100 < 91 + 14
    assert all(s.y == ys[s.origin : s.origin + 14] for s in steps)


class Spy(SeriesModel):
    """Records how many values it had learnt at each forecast."""

    seen_at_forecast: list[int]

    def forecast(self, horizon: int | None = None) -> Forecast:
        self.seen_at_forecast.append(self.n_seen)
        return super().forecast(horizon)


def test_no_look_ahead() -> None:
    m = model_zoo()["tsb"]()
    spy = Spy(m.forecaster, m.interval, m.horizon)
    spy.seen_at_forecast = []
    steps = list(iter_evaluate([1.0] * 90, {"spy": spy}))
    assert spy.seen_at_forecast == [s.origin for s in steps]  # learnt exactly y[:origin]


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


def test_run_backtest_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    panel = synthetic_panel(6)
    monkeypatch.setattr(bt, "daily_panel", lambda path: (panel, {}))
    monkeypatch.setattr(bt, "last_day", lambda path: 15_000)
    monkeypatch.setattr(panels, "PANEL_SIZE", 3)
    a = bt.run_backtest(tmp_path / "none.csv.xz", "top500", False, tmp_path)
    b = bt.run_backtest(tmp_path / "none.csv.xz", "top500", False, tmp_path)
    assert [r.mase for r in a.rows] == [r.mase for r in b.rows] and a.n_series == 3
    assert (tmp_path / "backtest-top500.md").is_file()


def test_select_panel() -> None:
    series = {f"s{i}": [float(i)] * (50 + 10 * i) for i in range(20)}
    assert select_panel(series, "top500")[:2] == ["s19", "s18"]
    sampled = select_panel(series, "sampled")
    assert sampled == select_panel(series, "sampled") and all(int(c[1:]) >= 5 for c in sampled)
    with pytest.raises(ValueError, match="'top500', 'sampled', 'tuning' or 'tuning_top'"):
        select_panel(series, "all")
