"""The backtest on the bank scores the worker's row exactly as the per-object backtest does."""

from __future__ import annotations

import random

import pytest

from models.evaluation.backtest import evaluate_panel
from models.evaluation.backtest_bank import BANK_ROW, MEMBER_ROW, evaluate_panel_bank
from models.evaluation.backtest_protocol import MONTHLY, origins
from models.evaluation.backtest_zoo import model_zoo


def _panel() -> dict[str, list[float]]:
    """Series of different lengths (so different start days), intermittent and busy."""
    rng = random.Random(5)
    panel = {}
    for i in range(6):
        level, p = rng.uniform(0.5, 30.0), rng.uniform(0.2, 1.0)
        n = 100 + 17 * i
        panel[f"s{i}"] = [float(round(level * (1 + (t % 7 == 5)) * rng.expovariate(1.0)))
                          if rng.random() < p else 0.0 for t in range(n)]
    return panel


@pytest.mark.parametrize("last_day", [15_100, None])  # 2011-05-04: Easter and May holidays
def test_bank_panel_equals_the_per_object_panel(last_day: int | None) -> None:
    panel = _panel()
    zoo = model_zoo()
    ref = evaluate_panel(panel, "ref", zoo={n: zoo[n] for n in ("seasonal_naive", BANK_ROW)},
                         progress=False, last_day=last_day)
    got = evaluate_panel_bank(panel, "bank", last_day=last_day)
    assert got.n_origins == ref.n_origins and got.n_series == ref.n_series
    a, b = got.row(BANK_ROW), ref.row(BANK_ROW)
    for field in ("mase", "rmsse", "mae", "rmse", "bias", "smape", "coverage80", "width80",
                  "coverage95", "width95", "mase_by_horizon", "n_series"):
        assert getattr(a, field) == pytest.approx(getattr(b, field), rel=1e-12), field
    assert got.row("seasonal_naive").mase == pytest.approx(ref.row("seasonal_naive").mase,
                                                           rel=1e-12)
    assert got.relative_mase(BANK_ROW) == pytest.approx(ref.relative_mase(BANK_ROW), rel=1e-12)


def test_member_rows_equal_the_members_run_on_their_own() -> None:
    panel = _panel()
    zoo = model_zoo()
    names = ("seasonal_naive", "rolling_median", "holt_winters_log1p")
    ref = evaluate_panel(panel, "ref", zoo={n: zoo[n] for n in names}, progress=False)
    got = evaluate_panel_bank(panel, "bank")  # undated: the members learn the raw values
    for name in names:
        a, b = got.row(MEMBER_ROW.format(name)), ref.row(name)
        assert (a.mase, a.mase_is, a.bias) == pytest.approx((b.mase, b.mase_is, b.bias),
                                                            rel=1e-9), name


def test_another_regime_sets_horizon_season_and_origins() -> None:
    rng = random.Random(2)
    panel = {f"m{i}": [100.0 + 3 * t + 20 * (t % 12 == 11) + rng.gauss(0, 5) for t in range(n)]
             for i, n in enumerate((72, 96, 70))}
    board = evaluate_panel_bank(panel, "monthly", regime=MONTHLY, peer=False)
    assert board.n_origins == sum(len(origins(len(ys), 12, 60, 3)) for ys in panel.values())
    assert len(board.row(BANK_ROW).mase_by_horizon) == 12
    assert "h = 1..12" in board.to_markdown().splitlines()[0]
    assert "season 12" in board.meta["protocol"]
