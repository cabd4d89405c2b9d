"""A panel from the user's own file: ``salescast backtest --file sales.csv``.

Before trusting a forecaster with their stock, a retailer wants to see it on their own
history. :func:`read_panel` turns a file of dated values into the panel that
:func:`~models.evaluation.backtest_bank.evaluate_panel_bank` scores, bucketed exactly as the
worker buckets events (:mod:`models.grid`: fixed widths from the epoch in UTC, weeks from
Monday, calendar months and quarters), and :func:`regime_for` picks the protocol of that
bucket width.

The file and its columns: :mod:`sources.user_file`.

Values in the same bucket add up (a row per sale is fine); a bucket with no row is a bucket
without sales (0), from a series' first row to the last bucket of the file, as the worker
learns a quiet series' zeros.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "sales.csv"
>>> _ = path.write_text("sku,date,qty\\nA,2024-01-01,2\\nA,2024-01-01,1\\nA,2024-01-03,5\\n"
...                     "B,2024-01-02,4\\n")
>>> panel, info = read_panel(UserFile(path), 86400)
>>> panel
{'A': [3.0, 0.0, 5.0], 'B': [4.0, 0.0]}
>>> info.columns, info.rows, info.skipped
(('sku', 'date', 'qty'), 4, 0)
>>> regime_for(86400).season, regime_for(2629800).horizon
(7, 12)
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, replace

from config.calendar import NAMED_WIDTHS
from contracts.events import MAX_ABS_QTY
from models import grid
from models.base import MAX_VALUE, BatchForecast
from models.evaluation.backtest_bank import BANK_ROW, evaluate_panel_bank
from models.evaluation.backtest_protocol import DAILY, HOURLY, MONTHLY, QUARTERLY, WEEKLY, Regime
from models.evaluation.peer import PEER_NAME
from models.evaluation.scoreboard import Scoreboard
from sources.user_file import UserFile

__all__ = ["MAX_SPAN", "PanelInfo", "buckets_of", "read_panel", "regime_for", "score_file",
           "verdict", "width_of", "REGIMES"]

DAY = 86_400
#: the most buckets a file's times may span (five years of hours; a mistyped year in one row
#: of daily sales made 66,474 buckets of every series, gigabytes before the first origin)
MAX_SPAN = 50_000
#: the bucket widths a file can be backtested in, and their protocol
REGIMES: dict[int, Regime] = {3600: HOURLY, 86400: DAILY, 7 * 86400: WEEKLY,
                              grid.MONTH: MONTHLY, grid.QUARTER: QUARTERLY}


@dataclass(frozen=True)
class PanelInfo:
    """What :func:`read_panel` read: the columns it used, the rows it counted and skipped
    (an empty or ``NA`` value), the span of the panel in buckets, and what the user should
    know about it (a partial last bucket left out, negative totals, other key columns)."""

    columns: tuple[str, str, str]
    rows: int
    skipped: int
    buckets: int
    notes: tuple[str, ...] = ()
    last: int = 0  # the start of the last bucket (epoch seconds): every series ends there


def width_of(name: str) -> int:
    """The width of buckets named ``name`` (``hour``, ``day``, ``week``, ``month``,
    ``quarter``, any case) or given in seconds (one of theirs); a ValueError otherwise.

    >>> width_of("Week"), width_of("86400")
    (604800, 86400)
    """
    text = name.strip().lower()
    by_name = {name: w for name, w in NAMED_WIDTHS.items() if w in REGIMES}  # the settings'
    if text in by_name:
        return by_name[text]
    if text.isdigit() and int(text) in REGIMES:
        return int(text)
    raise ValueError(f"--bucket must be {', '.join(list(by_name)[:-1])} or {list(by_name)[-1]}, "
                     f"got {name!r}")


def buckets_of(n: int, regime: Regime) -> str:
    """``n`` buckets of ``regime``, in words: ``1 bucket of an hour``, ``3 buckets of a day``."""
    return (f"{n:,} bucket{'' if n == 1 else 's'} of {'an' if regime.bucket == 'hour' else 'a'} "
            f"{regime.bucket}")


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


def read_panel(file: UserFile, width: int) -> tuple[dict[str, list[float]], PanelInfo]:
    """The series of ``file`` in buckets ``width`` seconds wide (see the module docstring).
    A ValueError naming the file's line for anything it cannot read."""
    sums: dict[str, dict[int, float]] = {}
    n = 0
    ends: dict[int, int] = {}  # the first row of each bucket (lines of the earliest and latest)
    rows: dict[int, int] = {}  # rows per bucket
    times: set[float] = set()  # (buckets longer than a day: is the last one partial?)
    coarse = width > DAY
    big: list[int] = []  # lines of rows the worker would refuse as an event (|qty| > 1e6)
    for row in file:
        if abs(row.value) > MAX_ABS_QTY:
            if not abs(row.value) <= MAX_VALUE / 1e6:  # (a bucket adds a million such rows)
                raise ValueError(f"{file.path}: line {row.line}: a value of {row.value:g} is "
                                 f"beyond what the models take (at most {MAX_VALUE / 1e6:g})")
            big.append(row.line)
        per = sums.setdefault(row.series, {})
        bucket = grid.start(row.ts, width)
        per[bucket] = per.get(bucket, 0.0) + row.value
        ends.setdefault(bucket, row.line)
        rows[bucket] = rows.get(bucket, 0) + 1
        if coarse:
            times.add(row.ts)
        n += 1
    if not sums:
        raise ValueError(f"{file.path}: no rows with a value")
    file.check_keys(len(sums), n)
    lo, hi = min(ends), max(ends)
    if (span := grid.steps(lo, hi, width) + 1) > MAX_SPAN:
        raise ValueError(f"{file.path}: its times span {span:,} buckets, from line {ends[lo]} "
                         f"to line {ends[hi]}: a mistyped date? (at most {MAX_SPAN:,})")
    _stray(file, rows, ends, width)
    notes = [f"also key-like: {', '.join(file.also_keys)}; the series are "
             f"{' + '.join(file.keys)} alone, summed over them (to keep them apart: --columns "
             f"\"{'+'.join([*file.also_keys, *file.keys])},{file.time},{file.value}\")"
             ] if file.also_keys else []
    notes += file.notes()  # lines above the header; a wide file's totals and repeats
    if big:
        notes.append(f"rows of more than {MAX_ABS_QTY:,.0f} in size: {len(big):,} (line "
                     f"{big[0]} first); scored here, but the worker takes no sale that large "
                     "(replay --file and demo --file send them to the dead letters as absurd): "
                     "split them or count in larger units")
    if _partial(times, hi, width) and lo < hi:
        notes.append(f"the last bucket, {_day(hi)}, is partial (the file ends on "
                     f"{_day(max(times))}): left out")
        hi = grid.shift(hi, -1, width)
        sums = {k: {b: v for b, v in per.items() if b <= hi} for k, per in sums.items()}
        sums = {k: per for k, per in sums.items() if per}
        span -= 1
    panel = {}
    for series, per in sums.items():
        first = min(per)
        values = [0.0] * (grid.steps(first, hi, width) + 1)
        for bucket, value in per.items():
            values[grid.steps(first, bucket, width)] += value
        panel[series] = values
    if negative := sum(v < 0 for values in panel.values() for v in values):
        notes.append(f"buckets that add up to less than 0 (more returned than sold): "
                     f"{negative:,}, in {sum(min(v) < 0 for v in panel.values()):,} series; "
                     "the bands stop at 0 where the forecast is at least 0, so such buckets "
                     "fall outside them, and the mean and the lead-time total (units to "
                     "stock) are at least 0")
    return panel, PanelInfo(file.columns, n, file.skipped, span, tuple(notes), hi)


def _day(ts: float) -> str:
    """The date of ``ts`` on the shop's clock (the grid's: SALESCAST_UTC_OFFSET)."""
    return time.strftime("%Y-%m-%d", time.gmtime(ts + grid.utc_offset()))


def _partial(times: set[float], last: int, width: int) -> bool:
    """Whether the last bucket (starting at ``last``) is cut short by the file's end: buckets
    longer than a day, of data finer than them (the usual step between two times, at least
    a day), whose last time plus that step falls before the bucket's end (a June of
    daily rows that end on the 15th read as a collapse of sales)."""
    if width <= DAY or (usual := grid.usual_step(times)) is None:  # the median: a file of
        return False  # months and quarters mixed
    step = max(usual, DAY)
    return step < 0.9 * width and max(times) + step < grid.end(last, width)


def _stray(file: UserFile, rows: dict[int, int], first_line: dict[int, int], width: int) -> None:
    """A ValueError for a few rows dated far from all the others (a mistyped year: one row of
    2042 in a file of 2024 made every series 18 years of zeros longer, scored on them)."""
    keys = sorted(rows)
    if len(keys) < 3:
        return
    gaps = [grid.steps(a, b, width) for a, b in zip(keys, keys[1:], strict=False)]
    i = max(range(len(gaps)), key=gaps.__getitem__)
    rest = grid.steps(keys[0], keys[-1], width) - gaps[i]
    before = sum(rows[k] for k in keys[: i + 1])
    lone = min(before, sum(rows.values()) - before)
    if gaps[i] > 10 * max(rest, 1) and lone <= max(10, sum(rows.values()) // 200):
        far = keys[0] if before == lone else keys[-1]
        raise ValueError(f"{file.path}, line {first_line[far]}: dated {_day(far)}, "
                         f"{gaps[i]:,} buckets away from the other rows: a mistyped date? "
                         f"(correct or remove it)")


def verdict(board: Scoreboard) -> str:
    """The scoreboard in one sentence, for the user who ran it on their own data.

    >>> board = score_file({"A": [float(t % 7 + t % 5) for t in range(80)]}, "toy.csv",
    ...                    regime_for(86400))
    >>> verdict(board).startswith("the worker's model: 0.")
    True
    >>> verdict(score_file({"A": [float(t % 7) for t in range(80)]}, "toy.csv",
    ...                    regime_for(86400)))[:72]
    'no ratio to seasonal naive: it makes no error on these series (at every '
    """
    rows = {r.name: r for r in board.rows}
    model = rows[BANK_ROW]
    if not math.isfinite(model.gmean_rel_is):
        return ("no ratio to seasonal naive: it makes no error on these series (at every "
                "origin each repeats its last season exactly: a constant, or zeros after a "
                "last sale); the scoreboard has the errors in units")
    members = [r for r in board.rows if r.name.startswith("member: ")
               and math.isfinite(r.gmean_rel_is)]
    best = min(members, key=lambda r: r.gmean_rel_is, default=None)
    parts = [f"the worker's model: {model.gmean_rel_is:.3f} of seasonal naive's error "
             f"(geometric mean over series, each origin scaled by its history)"]
    if best is not None:
        parts.append(f"its best member, {best.name.removeprefix('member: ')}, "
                     f"{best.gmean_rel_is:.3f}")
    if PEER_NAME in rows:
        parts.append(f"AutoETS {rows[PEER_NAME].gmean_rel_is:.3f}")
    parts.append(f"80% / 95% bands cover {model.coverage80:.2f} / {model.coverage95:.2f}")
    return "; ".join(parts) + " (lower is better; 1: no better than seasonal naive)"


def score_file(panel: dict[str, list[float]], name: str, regime: Regime,
               peer: bool = False, progress: bool = False,
               last_day: int | None = None,
               final: list[BatchForecast] | None = None) -> Scoreboard:
    """Score the worker's model on ``panel`` (from :func:`read_panel`) with ``regime``: the
    series with at least a warm-up and a horizon of buckets get origins; a ValueError when
    none has. ``last_day``, the epoch day every daily series ends on, dates them for the
    holiday factor of the calendar in use, as the worker dates its daily rows. ``final``
    gets the model's forecast after the file's end (a row per series of ``panel``).

    >>> board = score_file({"A": [float(t % 7) for t in range(80)]}, "toy.csv",
    ...                    regime_for(86400))
    >>> board.name, board.n_series, board.meta["series scored"]
    ('toy_csv-day-bank', 1, '1 of 1')
    """
    need = regime.warmup + regime.horizon
    scored = sum(len(v) >= need for v in panel.values())
    if not scored:
        longest = max((len(v) for v in panel.values()), default=0)
        raise ValueError(f"no series is long enough: the longest has "
                         f"{buckets_of(longest, regime)}, and an origin needs a warm-up of "
                         f"{regime.warmup} "
                         f"and a horizon of {regime.horizon} (lower them with --warmup and "
                         f"--horizon)")
    # the whole name and the bucket: sales.csv and sales.jsonl, or a file scored by the day
    # and by the week, get scoreboards of their own
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "file"
    board = evaluate_panel_bank(panel, f"{stem}-{regime.bucket}-bank", last_day, regime=regime,
                                peer=peer, progress=progress, final=final)
    board.bucket = regime.bucket
    board.meta |= {"data": name, "series in data": str(len(panel)),
                   "series scored": f"{scored} of {len(panel)}"}
    return board


