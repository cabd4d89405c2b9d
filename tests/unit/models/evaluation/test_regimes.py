"""models/evaluation/regimes.py: the fpp3 panels' backtests, on files shaped like fpp3's."""

from __future__ import annotations

import lzma
import math
from datetime import datetime, timedelta
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
    monkeypatch.setattr(regimes.fpp3, "fetch_fpp3", lambda data_dir: files)
    board = regimes.run_regime(tmp_path, panel, tmp_path / "out")
    assert (tmp_path / "out" / f"backtest-{panel}-bank.md").is_file()
    row = board.row(BANK_ROW)
    assert len(row.mase_by_horizon) == horizon and math.isfinite(row.mase_is)
    assert board.row(MEMBER_ROW.format("holt_winters_log1p")).n_series == board.n_series


def test_an_unknown_panel_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError,
                       match="pbs, tourism, retail, tuning_monthly, tuning_quarterly, hourly"):
        regimes.run_regime(tmp_path, "m4", tmp_path)


def test_the_retail_panel_is_turnover_per_state_and_industry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "aus_retail.csv"
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    path.write_text("State,Industry,Series ID,Month,Turnover\n" + "".join(
        f'{state},"Food, retailing",A{i},{1990 + t // 12} {months[t % 12]},'
        f"{50 * 1.01 ** t * (1.2 if t % 12 == 11 else 1.0) + i:.1f}\n"
        for i, state in enumerate(("Victoria", "Tasmania")) for t in range(96)))
    panel = regimes.fpp3.retail_panel(path)
    assert list(panel) == ["Tasmania/Food, retailing", "Victoria/Food, retailing"]
    assert len(panel["Victoria/Food, retailing"]) == 96
    assert panel["Victoria/Food, retailing"][0] == 50.0
    assert panel["Tasmania/Food, retailing"][0] == 51.0
    monkeypatch.setattr(regimes.fpp3, "fetch_retail", lambda data_dir: path)
    board = regimes.run_regime(tmp_path, "retail", tmp_path / "out")
    assert board.n_series == 2 and len(board.row(BANK_ROW).mase_by_horizon) == 12
    assert board.row(MEMBER_ROW.format("holt_winters_damped")).n_series == 2  # the trend member


def _hourly_csv(tmp_path: Path, weeks: int) -> Path:
    """Two countries' sales by the hour (shop hours 9-16, none on Saturdays), in Online
    Retail II's layout."""
    lines = [b"Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"]
    start = datetime(2010, 1, 4)  # a Monday
    for hour in range(weeks * 168):
        at = start + timedelta(hours=hour)
        if 9 <= at.hour < 17 and at.weekday() != 5:
            for j, country in enumerate(("United Kingdom", "France")):
                qty = 3 + (hour * 7 + j) % 5 + 4 * (at.weekday() == 0) - 2 * j
                lines.append(f"{hour}{j},A{j},X,{qty},{at.month}/{at.day}/{at.year} "
                             f"{at.hour}:{at.minute:02d},1.0,1,{country}\n".encode())
    path = tmp_path / "hourly.csv.xz"
    path.write_bytes(lzma.compress(b"".join(lines)))
    return path


def test_the_hourly_panel_is_the_total_and_the_largest_countries_by_the_hour(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _hourly_csv(tmp_path, 6)
    panel = regimes.hourly_panel(path, countries=1)
    assert list(panel) == ["total", "country:United Kingdom"]  # France: not among the largest
    assert panel["total"][0] > 0
    assert len(panel["total"]) == 5 * 168 + 6 * 24 + 8  # Monday 9:00 to the last Sunday 16:00
    assert sum(panel["total"]) == sum(regimes.hourly_panel(path)["country:France"]) + sum(
        panel["country:United Kingdom"])
    monkeypatch.setattr(regimes.online_retail, "fetch_dataset", lambda data_dir: path)
    board = regimes.run_regime(tmp_path, "hourly", tmp_path / "out")
    assert (tmp_path / "out" / "backtest-hourly-bank.md").is_file()
    assert len(board.row(BANK_ROW).mase_by_horizon) == 24
    # the weekly members forecast the Saturdays and Mondays; the daily naive cannot
    weekly = board.row(MEMBER_ROW.format("seasonal_naive_168")).mase_is
    assert weekly < 0.5 * board.row(MEMBER_ROW.format("seasonal_naive")).mase_is


@pytest.mark.parametrize(("panel", "files"), [
    ("tuning_monthly", ("aus_livestock", "us_employment")),
    ("tuning_quarterly", ("prison", "aus_accommodation", "aus_arrivals"))])
def test_a_tuning_panel_is_scored_from_its_own_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, panel: str, files: tuple[str, ...],
) -> None:
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    monthly = [f"{1990 + t // 12} {months[t % 12]}" for t in range(96)]
    quarters = [f"{1990 + t // 4} Q{t % 4 + 1}" for t in range(48)]
    text = {
        "aus_livestock": "Month,Animal,State,Count\n" + "".join(
            f"{m},Pigs,Victoria,{100 + t % 12 + t // 5}\n" for t, m in enumerate(monthly)),
        "us_employment": "Month,Series_ID,Title,Employed\n" + "".join(
            f"{m},A1,Total,{'NA' if t < 10 else 500 + 3 * t}\n" for t, m in enumerate(monthly)),
        "prison": "Quarter,State,Gender,Legal,Indigenous,Count\n" + "".join(
            f"{q},ACT,Male,Sentenced,ATSI,{20 + t}\n" for t, q in enumerate(quarters)),
        "aus_accommodation": "Date,State,Takings,Occupancy,CPI\n" + "".join(
            f"{q},Victoria,{50 + 5 * (t % 4) + t // 3},60,70\n" for t, q in enumerate(quarters)),
        "aus_arrivals": "Quarter,Origin,Arrivals\n" + "".join(
            f"{q},Japan,{900 + t}\n" for t, q in enumerate(quarters))}
    asked = []

    def fetch(data_dir: Path, names: tuple[str, ...]) -> dict[str, Path]:
        asked.append(names)
        for name in names:
            (tmp_path / f"{name}.csv").write_text(text[name])
        return {name: tmp_path / f"{name}.csv" for name in names}

    monkeypatch.setattr(regimes.fpp3, "fetch_tuning", fetch)
    board = regimes.run_regime(tmp_path, panel, tmp_path / "out")
    assert asked == [files]
    assert board.meta["data"].startswith(", ".join(f"{name}.csv" for name in files))
    assert board.n_series == (2 if panel == "tuning_monthly" else 3)
    assert board.row(MEMBER_ROW.format("holt_winters_damped")).n_series == board.n_series
