"""The aggregates' backtest: the country panel adds up, and the three forecasts are scored."""

from __future__ import annotations

import lzma
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from models.evaluation.hierarchy_eval import country_panel, evaluate_hierarchy, run_countries

HEAD = b"Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"


def _csv(tmp_path: Path, days: int) -> Path:
    lines = [HEAD]
    for d in range(days):
        for j, (code, country) in enumerate([("A", "France"), ("B", "EIRE"), ("A", "EIRE")]):
            qty = (d * 7 + j) % 5 + (3 if country == "EIRE" else 0)
            day = date(2010, 1, 1) + timedelta(days=d)
            lines.append(f"{d}{j},{code},X,{qty},{day.month}/{day.day}/{day.year} {9 + j}:00,"
                         f"1.0,1,{country}\n".encode())
    path = tmp_path / "mini.csv.xz"
    path.write_bytes(lzma.compress(b"".join(lines)))
    return path


def test_country_panel_sums_to_the_total(tmp_path: Path) -> None:
    names, values, first = country_panel(_csv(tmp_path, 40))
    assert names == ["total", "country:EIRE", "country:France"]
    assert values.shape == (3, 40) and first * 86400 == 1262304000  # 2010-01-01
    np.testing.assert_array_equal(values[0], values[1:].sum(axis=0))


def test_run_countries_writes_a_scoreboard(tmp_path: Path) -> None:
    rep, path = run_countries(_csv(tmp_path, 56 + 14 + 7), tmp_path / "out")
    assert rep.n_origins == 2 and path.name == "backtest-countries.md"
    text = path.read_text()
    assert "| total | bottom-up |" in text and "| country:EIRE | reconciled |" in text


def test_a_leaf_bottom_up_forecast_is_its_direct_one() -> None:
    rng = np.random.default_rng(1)
    kids = rng.poisson([[20.0], [3.0], [0.4]], size=(3, 140)).astype(float)
    rep = evaluate_hierarchy(["total", "a", "b", "c"], np.vstack([kids.sum(0), kids]))
    assert rep.n_origins == 11
    direct, bottom_up = rep.tallies["direct"], rep.tallies["bottom-up"]
    for i in range(1, 4):  # a leaf's bottom-up forecast is its direct one
        assert bottom_up[i].mae() == pytest.approx(direct[i].mae())
    assert "| all 3 children (mean) | reconciled |" in rep.to_markdown()
