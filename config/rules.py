"""Rules between settings, and variables that look like settings but are none.

Checked when the settings are read (:func:`config.load_settings`), so that each is one line
at start: a dead-letter topic that is the events topic (the worker would read its own
rejections back), category aggregates without their map, or a category map with no row.
:func:`unknown_variables` names the ``SALESCAST_*`` variables that are no setting (a
misspelt ``SALESCAST_HORZION=7`` was ignored without a word, the default used).

>>> unknown_variables({"SALESCAST_HORZION": "7", "SALESCAST_HORIZON": "7", "HOME": "/root"},
...                   ["SALESCAST_HORIZON"])
['SALESCAST_HORZION is not a salescast setting (did you mean SALESCAST_HORIZON?): ignored']
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = ["category_problem", "conflict", "read_category_map", "unknown_variables",
           "OTHER_VARIABLES"]

#: ``SALESCAST_*`` variables read by something other than the settings
OTHER_VARIABLES = frozenset({"SALESCAST_TOKEN"})  # `salescast watch --token`'s


def read_category_map(path: Path) -> dict[str, str]:
    """``series,category`` rows of the CSV at ``path`` (a first row naming the columns,
    ``series``/``stockcode``/``sku``, is skipped; rows without both cells are too).

    A series cell names the series as it is and, stripped of spaces around it, as series
    ids usually are (an exact name wins; a stripped name two cells give different categories
    is not named). ``ValueError`` when a series is given two categories: the later row took
    it, without a word (a probe)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = [(n, r) for n, r in enumerate(csv.reader(f), 1)
                if len(r) >= 2 and r[0].strip() and r[1].strip()]
    if rows and rows[0][1][0].strip().lower() in ("series", "stockcode", "sku"):
        rows = rows[1:]
    out: dict[str, str] = {}
    first: dict[str, int] = {}  # series -> the row that named it first
    for n, r in rows:
        key, cat = r[0], r[1].strip()
        if out.get(key, cat) != cat:
            raise ValueError(f"{path}: series {key!r} has two categories, {out[key]!r} (row "
                             f"{first[key]}) and {cat!r} (row {n})")
        out[key] = cat
        first.setdefault(key, n)
    stripped: dict[str, set[str]] = {}
    for key, cat in out.items():
        stripped.setdefault(key.strip(), set()).add(cat)
    for key, cats in stripped.items():  # "A " names A too, unless A is named or ambiguous
        if key not in out and len(cats) == 1:
            out[key] = cats.pop()
    return out


def conflict(settings: Settings) -> str | None:
    """The first rule ``settings`` break, as one line (None: none)."""
    topics: dict[str, str] = {}
    for name, topic in (("SALESCAST_EVENTS_TOPIC", settings.events_topic),
                        ("SALESCAST_DEADLETTER_TOPIC", settings.deadletter_topic),
                        ("SALESCAST_ALERTS_TOPIC", settings.alerts_topic),
                        ("SALESCAST_BUCKETS_TOPIC", settings.buckets_topic)):
        if topic in topics:
            return f"{topics[topic]} and {name} are both {topic!r}: each topic must be its own"
        topics[topic] = name
    return category_problem(settings)


def category_problem(settings: Settings) -> str | None:
    """Why category aggregates cannot be made from ``settings`` (None: they can, or are not
    asked for): no map, or a map without a row."""
    if settings.aggregate_by != "category":
        return None
    if settings.category_map is None:
        return ("SALESCAST_AGGREGATE_BY=category needs SALESCAST_CATEGORY_MAP (a CSV of "
                "series,category rows)")
    try:
        if not read_category_map(settings.category_map):
            return f"SALESCAST_CATEGORY_MAP {settings.category_map} has no series,category row"
    except ValueError as exc:
        return f"SALESCAST_CATEGORY_MAP {exc}"
    return None


def unknown_variables(env: Mapping[str, str], known: Iterable[str]) -> list[str]:
    """A line for each ``SALESCAST_*`` variable of ``env`` that is neither one of ``known``
    nor in :data:`OTHER_VARIABLES`, with the setting it was likely meant to be."""
    names = sorted(set(known) | OTHER_VARIABLES)
    out = []
    for var in sorted(env):
        if var.startswith("SALESCAST_") and var not in names:
            close = difflib.get_close_matches(var, names, n=1, cutoff=0.8)
            out.append(f"{var} is not a salescast setting"
                       f"{f' (did you mean {close[0]}?)' if close else ''}: ignored")
    return out
