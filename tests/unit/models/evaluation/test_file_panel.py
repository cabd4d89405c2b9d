"""A panel from the user's own file: bucketed as the worker buckets, scored like the panels."""

from __future__ import annotations

import gzip
import json
import math
import time
from pathlib import Path

import pytest

from models import grid
from models.evaluation.backtest_bank import evaluate_panel_bank
from models.evaluation.backtest_protocol import MONTHLY, QUARTERLY
from models.evaluation.file_panel import read_panel, regime_for, score_file, verdict
from sources.user_file import UserFile

DAY = 86400


def _csv(tmp_path: Path, text: str, name: str = "sales.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_rows_of_a_bucket_add_up_and_missing_buckets_are_zeros_to_the_files_end(
        tmp_path: Path) -> None:
    path = _csv(tmp_path, "ds,unique_id,y\n2024-01-01T10:00:00,A,2\n2024-01-01T23:59:59,A,1.5\n"
                          "2024-01-04,A,-1\n2024-01-06,B,4\n2024-01-03,C,NA\n")
    panel, info = read_panel(UserFile(path), DAY)
    assert panel == {"A": [3.5, 0.0, 0.0, -1.0, 0.0, 0.0], "B": [4.0]}  # returns count
    assert (info.columns, info.rows, info.skipped, info.buckets) == (
        ("unique_id", "ds", "y"), 4, 1, 6)


def test_times_are_utc_unless_they_say_otherwise(tmp_path: Path) -> None:
    path = _csv(tmp_path, "series,ts,qty\nA,2024-01-02T00:30:00+01:00,1\nA,2024-01-02,1\n"
                          "A,1704153600,1\n")  # 23:30 on the 1st UTC; the 2nd; the 2nd
    assert read_panel(UserFile(path), DAY)[0] == {"A": [1.0, 2.0]}


def test_calendar_buckets_are_the_workers(tmp_path: Path) -> None:
    """Months and quarters are calendar ones (models.grid), whatever the time's form."""
    path = _csv(tmp_path, "Quarter,Region,Purpose,Trips\n1998 Q1,X,Biz,1\n1998-05-31,X,Biz,2\n"
                          "1998 Q4,X,Biz,3\n1998 Mar,X,Fun,5\n")
    panel, info = read_panel(UserFile(path, columns="Region+Purpose,Quarter,Trips"), grid.QUARTER)
    assert panel == {"X|Biz": [1.0, 2.0, 0.0, 3.0], "X|Fun": [5.0, 0.0, 0.0, 0.0]}
    assert info.columns == ("Region + Purpose", "Quarter", "Trips")
    months = read_panel(UserFile(_csv(tmp_path, "id,month,value\nA,2024-01,1\n"
                                            "A,2024-03-31T23:00,1\n", "m.csv")), grid.MONTH)[0]
    assert months == {"A": [1.0, 0.0, 1.0]}


def test_weeks_follow_the_workers_grid(tmp_path: Path) -> None:
    """Weekly buckets run Monday to Sunday, as ``SALESCAST_BUCKET_SECONDS=604800``: a day of
    each, Mon 2024-01-01 to Sun 2024-01-14, is two weeks of 7 (it was 3, 7 and 4, from
    Thursdays)."""
    days = "".join(f"A,2024-01-{d:02d},1\n" for d in range(1, 15))
    assert read_panel(UserFile(_csv(tmp_path, "sku,date,sales\n" + days)), 7 * DAY)[0] == {
        "A": [7.0, 7.0]}
    path = _csv(tmp_path, "sku,date,sales\nA,2024 W01,1\nA,2024-01-10,1\nA,2024-01-21,1\n",
                "w.csv")
    assert read_panel(UserFile(path), 7 * DAY)[0] == {"A": [1.0, 1.0, 1.0]}


def test_json_lines_and_compressed_files(tmp_path: Path) -> None:
    events = [{"series": "A", "ts": 86400 * 19003 + 5, "qty": 2, "price": 1.0},
              {"series": "A", "ts": 86400 * 19004, "qty": 1, "price": 1.0}]
    path = tmp_path / "events.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join(json.dumps(e) for e in events) + "\n\n")
    assert read_panel(UserFile(path), DAY)[0] == {"A": [2.0, 1.0]}
    csv_gz = tmp_path / "s.csv.gz"
    with gzip.open(csv_gz, "wt") as f:
        f.write("sku,date,qty\nA,2024-01-01,1\n")
    assert read_panel(UserFile(csv_gz), DAY)[0] == {"A": [1.0]}


def test_a_time_format_reads_other_forms(tmp_path: Path) -> None:
    path = _csv(tmp_path, "StockCode,InvoiceDate,Quantity\n85048,12/1/2009 7:45,12\n"
                          "85048,12/2/2009 7:45,1\n")
    panel, _ = read_panel(UserFile(path, time_format="%m/%d/%Y %H:%M"), DAY)
    assert panel == {"85048": [12.0, 1.0]}
    with pytest.raises(ValueError, match=r"line 2: time '12/1/2009 7:45' is not epoch seconds"):
        read_panel(UserFile(path), DAY)
    with pytest.raises(ValueError, match="does not match --time-format"):
        read_panel(UserFile(path, time_format="%Y-%m-%d"), DAY)


def test_regimes_follow_the_bucket_and_the_users_horizon_and_warmup() -> None:
    assert regime_for(grid.MONTH) == MONTHLY and regime_for(grid.QUARTER) == QUARTERLY
    assert regime_for(3600).season2 == 168 and regime_for(7 * DAY).season == 52
    assert (regime_for(DAY, horizon=7, warmup=21).horizon, regime_for(DAY, warmup=21).warmup) \
        == (7, 21)
    with pytest.raises(ValueError, match="not 7200 s"):
        regime_for(7200)
    with pytest.raises(ValueError, match="1..400"):
        regime_for(DAY, horizon=0)
    with pytest.raises(ValueError, match="at least a season"):
        regime_for(DAY, warmup=6)


def test_a_file_scores_as_the_same_panel_does(tmp_path: Path) -> None:
    """Written out and read back, a panel gives the scoreboard the panel itself gives."""
    panel = {f"s{i}": [float((t * (i + 3)) % 11 + (t % 7 == 5) * 4) for t in range(100 + 9 * i)]
             for i in range(4)}
    end = 19_000  # every series ends on this day, as evaluate_panel_bank aligns them
    lines = ["series,ts,qty"] + [f"{name},{(end - len(ys) + 1 + t) * DAY + 7},{y}"
                                 for name, ys in panel.items() for t, y in enumerate(ys)
                                 if y or t == 0]  # a zero day needs no row
    path = _csv(tmp_path, "\n".join(lines) + "\n")
    read, _ = read_panel(UserFile(path), DAY)
    assert read == panel
    board = score_file(read, path.name, regime_for(DAY))
    direct = evaluate_panel_bank(panel, "sales-bank", regime=regime_for(DAY))
    assert board.name == "sales_csv-day-bank" and board.meta["series scored"] == "4 of 4"
    for got, want in zip(board.rows, direct.rows, strict=True):
        assert got.name == want.name and math.isclose(got.mase_is, want.mase_is)


def test_a_daily_file_is_dated_for_the_holiday_factor_of_the_calendar_in_use(
        tmp_path: Path) -> None:
    """A US shop shut on its holidays: read back, the file's last day dates its series (as the
    worker dates its rows), and on the US calendar the worker's model scores better than on
    England's, where it learns nothing of them."""
    from models.calendar import DEFAULT_HOLIDAYS, is_holiday_day, use_holidays

    end = 20_000  # 2024-10-04
    use_holidays("US")
    try:
        days = range(end - 729, end + 1)
        lines = ["series,ts,qty"] + [f"S{i},{d * DAY + 3600},{0 if is_holiday_day(d) else 20 + i}"
                                     for i in range(3) for d in days]
        path = _csv(tmp_path, "\n".join(lines) + "\n")
        panel, info = read_panel(UserFile(path), DAY)
        assert info.last == end * DAY
        us = score_file(panel, path.name, regime_for(DAY), last_day=info.last // DAY)
        use_holidays("GB-ENG")
        gb = score_file(panel, path.name, regime_for(DAY), last_day=info.last // DAY)
    finally:
        use_holidays(DEFAULT_HOLIDAYS)
    assert us.row("ensemble+holidays").mae < 0.5 * gb.row("ensemble+holidays").mae


def test_a_panel_too_short_for_the_protocol_says_what_to_lower() -> None:
    with pytest.raises(ValueError, match=r"longest has 30 buckets of a day.*--warmup"):
        score_file({"A": [1.0] * 30, "B": [1.0] * 3}, "x.csv", regime_for(DAY))
    board = score_file({"A": [float(t % 7) for t in range(30)], "B": [1.0] * 3}, "x.csv",
                       regime_for(DAY, horizon=7, warmup=14))
    assert board.meta["series scored"] == "1 of 2" and board.n_origins > 0


def test_a_file_without_any_value_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sales.csv: no rows with a value"):
        read_panel(UserFile(_csv(tmp_path, "sku,date,qty\nA,2024-01-01,NA\n")), DAY)


def test_a_span_no_panel_could_have_names_its_rows(tmp_path: Path) -> None:
    """One mistyped year among hourly sales made every series hundreds of thousands of
    buckets long (a year before 1970 or from 2100 on is refused as a time already)."""
    path = _csv(tmp_path, "sku,date,qty\nA,2022-01-01,1\nB,2022-01-02,1\nB,2092-01-01,5\n")
    with pytest.raises(ValueError, match=r"span 613,609 buckets, from line 2 to line 4: a "
                                         r"mistyped date\? \(at most 50,000\)"):
        read_panel(UserFile(path), 3600)
    with pytest.raises(ValueError, match=r"line 4: dated 2092-01-01, 25,566 buckets away from "
                                         r"the other rows: a mistyped date\?"):
        read_panel(UserFile(path), DAY)  # by the day it spans less, but it is the same typo


def test_a_row_far_from_the_others_is_a_typo_not_years_of_zeros(tmp_path: Path) -> None:
    days = "".join(f"S{i},2024-01-{d:02d},1\n" for i in range(5) for d in range(1, 29))
    path = _csv(tmp_path, "sku,date,qty\n" + days + "S0,2042-04-10,1\n")
    with pytest.raises(ValueError, match=r"line 142: dated 2042-04-10, 6,647 buckets away"):
        read_panel(UserFile(path), DAY)
    path = _csv(tmp_path, "sku,date,qty\nS0,2021-06-01,1\n" + days, "early.csv")
    with pytest.raises(ValueError, match=r"line 2: dated 2021-06-01"):
        read_panel(UserFile(path), DAY)
    path = _csv(tmp_path, "sku,date,qty\n" + days + "S0,2024-03-20,1\n", "fine.csv")
    assert read_panel(UserFile(path), DAY)[1].buckets == 80  # a gap, not a typo


def test_a_last_bucket_the_file_ends_inside_is_left_out_and_said(tmp_path: Path) -> None:
    """Daily rows to June 15 by the month: June was scored as a month of half the sales."""
    days = "".join(f"A,{time.strftime('%Y-%m-%d', time.gmtime(19723 * DAY + d * DAY))},1\n"
                   for d in range(167))  # 2024-01-01 .. 2024-06-15
    panel, info = read_panel(UserFile(_csv(tmp_path, "sku,date,qty\n" + days)), grid.MONTH)
    assert panel == {"A": [31.0, 29.0, 31.0, 30.0, 31.0]} and info.buckets == 5
    assert "the last bucket, 2024-06-01, is partial (the file ends on 2024-06-15)" in info.notes[0]
    months = "".join(f"A,2024-{m:02d}-01,{m}\n" for m in range(1, 7))  # a row a month: whole
    assert read_panel(UserFile(_csv(tmp_path, "sku,date,qty\n" + months, "m.csv")),
                      grid.MONTH)[0] == {"A": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}
    weeks = "".join(f"A,2024-01-{d:02d},1\n" for d in range(1, 18))  # to Wednesday the 17th
    assert read_panel(UserFile(_csv(tmp_path, "sku,date,qty\n" + weeks, "w.csv")),
                      7 * DAY)[0] == {"A": [7.0, 7.0]}


def test_row_ids_negative_totals_and_other_key_columns_are_said(tmp_path: Path) -> None:
    rows = "".join(f"{i},2024-01-{1 + i % 28:02d},{i % 5},GROCERY\n" for i in range(40))
    path = _csv(tmp_path, "id,date,sales,family\n" + rows)  # Kaggle's Store Sales
    with pytest.raises(ValueError, match=r"each of its 40 rows has a series of its own in "
                                         r"column 'id' \(a row id\?\).*--columns \"family,"
                                         r"date,sales\""):
        read_panel(UserFile(path), DAY)
    days = "".join(f"{s},A,2024-01-{d:02d},{-1 if d == 3 else 1}\n"
                   for s in ("s1", "s2") for d in range(1, 11))
    _, info = read_panel(UserFile(_csv(tmp_path, "store,item,date,qty\n" + days, "k.csv")), DAY)
    assert info.notes[0].startswith("also key-like: store; the series are item alone, summed")
    assert '--columns "store+item,date,qty"' in info.notes[0]
    assert info.notes[1].startswith("buckets that add up to less than 0 (more returned than "
                                    "sold): 1, in 1 series")


def test_rows_the_worker_would_refuse_as_absurd_are_said(tmp_path: Path) -> None:
    """A file of revenue in the millions was scored, and every such row dead-lettered as
    absurd by replay --file (a probe)."""
    days = "".join(f"A,2024-01-{d:02d},{3e6 if d > 5 else 10}\n" for d in range(1, 11))
    _, info = read_panel(UserFile(_csv(tmp_path, "sku,date,qty\n" + days, "big.csv")), DAY)
    assert info.notes == ("rows of more than 1,000,000 in size: 5 (line 7 first); scored here, "
                          "but the worker takes no sale that large (replay --file and demo "
                          "--file send them to the dead letters as absurd): split them or count "
                          "in larger units",)


def test_a_value_beyond_what_the_models_take_is_refused_with_its_line(tmp_path: Path) -> None:
    """A probe: a row of 1e308 was said to be "scored here", then the run died naming
    "row 0" of the bank."""
    days = "".join(f"A,2024-01-{d:02d},{1e308 if d == 4 else 10}\n" for d in range(1, 11))
    with pytest.raises(ValueError, match=r"big.csv: line 5: a value of 1e\+308 is beyond"):
        read_panel(UserFile(_csv(tmp_path, "sku,date,qty\n" + days, "big.csv")), DAY)


def test_other_files_or_buckets_get_scoreboards_of_their_own() -> None:
    """sales.csv and sales.jsonl, or one file by the day and by the week, used to write the
    same scoreboard file, the second over the first."""
    panel = {"A": [float(t % 7) for t in range(130)]}
    names = {score_file(panel, name, regime_for(width, horizon=4, warmup=60)).name
             for name in ("sales.csv", "sales.jsonl") for width in (DAY, 7 * DAY)}
    assert names == {"sales_csv-day-bank", "sales_jsonl-day-bank", "sales_csv-week-bank",
                     "sales_jsonl-week-bank"}


def test_a_product_that_stopped_selling_has_no_ratio_and_no_crash() -> None:
    """Sold for ten days, then never again: seasonal naive makes no error at any origin (a
    ZeroDivisionError in the scoreboard's ratio, before)."""
    board = score_file({"A": [3.0] * 10 + [0.0] * 90}, "gone.csv", regime_for(DAY))
    assert math.isnan(board.relative_mase("ensemble+holidays"))
    assert "rel. sN" in board.to_markdown()
    assert verdict(board).startswith("no ratio to seasonal naive")
