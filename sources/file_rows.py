"""A user's file as a header and rows of cells: compression, text encoding, the CSV dialect,
or JSON lines. What the cells mean is :mod:`sources.user_file`'s business.

* Compression by suffix: ``.gz``, ``.xz``, ``.bz2``.
* Text: UTF-8 (a byte order mark is skipped), or UTF-16 with its byte order mark (Excel's
  "Unicode text"). Anything else is refused with the line it failed on and how to convert it
  (Excel on Windows writes "CSV" in cp1252). An Excel workbook or a zip archive (``PK``) and
  an old Excel ``.xls`` are named as such, not "not UTF-8".
* JSON lines: a ``.jsonl`` or ``.ndjson`` name, or a first line that starts with ``{``
  (JSON lines saved as ``.json``); one flat object a line.
* CSV otherwise: the delimiter is the header's commonest of ``,`` ``;`` tab ``|``, or the one
  Excel's ``sep=;`` first line names; the header's names must be distinct. Lines of notes
  above the header (a report's title: at most half the cells of the rows) are skipped, and
  a space after a delimiter does not hide a quote (``a, "b"``). A row with more
  cells than the header has names is refused (an unquoted ``1,234`` or ``Widget, blue`` used
  to lose its tail silently), unless the extra cells are empty (trailing delimiters).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "s.csv"
>>> _ = path.write_text("sep=;\\nsku;qty\\nA;1,5\\n")
>>> list(read_rows(path))
[['sku', 'qty'], (3, {'sku': 'A', 'qty': '1,5'})]
>>> _ = path.write_text("sku,qty\\nA,1,234\\n")
>>> list(read_rows(path))
Traceback (most recent call last):
...
ValueError: ...s.csv, line 2: 3 cells but the header names 2 columns: a value with a ',' in it? ...
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import math
import re
from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path
from typing import IO, Any

__all__ = ["Header", "read_rows", "cell_missing", "cell_key", "cell_decimal",
           "cell_number", "MISSING"]

_OPEN: dict[str, Callable[..., IO[Any]]] = {".gz": gzip.open, ".xz": lzma.open,
                                            ".bz2": bz2.open}
_SEP = re.compile(r"^sep=(.)\s*$")  # Excel's first line naming the delimiter
_PEEK = 10  # lines read after the first, to find a header below lines of notes
_CONVERT = ("save it as UTF-8 (Excel: \"CSV UTF-8\"), or convert it, e.g. "
            "iconv -f cp1252 -t utf-8 IN > OUT")


class Header(list[str]):
    """A file's column names, the CSV delimiter it uses (``None``: JSON lines), and the
    lines of notes above it (a report's title), skipped."""

    def __init__(self, names: list[str], delimiter: str | None = None,
                 notes: list[str] | None = None) -> None:
        super().__init__(names)
        self.delimiter = delimiter
        self.notes = notes or []


def read_rows(path: Path) -> Iterator[Any]:
    """The header of ``path`` (a list of names), then ``(line, row)`` pairs, each row a dict
    of its cells by name; a ValueError naming the file (and the line) for what it cannot
    read (see the module docstring)."""
    if path.is_dir():
        raise ValueError(f"{path}: a directory, not a file")
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if not path.is_file():  # read more than once: a pipe or a device cannot be
        raise ValueError(f"{path}: not a regular file (a pipe, a device or a socket); save "
                         f"the data to a file first")
    opener = _OPEN.get(path.suffix.lower())
    line = [0]  # the line being read, for a decoding error
    try:
        with _text(path, opener) as f:
            first = f.readline()
            line[0] = 1
            if first.lstrip().startswith("{") or path.name.lower().removesuffix(
                    path.suffix.lower() if opener else "").endswith((".jsonl", ".ndjson")):
                yield from _json_rows(path, chain([first], f), line)
            else:
                yield from _csv_rows(path, first, f, line)
    except UnicodeDecodeError:
        raise ValueError(f"{path}, line {_first_bad(path, opener)}: not UTF-8 text; "
                         f"{_CONVERT}") from None
    except (csv.Error, EOFError, lzma.LZMAError, OSError) as exc:
        raise ValueError(f"{path}: cannot read it ({exc})") from None


def _text(path: Path, opener: Callable[..., IO[Any]] | None) -> IO[str]:
    """The file as text: UTF-16 when it starts with that byte order mark, else UTF-8."""
    raw = path.open("rb") if opener is None else opener(path, "rb")
    head = raw.read(4)
    raw.seek(0)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        raw.close()
        raise ValueError(f"{path}: an Excel workbook or a zip archive, not text: save the "
                         f"sheet as CSV (UTF-8), or unzip it")
    utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    return io.TextIOWrapper(raw, encoding="utf-16" if utf16 else "utf-8-sig", newline="")


def _first_bad(path: Path, opener: Callable[..., IO[Any]] | None) -> int:
    """The first line of ``path`` that is not UTF-8 (text is decoded in blocks, so the
    reader's line when decoding failed can be far before it)."""
    with path.open("rb") if opener is None else opener(path, "rb") as raw:
        for n, text in enumerate(raw, start=1):
            try:
                text.decode("utf-8")
            except UnicodeDecodeError:
                return n
    return 1


def _cells(text: str, delimiter: str) -> list[str]:
    """A line's cells, without its trailing empty ones."""
    cells = next(csv.reader([text], delimiter=delimiter, skipinitialspace=True), [])
    while cells and not cells[-1].strip():
        cells.pop()
    return cells


def _most_cells(lines: list[str], delimiter: str) -> int:
    """The commonest number of cells of ``lines``."""
    counts = [len(_cells(t, delimiter)) for t in lines]
    return max(set(counts), key=counts.count)


def _header_at(head: list[str], delimiter: str | None) -> tuple[int, str]:
    """Where the header is among a CSV file's first lines, and the delimiter: the first line
    (its commonest delimiter, or Excel's ``sep=`` line's), unless it has fewer cells than most
    lines after it and at most half as many under their commonest delimiter (a title or a
    note above the header, as exported reports have): then the first line with as many.

    >>> _header_at(["Sales by product,,", "sku,date,qty", "A,2024-01-01,1"], None)
    (1, ',')
    >>> _header_at(["sku,date,qty", "A,2024-01-01,1,"], None)
    (0, ',')
    >>> _header_at(["product\\tqty", "Cable, USB-C, 2 m, black\\t1"], None)  # commas in values
    (0, '\\t')
    """
    first = delimiter or max(",;\t|", key=head[0].count)
    rest = [t for t in head[1:] if t.strip()]
    if not rest:
        return 0, first
    if (n := len(_cells(head[0], first))) >= 2 and n >= _most_cells(rest, first):
        return 0, first  # as long as its rows: the header, as it always was
    d = delimiter or max(",;\t|", key=lambda c: sum(t.count(c) for t in rest))
    most = _most_cells(rest, d)
    if len(_cells(head[0], d)) * 2 > most or most < 2:
        return 0, first
    return next(i for i, text in enumerate(head) if len(_cells(text, d)) >= most), d


def _csv_rows(path: Path, first: str, f: IO[str], line: list[int]) -> Iterator[Any]:
    sep = _SEP.match(first)
    if sep:  # Excel's "sep=;" line: the header is the next one
        first = f.readline()
    head = [first] + [f.readline() for _ in range(_PEEK)] if first else []
    at, delimiter = _header_at(head, sep.group(1) if sep else None) if head else (0, ",")
    notes = [t.strip() for t in head[:at] if t.strip()]
    reader = csv.reader(chain(head[at:], f), delimiter=delimiter, skipinitialspace=True)
    offset = (1 if sep else 0) + at
    header = next(reader, None)
    if header is None:
        return
    names = [h.strip() for h in header]
    while names and not names[-1]:  # trailing delimiters name no column
        names.pop()
    if twice := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"{path}: the header names {', '.join(map(repr, twice))} more than "
                         "once: which one is meant?")
    yield Header(names, delimiter, notes)
    for row in reader:
        line[0] = reader.line_num + offset
        if not row:
            continue
        if len(row) > len(names) and any(cell.strip() for cell in row[len(names):]):
            raise ValueError(f"{path}, line {line[0]}: {len(row)} cells but the header names "
                             f"{len(names)} columns: a value with a {delimiter!r} in it? "
                             f"quote it (\"1{delimiter}234\")")
        yield line[0], dict(zip(names, row, strict=False))


def _json_rows(path: Path, lines: Iterator[str], at: list[int]) -> Iterator[Any]:
    first = True
    for line, text in enumerate(lines, start=1):
        at[0] = line
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {line}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}, line {line}: not a JSON object")
        if first:
            yield Header(list(row))
            first = False
        yield line, row


_COMMA = re.compile(r"-?(\d{1,3}(\.\d{3})+|\d+),\d+")  # 1,5 and 1.234,5, not 1.234
MISSING = {"", "na", "n/a", "#n/a", "nan", "null", "none", "-"}  # a missing cell adds nothing


def cell_missing(raw: object) -> bool:
    """Whether a cell holds no value (empty, ``NA``, ``null``, ...)."""
    return str(raw).strip().lower() in MISSING


def cell_key(raw: object) -> str:
    """A series key part as text: ``1`` and ``1.0`` (JSON numbers) are the same key; a null,
    an object or a list is no key.

    >>> cell_key(" A "), cell_key(7), cell_key(7.0), cell_key(7.5)
    ('A', '7', '7', '7.5')
    """
    if raw is None or isinstance(raw, (bool, dict, list)):
        raise ValueError(f"a series key must be text or a number, got {json.dumps(raw)}")
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip()


def cell_decimal(raw: object) -> object:
    """A decimal-comma number as Python reads numbers (other cells as they are).

    >>> cell_decimal("1,5"), cell_decimal("-1.234,5"), cell_decimal("1.234"), cell_decimal(7)
    ('1.5', '-1234.5', '1.234', 7)
    """
    if isinstance(raw, str) and _COMMA.fullmatch(text := raw.strip()):
        return text.replace(".", "").replace(",", ".")
    return raw


def cell_number(raw: object, what: str) -> float:
    """A row's ``what`` as a float; a ValueError for anything but a finite number."""
    try:
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise ValueError
        value = float(raw)
    except ValueError:
        raise ValueError(f"{what} {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} {raw!r} is not a finite number")
    return value
