"""The backtest's data: daily series per SKU from Online Retail II, and the fixed panels.

* Series: net quantity per UTC day per StockCode, zeros for days without a sale, from the SKU's
  first day with a positive net quantity to the last day of the data (:func:`daily_series`).
* Panels (:func:`select_panel`): ``"top500"``, the 500 SKUs with the largest total net
  quantity; ``"sampled"``, 500 SKUs drawn with ``random.Random(seed)`` (seed 0) from those
  with >= 100 selling days. ``quick=True`` keeps the first 50 of the panel. ``"tuning"``: 100
  SKUs with >= 50 selling days in neither panel (seed 1), and ``"tuning_top"``, the 100 SKUs
  with the largest volume in neither panel: the only places defaults were chosen.

>>> series = {"a": [1.0] * 120, "b": [5.0] * 120, "c": [0.0] * 119 + [1.0]}
>>> select_panel(series, "top500")
['b', 'a', 'c']
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path

from sources.online_retail import iter_events

__all__ = ["PANELS", "QUICK_SIZE", "daily_panel", "daily_series", "last_day", "select_panel"]

PANEL_SIZE, QUICK_SIZE, MIN_SELLING_DAYS, SEED = 500, 50, 100, 0
PANELS = ("top500", "sampled", "tuning", "tuning_top")  # the last two only choose defaults
DAY = 86400


def daily_series(path: Path) -> dict[str, list[float]]:
    """Net quantity per UTC day per StockCode (see the module docstring), by StockCode."""
    return daily_panel(path)[0]


def daily_panel(path: Path) -> tuple[dict[str, list[float]], dict[str, list[float | None]]]:
    """:func:`daily_series` and, aligned with it, each day's unit price: the quantity-weighted
    mean price of the day's sales lines (None on a day without a sale)."""
    days: dict[str, dict[int, float]] = {}
    sold: dict[str, dict[int, tuple[float, float]]] = {}  # day -> (qty, qty * price) of sales
    last = 0
    for e in iter_events(Path(path)):
        d = int(e.ts // DAY)
        per = days.setdefault(e.series, {})
        per[d] = per.get(d, 0.0) + e.qty
        if e.qty > 0 and e.price > 0:
            q, v = sold.setdefault(e.series, {}).get(d, (0.0, 0.0))
            sold[e.series][d] = (q + e.qty, v + e.qty * e.price)
        last = max(last, d)
    out, prices = {}, {}
    for code, per in days.items():
        selling = [d for d, q in per.items() if q > 0]
        if selling:
            first = min(selling)
            out[code] = [float(per.get(d, 0.0)) for d in range(first, last + 1)]
            paid = sold.get(code, {})
            prices[code] = [paid[d][1] / paid[d][0] if d in paid else None
                            for d in range(first, last + 1)]
    return out, prices


def last_day(path: Path) -> int:
    """The epoch day of the data's last event: every daily series ends on it."""
    last = 0.0
    for e in iter_events(Path(path)):
        last = max(last, e.ts)
    return int(last // DAY)


def select_panel(
    series: Mapping[str, Sequence[float]], panel: str, quick: bool = False, seed: int = SEED
) -> list[str]:
    """The StockCodes of ``panel`` (one of :data:`PANELS`), in a fixed order."""
    if panel not in PANELS:
        valid = ", ".join(map(repr, PANELS[:-1])) + f" or {PANELS[-1]!r}"
        raise ValueError(f"panel must be {valid}, got {panel!r}")
    def by_volume() -> list[str]:
        return sorted(series, key=lambda c: (-sum(series[c]), c))

    if panel == "top500":
        codes = by_volume()[:PANEL_SIZE]
    elif panel == "sampled":
        pool = sorted(c for c, ys in series.items() if sum(y > 0 for y in ys) >= MIN_SELLING_DAYS)
        codes = random.Random(seed).sample(pool, min(PANEL_SIZE, len(pool)))
    else:  # the tuning panels: disjoint from both scored panels, never scored
        taken = set(select_panel(series, "top500")) | set(select_panel(series, "sampled"))
        if panel == "tuning":
            pool = sorted(
                c
                for c, ys in series.items()
                if c not in taken and sum(y > 0 for y in ys) >= MIN_SELLING_DAYS // 2
            )
            codes = random.Random(seed + 1).sample(pool, min(QUICK_SIZE * 2, len(pool)))
        else:  # "tuning_top": the next 100 SKUs by volume
            codes = [c for c in by_volume() if c not in taken][: QUICK_SIZE * 2]
    return codes[:QUICK_SIZE] if quick else codes
