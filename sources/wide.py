"""Wide files: a row per series, a column per period (a spreadsheet's layout).

A header such as ``sku,store,2024-01-01,2024-01-02,...`` (or ``Product,2024 Jan,2024 Feb``,
``item,2024 W01,...``) holds its times in the column names: :func:`time_columns` finds them
(two or more names that read as times, each the time of its column's cells), and
:func:`key_columns` the columns that name a row's series: the product's column found by name
(``sku``, ``item_id``...) with those that often split it (``store``, ``region``...) when there
is one, else every other column; never a price, a country, an empty name or a summary
(``Total 2024``, ``Average``, ``YTD``). A row whose key is a summary (``Total``, ``Grand
total``) is no series (:func:`is_summary`): it would count the others again. The file's reader,
:class:`sources.user_file.UserFile`, then yields a row per cell with a value.

>>> from sources.times import parse_time
>>> header = ["sku", "store", "Description", "2024-01-01", "2024-01-02", "Total"]
>>> times = time_columns(header, parse_time)
>>> list(times), key_columns(header, times, ["sku"], ["store"])
(['2024-01-01', '2024-01-02'], ['sku', 'store'])
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["time_columns", "key_columns", "is_summary", "looks_like_times", "describe"]

#: a name of digits alone is a number (a year, an index, an id), not a time, unless a
#: --time-format says how to read it; but for ``20240131`` and ``202401``, dates as digits
_PLAIN_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
NOT_KEYS = ("price", "unit_price", "unitprice", "country")
#: names of a summary column, or of a summary row's key: not a series
_SUMMARY = re.compile(r"(grand\s*)?(total|totals|sum|subtotal|average|avg|mean|median|ytd|"
                      r"mtd|count|min|max|all)\b.*", re.IGNORECASE)
#: a name with digits and a date's separators or a month's name: a time in some form
_DATELIKE = re.compile(r".*\d.*[-/.: ].*|.*(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|"
                       r"week|wk|q[1-4]).*", re.IGNORECASE)


def _shape(name: str) -> str:
    return re.sub(r"[A-Za-z]", "a", re.sub(r"\d", "9", name.strip()))


def time_columns(header: list[str], parse: Callable[[str], float],
                 formatted: bool = False) -> dict[str, float]:
    """The columns of ``header`` whose names ``parse`` reads as times, each with its time;
    empty unless there are two or more (one date-like name is more likely a label). A name of
    digits alone is read only when ``formatted`` (a --time-format says how) or as a date
    written as digits. A ValueError when names shaped as the times are not times (``202313``
    beside ``202312``: weeks read as months), or when two names are the same time (one of
    them a code: its cells would be added to the other's).

    >>> from sources.times import parse_time
    >>> time_columns(["id", "2024 Q1", "2024 Q2"], parse_time)
    {'2024 Q1': 1704067200.0, '2024 Q2': 1711929600.0}
    >>> time_columns(["id", "2024-01-01", "qty"], parse_time), time_columns(["1", "2"], parse_time)
    ({}, {})
    >>> try:
    ...     time_columns(["sku", "202311", "202312", "202313"], parse_time)
    ... except ValueError as exc:
    ...     print(str(exc)[:56])
    columns 202313 are written as 202311 is but are no times
    >>> try:
    ...     time_columns(["202401", "2024-01", "2024-02"], parse_time)
    ... except ValueError as exc:
    ...     print(str(exc)[:48])
    columns 202401 and 2024-01 read as the same time
    """
    found: dict[str, float] = {}
    failed: list[str] = []
    for name in header:
        text = name.strip()
        if not text or (not formatted and _PLAIN_NUMBER.fullmatch(text) and not (
                text.isdigit() and len(text) in (6, 8))):
            continue
        try:
            found[name] = parse(text)
        except ValueError:
            failed.append(name)
    if len(found) < 2:
        return {}
    by_time: dict[float, str] = {}
    for n, t in found.items():
        if (other := by_time.setdefault(t, n)) != n:
            raise ValueError(f"columns {other} and {n} read as the same time: one of them "
                             f"is no time (a code?); give --time-format to read only the "
                             f"times' form, or rename it")
    shapes: dict[str, str] = {}
    for n in found:
        shapes.setdefault(_shape(n), n)
    odd = [n for n in failed if _shape(n) in shapes]
    if odd:
        week = ' (for weeks written 202401, "%Y%W")' if all(
            n.strip().isdigit() for n in odd) else ""
        raise ValueError(f"columns {', '.join(odd[:3])}{' ...' if len(odd) > 3 else ''} are "
                         f"written as {shapes[_shape(odd[0])]} is but are no times of that "
                         f"form: give --time-format{week}")
    return found


def is_summary(name: str) -> bool:
    """Whether a column's name, or a row's key, is a summary (``Total``, ``YTD``, ...).

    >>> [is_summary(n) for n in ("Total", "Grand Total", "Total 2024", "Average", "Totem")]
    [True, True, True, True, False]
    """
    return bool(_SUMMARY.fullmatch(name.strip()))


def key_columns(header: list[str], times: dict[str, float], named: list[str],
                splits: list[str]) -> list[str]:
    """The columns naming a row's series: the product's column found by name (``named``) and
    those that often split it (``splits``), when there is one; else every column but the
    times, a price, a country, an empty name and a summary."""
    if named:
        return [h for h in header if h in named or h in splits]
    return [h for h in header if h not in times and h.strip()
            and h.strip().lower() not in NOT_KEYS and not is_summary(h)]


def looks_like_times(header: list[str]) -> list[str]:
    """The names of ``header`` that look like times in a form not read (``1/2/2024``,
    ``Jan-24``): what a --time-format would read.

    >>> looks_like_times(["sku", "1/2/2024", "Jan-24", "qty"])
    ['1/2/2024', 'Jan-24']
    """
    return [h for h in header if _DATELIKE.fullmatch(h.strip())]


def describe(times: dict[str, float]) -> str:
    """The time columns in a few words, for messages.

    >>> describe({"2024-01": 0.0, "2024-02": 1.0, "2024-03": 2.0})
    '3 columns 2024-01 .. 2024-03'
    """
    names = list(times)
    return f"{len(names):,} columns {names[0]} .. {names[-1]}"
