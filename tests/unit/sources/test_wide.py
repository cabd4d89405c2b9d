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


def parse_year(text: str) -> float:
    return float(int(text))


def _csv(tmp_path: Path, text: str, name: str = "wide.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_time_columns_need_two_names_that_read_as_times() -> None:
    header = ["item", "2024 Jan", "2024 Feb", "2024", "Q1", "20240301"]
    times = time_columns(header, parse_time)
    assert times == {"2024 Jan": JAN1, "2024 Feb": JAN1 + 31 * DAY,
                     "20240301": JAN1 + 60 * DAY}  # "2024": a number, not a time
    assert key_columns(header, times, [], []) == ["item", "2024", "Q1"]
    assert key_columns(["SKU", "Store", "Price", "Country", "Total 2024", "YTD", "", "a"],
                       {"a": 0.0}, [], []) == ["SKU", "Store"]
    assert key_columns(["id", "sku", "Description", "store", "a"], {"a": 0.0}, ["sku"],
                       ["store"]) == ["sku", "store"]  # the product's column, found by name
    assert time_columns(["sku", "date", "2024-01-01"], parse_time) == {}
    with pytest.raises(ValueError, match=r"columns 202313, 202314 are written as 202311 is "
                       r"but are no times of that form: give --time-format \(for weeks"):
        time_columns(["sku", *(f"2023{w:02d}" for w in range(11, 15))], parse_time)
    assert len(time_columns(["Store", "2022", "2023"], parse_time)) == 0  # years: numbers
    assert time_columns(["Store", "2022", "2023"], parse_year, formatted=True) == {
        "2022": 2022.0, "2023": 2023.0}  # unless a --time-format reads them


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
    events = sale_events(file)  # in time order, one id a cell: the file's and the cell's time
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    assert sorted((e.series, e.id) for e in events) == [
        ("P1|S1", f"wide.csv@{JAN1}"), ("P1|S1", f"wide.csv@{JAN1 + 2 * DAY}"),
        ("P1|S2", f"wide.csv@{JAN1 + DAY}"), ("P1|S2", f"wide.csv@{JAN1 + 2 * DAY}")]


def test_a_wide_file_s_times_are_on_the_shop_s_clock_and_take_a_time_format(
        tmp_path: Path) -> None:
    path = _csv(tmp_path, "item,1/31/2024,2/1/2024\nA,1,2\n")
    with pytest.raises(ValueError, match=r"columns 1/31/2024, 2/1/2024 ... look like times in "
                       r"a form not read .*: give --time-format, e.g. \"%m/%d/%Y\""):
        UserFile(path)  # not a form it knows by itself
    file = UserFile(path, time_format="%m/%d/%Y", utc_offset=-5 * 3600)
    jan31 = JAN1 + 30 * DAY + 5 * 3600  # midnight in New York
    assert [(r.ts, r.value) for r in file] == [(jan31, 1.0), (jan31 + DAY, 2.0)]


def test_a_wide_file_without_a_key_column_is_one_series_and_bad_cells_say_where(
        tmp_path: Path) -> None:
    file = UserFile(_csv(tmp_path, "2024 Q1,2024 Q2\n5,6\n", "shop.csv"))
    assert [(r.series, r.value) for r in file] == [("shop", 5.0), ("shop", 6.0)]
    bad = UserFile(_csv(tmp_path, "sku,2024-01,2024-02\nA,1,x\n"))
    with pytest.raises(ValueError, match=r"wide.csv, line 2: column 2024-02: value 'x' is not "):
        list(bad)


def test_many_rows_of_their_own_series_are_fine_in_a_wide_file(tmp_path: Path) -> None:
    text = "sku,2024-01-01,2024-01-02\n" + "".join(f"P{i},1,2\n" for i in range(40))
    file = UserFile(_csv(tmp_path, text))
    assert len(sale_events(file)) == 80  # (a long file's row id check would refuse it)


def test_a_long_file_stays_long_beside_date_like_columns(tmp_path: Path) -> None:
    file = UserFile(_csv(tmp_path, "sku,date,qty,2024-01-01,2024-01-02\nA,2024-03-01,4,1,1\n"))
    assert not file.wide and [(r.ts, r.value) for r in file] == [(JAN1 + 60 * DAY, 4.0)]


def test_a_row_of_totals_is_no_series(tmp_path: Path) -> None:
    """A sheet's Total row (a probe's finding: it became a series, and doubled the shop's)."""
    file = UserFile(_csv(tmp_path, "sku,store,2024-01-01,2024-01-02\nA,S1,1,2\nB,S1,1,\n"
                                   "Total,,2,2\nGrand total,,2,2\n"))
    assert {r.series for r in file} == {"A|S1", "B|S1"} and file.summaries == 2


def test_rows_repeating_a_series_are_added_and_said(tmp_path: Path) -> None:
    """A sheet with a product's row twice (a probe's finding: summed without a word)."""
    file = UserFile(_csv(tmp_path, "sku,2024-01-01,2024-01-02\nA,1,2\nB,3,\nA,5,\nA,,1\n"))
    assert len(list(file)) == 5 and file.repeats == ["A", "A"]
    assert file.notes() == ["2 rows name the series of an earlier row (A): their cells are "
                            "added"]
    assert len(list(file)) == 5 and len(file.repeats) == 2  # counted again, not twice


def test_a_code_column_read_as_a_time_of_another_column_is_refused(tmp_path: Path) -> None:
    """A column named ``202401`` holding codes beside month columns: its cells were added to
    January's (a probe's finding)."""
    with pytest.raises(ValueError, match="columns 202401 and 2024-01 read as the same time"):
        UserFile(_csv(tmp_path, "name,202401,2024-01,2024-02\nA,X1,1,2\n"))
    file = UserFile(_csv(tmp_path, "name,202401,Jan 2024,Feb 2024\nA,X1,1,2\n"),
                    time_format="%b %Y")
    assert [(r.series, r.value) for r in file] == [("A|X1", 1.0), ("A|X1", 2.0)]


def test_a_later_export_of_the_sheet_names_each_cell_as_before(tmp_path: Path) -> None:
    """Ids come from a cell's time, not its column's position: the same sheet exported a day
    later (a column more, the first gone) counts each day once when both are replayed."""
    first = sale_events(UserFile(_csv(tmp_path, "sku,2024-01-01,2024-01-02\nA,1,2\nB,3,4\n",
                                      "shop.csv")))
    (tmp_path / "later").mkdir()
    later = sale_events(UserFile(_csv(tmp_path / "later", "sku,2024-01-02,2024-01-03\n"
                                                          "B,4,5\nA,2,6\n", "shop.csv")))
    ids = {(e.series, e.ts): e.id for e in first}
    assert all(ids[e.series, e.ts] == e.id for e in later if (e.series, e.ts) in ids)
    twice = sale_events(UserFile(_csv(tmp_path, "sku,2024-01-01,2024-01-02\nA,1,2\nA,3,4\n")))
    assert len({e.id for e in twice}) == 4  # a series' second row: its own ids


def test_numbers_as_headers_are_read_with_a_time_format(tmp_path: Path) -> None:
    """Excel writes a date header formatted "General" as its serial number (45292: 1 Jan
    2024): read with --time-format excel, and years with %Y."""
    path = _csv(tmp_path, "sku,45292,45293\nA,1,2\n")
    with pytest.raises(ValueError, match="found no time or value column"):
        UserFile(path)
    assert [r.ts for r in UserFile(path, time_format="excel")] == [JAN1, JAN1 + DAY]
    years = UserFile(_csv(tmp_path, "Store,2022,2023\nS1,5,6\n", "y.csv"), time_format="%Y")
    assert [(r.series, r.value) for r in years] == [("S1", 5.0), ("S1", 6.0)]


def test_a_wide_json_lines_file_names_its_columns_on_its_first_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, '{"sku": "A", "2024-01-01": 1, "2024-01-02": 2}\n'
                          '{"sku": "B", "2024-01-01": 3, "2024-01-03": 5}\n', "w.jsonl")
    with pytest.raises(ValueError, match=r"line 2: columns 2024-01-03 are not on the file's "
                                         r"first line"):
        list(UserFile(path))  # (B's 5 was dropped without a word)


def test_the_columns_of_a_long_header_are_said_in_a_line(tmp_path: Path) -> None:
    header = "a,b," + ",".join(f"c{i}" for i in range(400))
    with pytest.raises(ValueError, match=r"among a, b, c0, c1, c2, c3, c4, c5 \.\.\. "
                                         r"\(402 columns\); name them"):
        UserFile(_csv(tmp_path, header + "\n"))
