"""The backtest on the bank scores the worker's row exactly as the per-object backtest does."""

from __future__ import annotations

import random

import pytest

from models.evaluation.backtest import evaluate_panel
from models.evaluation.backtest_bank import BANK_ROW, evaluate_panel_bank
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
