"""Files as a retailer's tools write them: encodings, Excel's habits, JSON lines by content."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from sources.file_rows import read_rows


def _rows(path: Path) -> list:
    return list(read_rows(path))


def test_an_unquoted_delimiter_inside_a_value_is_refused_not_cut_short(tmp_path: Path) -> None:
    """``1,234`` read as 1, and ``Widget, blue`` as ``Widget``, silently, before."""
    path = tmp_path / "s.csv"
    path.write_text("date,qty,product\n2024-01-01,2,Widget, blue\n")
    with pytest.raises(ValueError, match=r"s\.csv, line 2: 4 cells but the header names 3 "
                                         r"columns: a value with a ',' in it\?"):
        _rows(path)
    path.write_text("sku,qty,,\nA,1,,\nB,2,\n")  # trailing delimiters: empty cells are fine
    assert _rows(path) == [["sku", "qty"], (2, {"sku": "A", "qty": "1"}),
                           (3, {"sku": "B", "qty": "2"})]


def test_lines_of_notes_above_the_header_are_skipped_and_said(tmp_path: Path) -> None:
    """A report exported from a sheet with its title above the table (a probe's finding:
    the title was taken for the header)."""
    path = tmp_path / "s.csv"
    path.write_text("Sales by product,,,\nExported 2024-02-01,,,\n\nsku,store,date,qty\n"
                    "A,S1,2024-01-01,2\n")
    header, *rows = _rows(path)
    assert header == ["sku", "store", "date", "qty"] and header.notes == [
        "Sales by product,,,", "Exported 2024-02-01,,,"]
    assert rows == [(5, {"sku": "A", "store": "S1", "date": "2024-01-01", "qty": "2"})]
    path.write_text("sku,date,qty\nA,2024-01-01,2,,\n")  # a header as long as its rows
    assert _rows(path)[0].notes == []
    path.write_text("Units by month,,\n,2024-01,2024-02\nA,1,2\n")  # a pivot's empty corner
    assert _rows(path)[:2] == [["", "2024-01", "2024-02"], (3, {"": "A", "2024-01": "1",
                                                                 "2024-02": "2"})]
    path.write_text("product\tqty\nCable, USB-C, 2 m, black\t1\n")  # commas in a value
    assert _rows(path) == [["product", "qty"], (2, {"product": "Cable, USB-C, 2 m, black",
                                                    "qty": "1"})]


def test_a_space_before_a_quote_does_not_hide_it(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text('sku, "2024-01-01", "2024-01-02"\nA, "1,5", 2\n')
    assert _rows(path) == [["sku", "2024-01-01", "2024-01-02"],
                           (2, {"sku": "A", "2024-01-01": "1,5", "2024-01-02": "2"})]


def test_excels_sep_line_names_the_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("sep=;\nsku;date;qty\nA;2024-01-01;1,5\n")
    assert _rows(path) == [["sku", "date", "qty"], (3, {"sku": "A", "date": "2024-01-01",
                                                        "qty": "1,5"})]


def test_json_lines_are_known_by_their_first_line_whatever_the_name(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text('{"sku": "A", "date": "2024-01-01", "qty": 2}\n\n{"sku": "B", "qty": 1}\n')
    assert _rows(path) == [["sku", "date", "qty"],
                           (1, {"sku": "A", "date": "2024-01-01", "qty": 2}),
                           (3, {"sku": "B", "qty": 1})]


def test_utf16_with_its_mark_is_read_and_other_encodings_say_how_to_convert(
        tmp_path: Path) -> None:
    path = tmp_path / "unicode.txt"
    path.write_bytes("sku\tqty\nCafé\t1\n".encode("utf-16"))  # Excel's "Unicode text"
    assert _rows(path) == [["sku", "qty"], (2, {"sku": "Café", "qty": "1"})]
    path = tmp_path / "windows.csv"
    path.write_bytes("sku,qty\nA,1\nCafé,2\n".encode("cp1252"))
    with pytest.raises(ValueError, match=r"windows.csv, line 3: not UTF-8 text; .*CSV UTF-8.*"
                                         r"iconv -f cp1252"):
        _rows(path)


def test_workbooks_archives_and_directories_are_named_as_such(tmp_path: Path) -> None:
    book = tmp_path / "sales.xlsx"
    with zipfile.ZipFile(book, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(ValueError, match="an Excel workbook or a zip archive, not text"):
        _rows(book)
    with pytest.raises(ValueError, match="a directory, not a file"):
        _rows(tmp_path)
    with pytest.raises(ValueError, match="no such file"):
        _rows(tmp_path / "missing.csv")
