"""The user's own sales file, read row by row: ``salescast backtest --file`` and
``salescast replay --file``.

The file: CSV (``.csv``, optionally ``.gz``, ``.xz`` or ``.bz2``; comma, semicolon, tab or
``|`` separated, the header's commonest) with a header row of distinct names, or JSON
lines (one flat object a line, such as salescast's own events), one row per sale or per
series and period; how it is read (encodings, Excel's habits): :mod:`sources.file_rows`.
Three columns matter, found by name (any case) unless ``columns`` names them
(``"series,time,value"``):

* the series: ``unique_id``, ``series``, ``series_id``, ``sku``, ``item_id``, ``stockcode``,
  ``product_id``, ``product``, ``item``, ``id``, ``key``; several columns joined with ``+``
  (``"State+Industry"``) make one key, ``State|Industry``;
* the time: ``ds``, ``ts``, ``date``, ``datetime``, ``timestamp``, ``time``, ``invoicedate``,
  ``period``, ``week``, ``month``, ``quarter``; the forms of :func:`sources.times.parse_time`
  (epoch seconds, ISO, ``2024-03``, ``2024 Mar``, ``2024 Q1``, ``2024 W09``), or any other with
  a ``strptime`` format (``time_format="%m/%d/%Y %H:%M"``);
* the value: ``y``, ``qty``, ``quantity``, ``units``, ``sales``, ``value``, ``amount``,
  ``demand``; an empty value, ``NA``, ``N/A`` or ``-`` is skipped (a bucket without a row
  is a zero), anything else must be a number.

A ``price`` (``unit_price``, ``unitprice``) and a ``country`` column are read when present.
A file of a time and a value column only (``date,sales``) is one series, named after the
file (``shop.csv``: ``shop``). Anything the file cannot give is a ValueError naming the file
and its line.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "sales.csv"
>>> _ = path.write_text("sku,date,qty,Price\\nA,2024-01-01,2,1.5\\nB,2024 Q1,NA,2\\n")
>>> file = UserFile(path)
>>> file.columns, file.price
(('sku', 'date', 'qty'), 'Price')
>>> list(file), file.skipped
([FileRow(line=2, series='A', ts=1704067200.0, value=2.0, price=1.5, country=None)], 1)
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from itertools import islice
from pathlib import Path
from typing import Any

from contracts.events import MAX_ID_LEN, SaleEvent
from sources.file_rows import Header, read_rows
from sources.file_rows import cell_decimal as _decimal
from sources.file_rows import cell_key as _key
from sources.file_rows import cell_missing as _missing
from sources.file_rows import cell_number as _number
from sources.times import parse_time, parse_week, strptime_utc
from sources.wide import describe, is_summary, key_columns, looks_like_times, time_columns

__all__ = ["FileRow", "UserFile", "sale_events"]

SERIES = ("unique_id", "series", "series_id", "sku", "item_id", "stockcode", "product_id",
          "product", "item", "id", "key")
TIME = ("ds", "ts", "date", "datetime", "timestamp", "time", "invoicedate", "period", "week",
        "month", "quarter")
VALUE = ("y", "qty", "quantity", "units", "sales", "value", "amount", "demand")
PRICE = ("price", "unit_price", "unitprice")
COUNTRY = ("country",)
#: columns that often are part of a series' key beside the product
KEYLIKE = ("store", "store_id", "store_nbr", "shop", "shop_id", "location", "location_id",
           "warehouse", "branch", "outlet", "site", "channel", "region", "state")


@dataclass(frozen=True)
class FileRow:
    """One row with a value: its line in the file, series key, time (epoch seconds), value,
    and price and country when the file has them."""

    line: int
    series: str
    ts: float
    value: float
    price: float | None = None
    country: str | None = None
    cell: int | None = field(default=None, repr=False)  # a wide file's time column


class UserFile:
    """The rows of ``path`` (see the module docstring), read each time it is iterated:
    constructing it reads the header and picks the columns; iterating yields a
    :class:`FileRow` per row with a value and counts in :attr:`skipped` the rows without one."""

    def __init__(self, path: Path, columns: str | None = None,
                 time_format: str | None = None, utc_offset: int = 0) -> None:
        self.path, self.skipped = path, 0
        header = next(read_rows(path), None)
        if header is None:
            raise ValueError(f"{path}: the file is empty")
        self.header: Header = header
        # a semicolon or tab file writes 1,5 for 1.5 (and 1.234,5 for 1234.5): Europe's Excel
        self.decimal_comma = getattr(header, "delimiter", None) in (";", "\t")
        clock = timezone(timedelta(seconds=utc_offset))  # times without a zone: the shop's
        formatted = functools.partial(strptime_utc, time_format=time_format,
                                      tz=clock) if time_format else None
        self.wide: dict[str, float] = {}  # a wide file's time columns (sources.wide)
        if columns is None and None in (_named(header, TIME), _named(header, VALUE)):
            try:
                self.wide = time_columns(header, formatted or functools.partial(
                    parse_time, tz=clock), formatted is not None)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
        self.summaries = 0  # a wide file's rows of totals (Total, Grand total), left out
        self.repeats: list[str] = []  # a wide file's rows naming an earlier row's series
        if self.wide:
            product = _named(header, SERIES)
            self.keys, self.time, self.value = (key_columns(
                header, self.wide, [product] if product else [],
                [h for h in header if h.lower() in KEYLIKE]), describe(self.wide), "their cells")
        else:
            self.keys, self.time, self.value = self._columns(header, columns)
        self.times = [t.strip() for t in self.time.split("+")] if columns else [self.time]
        weeks = len(self.times) == 1 and "week" in self.time.lower()  # 202402: a week
        self._parse = functools.lru_cache(maxsize=65536)(
            formatted or functools.partial(parse_week if weeks else parse_time, tz=clock))
        self.price, self.country = _named(header, PRICE), _named(header, COUNTRY)
        # found by name: other columns that look like part of a key (store, region...)
        self.also_keys = [] if columns is not None or self.wide else [
            h for h in header if h.lower() in KEYLIKE and h not in self.keys]
        self.named = columns is not None
        self.columns_read = set(header)
        # a time and a value column only: one series, the file's name (shop.csv.gz: shop)
        self.single = (path.name.split(".")[0] or "series") if not self.keys else None

    def check_keys(self, n_series: int, n_rows: int) -> None:
        """A ValueError when a series column found by name gives each of many rows a series
        of its own: a row id (``id`` in Kaggle's Store Sales), not a product."""
        if self.named or self.wide or n_rows < 20 or n_series < n_rows:
            return  # (a wide file has a row per series)
        used = {*self.keys, *self.times, self.value, self.price, self.country}
        others = [h for h in self.header if h not in used][:2] or ["KEY"]
        raise ValueError(f"{self.path}: each of its {n_rows:,} rows has a series of its own "
                         f"in column {self.keys[0]!r} (a row id?): name the series with "
                         f"--columns, e.g. --columns \"{'+'.join(others)},{self.time},"
                         f"{self.value}\"")

    @property
    def columns(self) -> tuple[str, str, str]:
        """The series (``a + b`` for several; one series: ``(one series)``), time and value
        columns, for messages."""
        return " + ".join(self.keys) or "(one series)", self.time, self.value

    def notes(self) -> list[str]:
        """What reading the file (iterated once) left out or added up, one line each."""
        out, above = [], self.header.notes
        if above:
            out.append(f"skipped {len(above)} line(s) above the header ({above[0][:60]!r})")
        if self.summaries:
            out.append(f"left out {self.summaries:,} rows of totals (Total, Grand total...): "
                       f"they would count the other rows again")
        if self.repeats:
            out.append(f"{len(self.repeats):,} rows name the series of an earlier row "
                       f"({', '.join(list(dict.fromkeys(self.repeats))[:3])}): their cells "
                       "are added")
        return out

    def __iter__(self) -> Iterator[FileRow]:
        self.skipped, self.summaries, seen = 0, 0, set()
        self.repeats = []
        rows = read_rows(self.path)
        next(rows, None)  # the header
        for line, row in rows:
            try:
                got = self._cells(line, row) if self.wide else [self._row(line, row)]
            except KeyError as exc:
                raise ValueError(f"{self.path}, line {line}: no {exc.args[0]!r}") from None
            except ValueError as exc:
                raise ValueError(f"{self.path}, line {line}: {exc}") from None
            if self.wide and (named := next((f.series for f in got if f), None)):
                if named in seen:
                    self.repeats.append(named)
                seen.add(named)
            for found in got:
                if found is None:
                    self.skipped += 1
                else:
                    yield found

    def _row(self, line: int, row: dict[str, Any]) -> FileRow | None:
        raw = row[self.value]
        if _missing(raw):
            return None
        stamp = row[self.time] if len(self.times) == 1 else " ".join(
            str(row[t]).strip() for t in self.times)  # a date and a time column
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float, str)):
            raise ValueError(f"time {stamp!r} is not a time")
        return self._of(line, row, self._parse(str(stamp)), raw)

    def _cells(self, line: int, row: dict[str, Any]) -> list[FileRow | None]:
        """A wide file's row: a row per time column with a value (None: a missing cell); none
        for a row of totals (its key a summary: it would count the other rows again)."""
        if self.keys and is_summary(str(row.get(self.keys[0]) or "")):
            self.summaries += 1
            return []
        if extra := [k for k in row if k not in self.columns_read]:  # (JSON lines)
            raise ValueError(f"columns {', '.join(map(str, extra[:3]))} are not on the "
                             f"file's first line, which names a wide file's columns")
        out: list[FileRow | None] = []
        for k, (name, ts) in enumerate(self.wide.items()):
            if _missing(raw := row.get(name)):
                out.append(None)
                continue
            try:
                out.append(self._of(line, row, ts, raw, k))
            except ValueError as exc:
                raise ValueError(f"column {name}: {exc}") from None
        return out

    def _of(self, line: int, row: dict[str, Any], ts: float, raw: object,
            cell: int | None = None) -> FileRow:
        value = _number(_decimal(raw) if self.decimal_comma else raw, "value")
        series = self.single or (_key(row[self.keys[0]]) if len(self.keys) == 1 else "|".join(
            _key(row[k]).replace("\\", "\\\\").replace("|", "\\|") for k in self.keys))
        if not series.strip("|"):
            raise ValueError("the series is empty")
        price = row.get(self.price) if self.price else None
        country = row.get(self.country) if self.country else None
        return FileRow(line, series, ts, value,
                       None if price is None or _missing(price) else _number(
                           _decimal(price) if self.decimal_comma else price, "price"),
                       None if country is None or not str(country).strip()
                       else str(country).strip(), cell)

    def _columns(self, header: list[str], given: str | None) -> tuple[list[str], str, str]:
        """The series columns, the time column and the value column."""
        if given is not None:
            parts = [p.strip() for p in given.split(",")]
            if len(parts) != 3 or not all(parts):
                raise ValueError(f"--columns takes three names, series,time,value (the series "
                                 f"may be several joined with +, the time a date+time), got "
                                 f"{given!r}")
            keys = [k.strip() for k in parts[0].split("+")]
            names = [*keys, *(t.strip() for t in parts[1].split("+")), parts[2]]
            for name in names:
                if name not in header:
                    raise ValueError(f"{self.path}: no column {name!r}; the columns are "
                                     f"{', '.join(header)}")
            if twice := sorted({n for n in names if names.count(n) > 1}):
                raise ValueError(f"--columns names {', '.join(map(repr, twice))} more than "
                                 f"once: the series, time and value columns must differ, got "
                                 f"{given!r}")
            return keys, parts[1], parts[2]
        found = [_named(header, names) for names in (SERIES, TIME, VALUE)]
        if found[0] is None and None not in found[1:] and len(header) == 2:
            return [], str(found[1]), str(found[2])  # one series
        if None in found:
            what = [w for w, f in zip(("series", "time", "value"), found, strict=True)
                    if f is None]
            dated = looks_like_times(header)
            if len(dated) >= 2:  # a wide file whose times are in a form not read
                raise ValueError(f"{self.path}: columns {', '.join(dated[:3])} ... look like "
                                 f"times in a form not read (a row per series, a column per "
                                 f"time): give --time-format, e.g. \"%m/%d/%Y\" or \"%b-%y\"")
            listed = ", ".join(header[:8]) + (f" ... ({len(header):,} columns)"
                                              if len(header) > 8 else "")
            raise ValueError(f"{self.path}: found no {' or '.join(what)} column among "
                             f"{listed or 'no columns'}; name them with --columns "
                             f"series,time,value")
        series, t_col, v_col = (str(f) for f in found)
        return [series], t_col, v_col


def _named(header: list[str], names: tuple[str, ...]) -> str | None:
    """The column of ``header`` with the first of ``names`` (any case); None: none has."""
    by_lower = {h.lower(): h for h in header}
    return next((by_lower[n] for n in names if n in by_lower), None)


def sale_events(file: UserFile, limit: int | None = None) -> list[SaleEvent]:
    """The rows of ``file`` as sale events in time order (rows of the same time in file
    order), the first ``limit`` of them: ``qty`` the value, ``price`` the price column's or 0,
    ``id`` the file's name and line, so a file replayed twice counts once; a wide file's cell,
    the file's name and the cell's time (``@<epoch>``, and ``#2`` for the series' second row
    of the file, ...), so a later export of the same sheet, a day's column more and the first
    gone, counts each day once.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "s.csv"
    >>> _ = path.write_text("sku,date,qty\\nA,2024-01-02,2\\nB,2024-01-01,1\\n")
    >>> [(e.series, e.qty, e.id) for e in sale_events(UserFile(path))]
    [('B', 1.0, 's.csv:3'), ('A', 2.0, 's.csv:2')]
    """
    name = file.path.name[: MAX_ID_LEN - 24]  # room for ":line", or "@<epoch>#n"
    rows = sorted(file, key=lambda r: r.ts)
    file.check_keys(len({r.series for r in rows}), len(rows))
    seen: dict[tuple[str, float], int] = {}  # a wide file's (series, time): its rows so far

    def ident(r: FileRow) -> str:
        if r.cell is None:
            return f"{name}:{r.line}"
        n = seen[r.series, r.ts] = seen.get((r.series, r.ts), 0) + 1
        return f"{name}@{r.ts:.0f}" + (f"#{n}" if n > 1 else "")

    return [SaleEvent(r.series, r.ts, r.value, 0.0 if r.price is None else r.price, ident(r),
                      r.country) for r in islice(rows, limit)]
