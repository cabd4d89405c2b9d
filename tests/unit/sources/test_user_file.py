"""The user's own sales file, read row by row: columns by name, clear errors by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sources.user_file import FileRow, UserFile


def _csv(tmp_path: Path, text: str, name: str = "sales.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_price_and_country_are_read_when_the_file_has_them(tmp_path: Path) -> None:
    path = _csv(tmp_path, "StockCode,InvoiceDate,Quantity,Price,Country\n"
                          "85048,2009-12-01 07:45,12,6.95,United Kingdom\n"
                          "85048,2009-12-01 07:46,-1,,\n")
    rows = list(UserFile(path))
    assert rows == [FileRow(2, "85048", 1259653500.0, 12.0, 6.95, "United Kingdom"),
                    FileRow(3, "85048", 1259653560.0, -1.0, None, None)]
    with pytest.raises(ValueError, match="line 2: price 'x' is not a number"):
        list(UserFile(_csv(tmp_path, "sku,date,qty,price\nA,2024-01-01,1,x\n", "p.csv")))


def test_it_reads_again_each_time_it_is_iterated(tmp_path: Path) -> None:
    file = UserFile(_csv(tmp_path, "sku,date,qty\nA,2024-01-01,1\nA,2024-01-02,NA\n"))
    assert len(list(file)) == len(list(file)) == 1 and file.skipped == 1


@pytest.mark.parametrize(("text", "expected"), [
    ("sku,date,qty\nA,2024-01-01,x\n", "line 2: value 'x' is not a number"),
    ("sku,date,qty\nA,2024-01-01,1\nA,2024-01-02,inf\n", "line 3: value 'inf' is not a finite"),
    ("sku,date,qty\nA,1712345678901,1\n", "milliseconds? divide by 1000"),
    ("sku,date,qty\nA,yesterday,1\n", "'YYYY Qn'"),
    ("sku,date,qty\nA,2024 Q5,1\n", "is not epoch seconds"),
    ("sku,date,qty\nA,2024-01-01\n", "line 2: no 'qty'"),
    ("sku,date,qty\n,2024-01-01,1\n", "line 2: the series is empty"),
    ("a,b,c\n1,2,3\n", "found no series or time or value column among a, b, c; name them "
                       "with --columns"),
    ("", "the file is empty"),
])
def test_a_bad_file_is_one_clear_error(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ValueError, match="sales.csv") as exc:
        list(UserFile(_csv(tmp_path, text)))
    assert expected in str(exc.value)


def test_bad_columns_bytes_and_json_are_clear_errors(tmp_path: Path) -> None:
    path = _csv(tmp_path, "sku,date,qty\nA,2024-01-01,1\n")
    with pytest.raises(ValueError, match="no column 'Qty'; the columns are sku, date, qty"):
        UserFile(path, columns="sku,date,Qty")
    with pytest.raises(ValueError, match="three names"):
        UserFile(path, columns="sku,date")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("sku,date,qty\nCAF\u00c9,2024-01-01,1\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        list(UserFile(latin))
    bad = _csv(tmp_path, '{"sku": "A", "date": "2024-01-01", "qty": 1}\n[1]\n', "e.jsonl")
    with pytest.raises(ValueError, match=r"e.jsonl, line 2: not a JSON object"):
        list(UserFile(bad))
    with pytest.raises(ValueError, match="no such file"):
        UserFile(tmp_path / "none.csv")
    broken = tmp_path / "b.csv.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="cannot read it"):
        list(UserFile(broken))


def test_columns_named_twice_are_refused_as_such(tmp_path: Path) -> None:
    """``--columns sku,sku,sku`` said "value 'A' is not a number" on the first row."""
    path = _csv(tmp_path, "sku,date,qty\nA,2024-01-01,1\n")
    with pytest.raises(ValueError, match="names 'sku' more than once: the series, time and "
                                         "value columns must differ"):
        UserFile(path, columns="sku,sku,sku")
    with pytest.raises(ValueError, match="names 'date' more than once"):
        UserFile(path, columns="sku+date,date,qty")


def test_a_device_or_a_pipe_is_not_taken_for_a_missing_file(tmp_path: Path) -> None:
    """``/dev/null`` and a FIFO exist: "no such file" sent the user looking for a typo. They
    are refused (a file is read more than once)."""
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path in (Path("/dev/null"), fifo):
        with pytest.raises(ValueError, match="not a regular file .*save the data to a file"):
            UserFile(path)




def test_semicolon_and_tab_files_are_read(tmp_path: Path) -> None:
    """Excel in most of Europe writes ';': it was refused as one column named 'sku;date;qty'."""
    for name, sep in (("semi.csv", ";"), ("tab.tsv", "\t")):
        path = _csv(tmp_path, sep.join(["sku", "date", "qty"]) + "\n"
                    + sep.join(["A", "2024-01-01", "2"]) + "\n", name)
        assert [(r.series, r.value) for r in UserFile(path)] == [("A", 2.0)]


def test_a_header_that_names_a_column_twice_is_refused(tmp_path: Path) -> None:
    """With ``sku,date,qty,qty`` the last ``qty`` was summed, silently."""
    with pytest.raises(ValueError, match="names 'qty' more than once"):
        UserFile(_csv(tmp_path, "sku,date,qty,qty\nA,2024-01-01,1,999\n"))


def test_json_keys_that_are_numbers_are_one_series_and_a_null_is_refused(
        tmp_path: Path) -> None:
    path = _csv(tmp_path, '{"series": 1, "ts": "2024-01-01", "qty": 1}\n'
                          '{"series": 1.0, "ts": "2024-01-02", "qty": 2}\n', "n.jsonl")
    assert {r.series for r in UserFile(path)} == {"1"}
    bad = _csv(tmp_path, '{"series": null, "ts": "2024-01-01", "qty": 1}\n', "null.jsonl")
    with pytest.raises(ValueError, match="line 1: a series key must be text or a number, got null"):
        list(UserFile(bad))


def test_a_date_and_a_time_column_make_one_time(tmp_path: Path) -> None:
    """Hourly sales with the date and the time apart: all at midnight, before, as --columns
    took one time column."""
    path = tmp_path / "s.csv"
    path.write_text("sku,date,time,qty\nA,2024-01-01,09:15,1\nA,2024-01-01,17:40:05,2\n")
    rows = list(UserFile(path, "sku,date+time,qty"))
    assert [r.ts - 1704067200 for r in rows] == [9 * 3600 + 900, 17 * 3600 + 2405]
    with pytest.raises(ValueError, match="no column 'hour'"):
        UserFile(path, "sku,date+hour,qty")


def test_a_column_of_weeks_numbers_them_as_weeks(tmp_path: Path) -> None:
    """``202410`` in a ``week`` column was October (YYYYMM), and ``--time-format %Y%W`` put
    every row on January 1st (strptime ignores a week without its weekday)."""
    path = tmp_path / "s.csv"
    path.write_text("sku,week,qty\nA,202401,1\nA,202402,2\nA,202410,3\n")
    days = [(r.ts - 1704067200) // 86400 for r in UserFile(path)]
    assert days == [0, 7, 63]  # the Mondays of ISO weeks 1, 2 and 10 of 2024
    assert [(r.ts - 1704067200) // 86400 for r in UserFile(path, time_format="%Y%W")] == [
        0, 7, 63]


def test_a_semicolon_file_writes_decimals_with_a_comma(tmp_path: Path) -> None:
    """Europe's Excel: 'sku;date;qty' with 1,5 for 1.5 was refused (a comma file's "1,5" still
    is: there a comma may group thousands)."""
    path = tmp_path / "s.csv"
    path.write_text("sku;date;qty;price\nA;2024-01-01;1,5;2,25\nA;2024-01-02;1.234,5;1\n")
    assert [(r.value, r.price) for r in UserFile(path)] == [(1.5, 2.25), (1234.5, 1.0)]
    path.write_text('sku,date,qty\nA,2024-01-01,"1,5"\n')
    with pytest.raises(ValueError, match="value '1,5' is not a number"):
        list(UserFile(path))


def test_a_file_of_a_time_and_a_value_is_one_series_named_after_the_file(
        tmp_path: Path) -> None:
    """``date,sales`` was refused: "found no series column; name them with --columns", with
    nothing to name (a probe, fpp3's souvenirs)."""
    file = UserFile(_csv(tmp_path, "Date,Sales\n2024-01-01,3\n2024-01-02,NA\n", "shop.csv"))
    assert file.columns == ("(one series)", "Date", "Sales")
    assert list(file) == [FileRow(2, "shop", 1704067200.0, 3.0)] and file.skipped == 1
    with pytest.raises(ValueError, match="found no series column among Date, Sales, Temp"):
        UserFile(_csv(tmp_path, "Date,Sales,Temp\n2024-01-01,3,20\n", "three.csv"))


def test_key_cells_with_the_separator_make_series_of_their_own(tmp_path: Path) -> None:
    """A probe: several key columns are joined with "|", so ("A|B", "C") and ("A", "B|C") were
    one series, their quantities summed. A key cell's "|" (and "\\") is escaped when there are
    several key columns; one key column is its name as it is."""
    path = _csv(tmp_path, "store,sku,date,qty\nA|B,C,2024-01-01,1\nA,B|C,2024-01-01,5\n"
                          "A\\,B,2024-01-01,2\nA,\\B,2024-01-01,3\n")
    names = [r.series for r in UserFile(path, columns="store+sku,date,qty")]
    assert len(set(names)) == 4 and names[:2] == ["A\\|B|C", "A|B\\|C"]
    one = _csv(tmp_path, "sku,date,qty\nA|B,2024-01-01,1\n", "one.csv")
    assert [r.series for r in UserFile(one)] == ["A|B"]


def test_times_without_a_zone_are_on_the_shop_s_clock(tmp_path: Path) -> None:
    """A New York shop's export says 10:00 of its own day: with SALESCAST_UTC_OFFSET=-05:00
    that is 15:00 UTC; a time that names its offset, and epoch seconds, stay what they say."""
    path = tmp_path / "ny.csv"
    path.write_text("sku,time,qty\nA,2024-07-04 10:00,1\nA,2024-07-04T10:00:00+02:00,1\n"
                    "A,1720087200,1\n")
    utc = [row.ts for row in UserFile(path)]
    ny = [row.ts for row in UserFile(path, utc_offset=-5 * 3600)]
    assert ny[0] - utc[0] == 5 * 3600 and ny[1:] == utc[1:]
    excel = tmp_path / "ny_excel.csv"
    excel.write_text("sku,time,qty\nA,45477.5,1\n")  # 2024-07-04 12:00
    assert (next(iter(UserFile(excel, None, "excel", -5 * 3600))).ts
            - next(iter(UserFile(excel, None, "excel"))).ts) == 5 * 3600
