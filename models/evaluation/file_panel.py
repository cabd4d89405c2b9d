"""A panel from the user's own file: ``salescast backtest --file sales.csv``.

Before trusting a forecaster with their stock, a retailer wants to see it on their own
history. :func:`read_panel` turns a file of dated values into the panel that
:func:`~models.evaluation.backtest_bank.evaluate_panel_bank` scores, bucketed exactly as the
worker buckets events (:mod:`models.grid`: fixed widths from the epoch in UTC, calendar months
and quarters), and :func:`regime_for` picks the protocol of that bucket width.

The file: CSV (``.csv``, optionally ``.gz``, ``.xz`` or ``.bz2``) with a header row, or JSON
lines (``.jsonl``, ``.ndjson``: one flat object a line, such as salescast's own events), one
row per sale or per series and period. Three columns matter, found by name (any case) unless
``columns`` names them:

* the series: ``unique_id``, ``series``, ``series_id``, ``sku``, ``item_id``, ``stockcode``,
  ``product_id``, ``product``, ``item``, ``id``, ``key``;
  several columns joined with ``+`` (``"State+Industry"``) make one key, ``State|Industry``;
* the time: ``ds``, ``ts``, ``date``, ``datetime``, ``timestamp``, ``time``, ``invoicedate``,
  ``period``, ``week``, ``month``, ``quarter``; epoch seconds, an ISO date or date-time (UTC
  unless it says otherwise), ``2024-03``, or fpp3's ``2024 Mar``, ``2024 Q1`` and
  ``2024 W09``; any other form with a ``strptime`` format (``--time-format "%m/%d/%Y %H:%M"``);
* the value: ``y``, ``qty``, ``quantity``, ``units``, ``sales``, ``value``, ``amount``,
  ``demand``; an empty value or ``NA`` is skipped, anything else must be a number.

Values in the same bucket add up (a row per sale is fine); a bucket with no row is a bucket
without sales (0), from a series' first row to the last bucket of the file, as the worker
learns a quiet series' zeros.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "sales.csv"
>>> _ = path.write_text("sku,date,qty\\nA,2024-01-01,2\\nA,2024-01-01,1\\nA,2024-01-03,5\\n"
...                     "B,2024-01-02,4\\n")
>>> panel, info = read_panel(path, 86400)
>>> panel
{'A': [3.0, 0.0, 5.0], 'B': [4.0, 0.0]}
>>> info.columns, info.rows, info.skipped
(('sku', 'date', 'qty'), 4, 0)
>>> regime_for(86400).season, regime_for(2629800).horizon
(7, 12)
"""

from __future__ import annotations

import bz2
import csv
import functools
import gzip
import io
import json
import lzma
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from models import grid
from models.evaluation.backtest_bank import evaluate_panel_bank
from models.evaluation.backtest_protocol import DAILY, HOURLY, MONTHLY, QUARTERLY, WEEKLY, Regime
from models.evaluation.scoreboard import Scoreboard
from sources.times import parse_time, strptime_utc

__all__ = ["PanelInfo", "read_panel", "regime_for", "score_file", "REGIMES"]

SERIES = ("unique_id", "series", "series_id", "sku", "item_id", "stockcode", "product_id",
          "product", "item", "id", "key")
TIME = ("ds", "ts", "date", "datetime", "timestamp", "time", "invoicedate", "period", "week",
        "month", "quarter")
VALUE = ("y", "qty", "quantity", "units", "sales", "value", "amount", "demand")
MISSING = {"", "na", "nan", "null", "none"}
#: the bucket widths a file can be backtested in, and their protocol
REGIMES: dict[int, Regime] = {3600: HOURLY, 86400: DAILY, 7 * 86400: WEEKLY,
                              grid.MONTH: MONTHLY, grid.QUARTER: QUARTERLY}
_OPEN: dict[str, Callable[..., IO[Any]]] = {".gz": gzip.open, ".xz": lzma.open,
                                            ".bz2": bz2.open}


@dataclass(frozen=True)
class PanelInfo:
    """What :func:`read_panel` read: the columns it used, the rows it counted and skipped
    (an empty or ``NA`` value), and the span of the panel in buckets."""

    columns: tuple[str, str, str]
    rows: int
    skipped: int
    buckets: int


def regime_for(width: int, horizon: int | None = None, warmup: int | None = None) -> Regime:
    """The protocol for buckets ``width`` seconds wide (hour, day, week, month, quarter), with
    ``horizon`` and ``warmup`` (buckets) when given; a ValueError for any other width.

    >>> regime_for(7 * 86400, horizon=4)
    Regime(bucket='week', horizon=4, season=52, warmup=104, step=4, season2=0, trend=True)
    """
    if width not in REGIMES:
        raise ValueError(f"a file is backtested in buckets of an hour (3600), a day (86400), a "
                         f"week (604800), a month or a quarter, not {width} s")
    regime = REGIMES[width]
    if horizon is not None:
        if not 1 <= horizon <= 400:
            raise ValueError(f"the horizon must be 1..400 buckets, got {horizon}")
        regime = replace(regime, horizon=horizon)
    if warmup is not None:
        least = regime.season2 or regime.season
        if warmup < least:
            raise ValueError(f"the warm-up must be at least a season ({least} buckets of "
                             f"{regime.bucket}), got {warmup}")
        regime = replace(regime, warmup=warmup)
    return regime


def read_panel(path: Path, width: int, columns: str | None = None,
               time_format: str | None = None) -> tuple[dict[str, list[float]], PanelInfo]:
    """The series of the file ``path`` in buckets ``width`` seconds wide (see the module
    docstring); times in ``time_format`` (``strptime``'s, UTC unless it has ``%z``) when
    given. A ValueError naming the file's line for anything it cannot read."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        with _open(path) as f:
            rows = _rows(path, f)
            header = next(rows, None)
            if header is None:
                raise ValueError(f"{path}: the file is empty")
            keys, t_col, v_col = _columns(path, header, columns)
            when = functools.lru_cache(maxsize=65536)(
                parse_time if time_format is None
                else functools.partial(strptime_utc, time_format=time_format))
            sums, n, skipped = _bucket(path, rows, keys, t_col, v_col,
                                       lambda t: grid.start(when(t), width))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    except (csv.Error, EOFError, lzma.LZMAError, gzip.BadGzipFile, OSError) as exc:
        raise ValueError(f"{path}: cannot read it ({exc})") from None
    if not sums:
        raise ValueError(f"{path}: no rows with a value")
    lo = min(min(per) for per in sums.values())
    hi = max(max(per) for per in sums.values())
    panel = {}
    for series, per in sums.items():
        first = min(per)
        values = [0.0] * (grid.steps(first, hi, width) + 1)
        for bucket, value in per.items():
            values[grid.steps(first, bucket, width)] += value
        panel[series] = values
    span = grid.steps(lo, hi, width) + 1
    return panel, PanelInfo((" + ".join(keys), t_col, v_col), n, skipped, span)


def _bucket(path: Path, rows: Iterator[Any], keys: list[str], t_col: str, v_col: str,
            bucket_of: Callable[[str], int]) -> tuple[dict[str, dict[int, float]], int, int]:
    """The sums per series and bucket start, the rows counted and the rows skipped."""
    sums: dict[str, dict[int, float]] = {}
    n = skipped = 0
    for line, row in rows:
        where = f"{path}, line {line}"
        try:
            raw = row[v_col]
            if str(raw).strip().lower() in MISSING:
                skipped += 1
                continue
            value = _number(raw)
            stamp = row[t_col]
            if isinstance(stamp, bool) or not isinstance(stamp, (int, float, str)):
                raise ValueError(f"time {stamp!r} is not a time")
            bucket = bucket_of(str(stamp))
            series = "|".join(str(row[k]).strip() for k in keys)
        except KeyError as exc:
            raise ValueError(f"{where}: no {exc.args[0]!r}") from None
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if not series.strip("|"):
            raise ValueError(f"{where}: the series is empty")
        per = sums.setdefault(series, {})
        per[bucket] = per.get(bucket, 0.0) + value
        n += 1
    return sums, n, skipped


def score_file(panel: dict[str, list[float]], name: str, regime: Regime,
               peer: bool = False, progress: bool = False) -> Scoreboard:
    """Score the worker's model on ``panel`` (from :func:`read_panel`) with ``regime``: the
    series with at least a warm-up and a horizon of buckets get origins; a ValueError when
    none has.

    >>> board = score_file({"A": [float(t % 7) for t in range(80)]}, "toy.csv",
    ...                    regime_for(86400))
    >>> board.name, board.n_series, board.meta["series scored"]
    ('toy-bank', 1, '1 of 1')
    """
    need = regime.warmup + regime.horizon
    scored = sum(len(v) >= need for v in panel.values())
    if not scored:
        longest = max((len(v) for v in panel.values()), default=0)
        raise ValueError(f"no series is long enough: the longest has {longest} buckets of a "
                         f"{regime.bucket}, and an origin needs a warm-up of {regime.warmup} "
                         f"and a horizon of {regime.horizon} (lower them with --warmup and "
                         f"--horizon)")
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", name.split(".")[0]).strip("_") or "file"
    board = evaluate_panel_bank(panel, f"{stem}-bank", regime=regime, peer=peer,
                                progress=progress)
    board.bucket = regime.bucket
    board.meta |= {"data": name, "series in data": str(len(panel)),
                   "series scored": f"{scored} of {len(panel)}"}
    return board


def _number(raw: object) -> float:
    """A row's value as a float; a ValueError for anything but a finite number."""
    try:
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise ValueError
        value = float(raw)
    except ValueError:
        raise ValueError(f"value {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"value {raw!r} is not a finite number")
    return value


def _open(path: Path) -> IO[str]:
    opener = _OPEN.get(path.suffix.lower())
    if opener is None:
        return path.open(encoding="utf-8-sig", newline="")
    return io.TextIOWrapper(opener(path, "rb"), encoding="utf-8-sig", newline="")


def _rows(path: Path, f: IO[str]) -> Iterator[Any]:
    """The header (a list of names) then ``(line, row)`` pairs, rows as dicts by name."""
    stem = path.name.lower().removesuffix(path.suffix.lower()) if path.suffix.lower() in _OPEN \
        else path.name.lower()
    if stem.endswith((".jsonl", ".ndjson")):
        yield from _json_rows(path, f)
        return
    reader = csv.reader(f)
    header = next(reader, None)
    if header is None:
        return
    yield [h.strip() for h in header]
    names = [h.strip() for h in header]
    for row in reader:
        if row:
            yield reader.line_num, dict(zip(names, row, strict=False))


def _json_rows(path: Path, f: IO[str]) -> Iterator[Any]:
    first = True
    for line, text in enumerate(f, start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {line}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}, line {line}: not a JSON object")
        if first:
            yield list(row)
            first = False
        yield line, row


def _columns(path: Path, header: list[str], given: str | None) -> tuple[list[str], str, str]:
    """The series columns, the time column and the value column."""
    by_lower = {h.lower(): h for h in header}
    if given is not None:
        parts = [p.strip() for p in given.split(",")]
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"--columns takes three names, series,time,value (the series may "
                             f"be several joined with +), got {given!r}")
        keys = [k.strip() for k in parts[0].split("+")]
        for name in (*keys, parts[1], parts[2]):
            if name not in header:
                raise ValueError(f"{path}: no column {name!r}; the columns are "
                                 f"{', '.join(header)}")
        return keys, parts[1], parts[2]
    found = [next((by_lower[c] for c in names if c in by_lower), None)
             for names in (SERIES, TIME, VALUE)]
    if None in found:
        what = [w for w, f in zip(("series", "time", "value"), found, strict=True) if f is None]
        raise ValueError(f"{path}: found no {' or '.join(what)} column among "
                         f"{', '.join(header) or 'no columns'}; name them with --columns "
                         f"series,time,value")
    series, t_col, v_col = (str(f) for f in found)
    return [series], t_col, v_col
