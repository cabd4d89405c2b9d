"""Wide files: a row per series, a column per period (a spreadsheet's layout).

A header such as ``sku,store,2024-01-01,2024-01-02,...`` (or ``Product,2024 Jan,2024 Feb``,
``item,2024-W01,...``) holds its times in the column names: :func:`time_columns` finds them
(two or more names that read as times, each the time of its column's cells), and
:func:`key_columns` the columns that name a row's series (every other column but a price, a
country or a row total: ``sku`` and ``store`` make one key, ``A|S1``). The file's reader,
:class:`sources.user_file.UserFile`, then yields a row per cell with a value.

>>> from sources.times import parse_time
>>> header = ["sku", "store", "2024-01-01", "2024-01-02", "Total"]
>>> times = time_columns(header, parse_time)
>>> list(times), key_columns(header, times)
(['2024-01-01', '2024-01-02'], ['sku', 'store'])
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["time_columns", "key_columns", "describe"]

#: a name of digits alone is a number (a year, an index, an id), not a time; but for
#: ``20240131`` and ``202401``, dates written as digits
_PLAIN_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
NOT_KEYS = ("price", "unit_price", "unitprice", "country", "total", "sum", "grand total")


def time_columns(header: list[str], parse: Callable[[str], float]) -> dict[str, float]:
    """The columns of ``header`` whose names ``parse`` reads as times, each with its time;
    empty unless there are two or more (one date-like name is more likely a label).

    >>> from sources.times import parse_time
    >>> time_columns(["id", "2024 Q1", "2024 Q2"], parse_time)
    {'2024 Q1': 1704067200.0, '2024 Q2': 1711929600.0}
    >>> time_columns(["id", "2024-01-01", "qty"], parse_time), time_columns(["1", "2"], parse_time)
    ({}, {})
    """
    found: dict[str, float] = {}
    for name in header:
        text = name.strip()
        if not text or (_PLAIN_NUMBER.fullmatch(text) and not (
                text.isdigit() and len(text) in (6, 8))):
            continue
        try:
            found[name] = parse(text)
        except ValueError:
            continue
    return found if len(found) >= 2 else {}


def key_columns(header: list[str], times: dict[str, float]) -> list[str]:
    """The columns naming a row's series: all but the time columns, a price, a country and a
    row total (by name, any case)."""
    return [h for h in header if h not in times and h.strip().lower() not in NOT_KEYS]


def describe(times: dict[str, float]) -> str:
    """The time columns in a few words, for messages.

    >>> describe({"2024-01": 0.0, "2024-02": 1.0, "2024-03": 2.0})
    '3 columns 2024-01 .. 2024-03'
    """
    names = list(times)
    return f"{len(names)} columns {names[0]} .. {names[-1]}"
