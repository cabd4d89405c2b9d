"""Wide files (a row per series, a column per period): found by their header, read by cell."""

from __future__ import annotations

import calendar
from pathlib import Path

import pytest

from sources.times import parse_time
from sources.user_file import FileRow, UserFile, sale_events
from sources.wide import key_columns, time_columns

JAN1 = calendar.timegm((2024, 1, 1, 0, 0, 0))
DAY = 86400


def _csv(tmp_path: Path, text: str, name: str = "wide.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_time_columns_need_two_names_that_read_as_times() -> None:
    header = ["item", "2024 Jan", "2024 Feb", "2024", "Q1", "20240301"]
    times = time_columns(header, parse_time)
    assert times == {"2024 Jan": JAN1, "2024 Feb": JAN1 + 31 * DAY,
                     "20240301": JAN1 + 60 * DAY}  # "2024": a number, not a time
    assert key_columns(header, times) == ["item", "2024", "Q1"]
    assert key_columns(["SKU", "Store", "Price", "Country", "Total", "a"], {"a": 0.0}) == [
        "SKU", "Store"]
    assert time_columns(["sku", "date", "2024-01-01"], parse_time) == {}


def test_a_wide_file_is_a_row_per_cell_with_a_value(tmp_path: Path) -> None:
    path = _csv(tmp_path, "sku,store,2024-01-01,2024-01-02,2024-01-03,Total\n"
                          "P1,S1,3,,1,4\n"
                          "P1,S2,NA,2,0,2\n")
    file = UserFile(path)
    assert file.wide and file.keys == ["sku", "store"] and not file.also_keys
    assert file.columns == ("sku + store", "3 columns 2024-01-01 .. 2024-01-03", "their cells")
    rows = list(file)
    assert file.skipped == 2
    assert rows == [FileRow(2, "P1|S1", JAN1, 3.0, cell=0),
                    FileRow(2, "P1|S1", JAN1 + 2 * DAY, 1.0, cell=2),
                    FileRow(3, "P1|S2", JAN1 + DAY, 2.0, cell=1),
                    FileRow(3, "P1|S2", JAN1 + 2 * DAY, 0.0, cell=2)]
    events = sale_events(file)  # in time order, one id a cell
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    assert sorted(e.id for e in events) == ["wide.csv:2:0", "wide.csv:2:2", "wide.csv:3:1",
                                            "wide.csv:3:2"]


def test_a_wide_file_s_times_are_on_the_shop_s_clock_and_take_a_time_format(
        tmp_path: Path) -> None:
    path = _csv(tmp_path, "item,1/31/2024,2/1/2024\nA,1,2\n")
    with pytest.raises(ValueError, match="found no time or value column"):
        UserFile(path)  # not a form it knows by itself: a long file without its columns
    file = UserFile(path, time_format="%m/%d/%Y", utc_offset=-5 * 3600)
    jan31 = JAN1 + 30 * DAY + 5 * 3600  # midnight in New York
    assert [(r.ts, r.value) for r in file] == [(jan31, 1.0), (jan31 + DAY, 2.0)]


def test_a_wide_file_without_a_key_column_is_one_series_and_bad_cells_say_where(
        tmp_path: Path) -> None:
    file = UserFile(_csv(tmp_path, "2024 Q1,2024 Q2\n5,6\n", "shop.csv"))
    assert [(r.series, r.value) for r in file] == [("shop", 5.0), ("shop", 6.0)]
    bad = UserFile(_csv(tmp_path, "sku,2024-01,2024-02\nA,1,x\n"))
    with pytest.raises(ValueError, match=r"wide.csv, line 2: value 'x' is not a number"):
        list(bad)


def test_many_rows_of_their_own_series_are_fine_in_a_wide_file(tmp_path: Path) -> None:
    text = "sku,2024-01-01,2024-01-02\n" + "".join(f"P{i},1,2\n" for i in range(40))
    file = UserFile(_csv(tmp_path, text))
    assert len(sale_events(file)) == 80  # (a long file's row id check would refuse it)


def test_a_long_file_stays_long_beside_date_like_columns(tmp_path: Path) -> None:
    file = UserFile(_csv(tmp_path, "sku,date,qty,2024-01-01,2024-01-02\nA,2024-03-01,4,1,1\n"))
    assert not file.wide and [(r.ts, r.value) for r in file] == [(JAN1 + 60 * DAY, 4.0)]
