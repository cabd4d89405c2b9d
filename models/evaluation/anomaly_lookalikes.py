"""How many days of a real panel, left as they are, already look like an injected anomaly.

:func:`models.evaluation.anomaly_eval.inject_real` puts one anomaly into a real series on a
day where that kind qualifies. The data have such days of their own: a wholesale SKU beats
twice its 8-week best on some days, and a busy SKU sells nothing on others. An alert on one
of those counts as a false alarm, yet no detector that sees only the series can tell it from
an injection of the same kind. If it finds a share ``r`` of both, its precision on that kind
is ``r * injected / (r * injected + r * look_alikes)``, whatever ``r`` is: :func:`ceiling`.

A *look-alike*, on a day the panel's activity monitor judges ordinary (no closure, no
surge), from the injections' first day (``first``) to ``SHIFT_WINDOW`` days before the
series ends, counted once for a run of such days (an alert lasts as long as its anomaly):

* ``spike``: a value of at least twice the largest of the previous 56 days, plus 10 (the
  least an injected spike can be);
* ``drop``: no sales on a day that qualifies for an injected drop (at least ``BUSY`` units on
  each of the previous four same weekdays);
* ``level_shift``: the first of a run of days whose next ``SHIFT_WINDOW`` days average under
  0.3 or over 2.5 times the previous 28, on a series that sold at least ``BUSY`` a day over
  those 28 (a closure inside the 42 days leaves the day out), at most one in
  ``SHIFT_WINDOW`` days (the window in which an alert detects an injected shift).

The spike and drop definitions are the least an injection of that kind can be, so every
injected spike or drop is a look-alike; a level shift needs a ratio past the injected factor,
which noise gives to about half of the injected ones. Counts are thus if anything low, and
:func:`ceiling` if anything high.

>>> import numpy as np
>>> y = np.full(200, 12.0)
>>> y[150] = 0.0  # a busy series that sold nothing one day
>>> y[170] = 40.0  # and 40 one day: 40 >= 2 * 12 + 10
>>> count_lookalikes([y.tolist()])
{'spike': 1, 'drop': 1, 'level_shift': 0}
>>> ceiling(90, 810)
0.1
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.activity import ActivityMonitor
from models.evaluation.anomaly_eval import EVAL_KINDS, SHIFT_WINDOW, busy_before

__all__ = ["count_lookalikes", "ceiling", "ordinary_days"]

LOW, HIGH = 0.3, 2.5  # the injected level shifts' factors


def ordinary_days(grid: np.ndarray) -> np.ndarray:
    """``(days,)``: True where the panel's activity monitor (as the evaluation runs it) marks
    the day neither a closure nor a surge. ``grid`` is ``(series, days)``, NaN before a
    series starts."""
    monitor = ActivityMonitor(width=1, season=7)
    for t in range(grid.shape[1]):
        for _ in range(int((grid[:, t] > 0).sum())):
            monitor.count(t, new_series=True)
        monitor.judge(t + 1)
    return np.array([monitor.verdict(t) is None for t in range(grid.shape[1])])


def count_lookalikes(values: Sequence[Sequence[float]], first: int = 120) -> dict[str, int]:
    """Look-alikes per kind (module docstring) in ``values``, series aligned on their last
    day as :func:`~models.evaluation.anomaly_eval.evaluate_real` aligns them."""
    n_days = max((len(v) for v in values), default=0)
    grid = np.full((len(values), n_days), np.nan)
    for s, v in enumerate(values):
        grid[s, n_days - len(v):] = v
    ordinary = ordinary_days(grid)
    out = dict.fromkeys(EVAL_KINDS, 0)
    for v in values:
        y = np.asarray(v, dtype=np.float64)
        ok = ordinary[n_days - len(y):]
        last = dict.fromkeys(EVAL_KINDS, False)  # the day before was one: the same anomaly
        quiet_until = 0  # a level shift's window: a second one inside it is the same shift
        for d in range(first, len(y) - SHIFT_WINDOW):
            before, after = y[d - 28:d].mean(), y[d:d + SHIFT_WINDOW].mean()
            now = {
                "spike": bool(y[d] >= 2.0 * y[d - 56:d].max() + 10.0),
                "drop": busy_before(y, d, "drop") and bool(y[d] == 0),
                "level_shift": (busy_before(y, d, "level_shift")
                                and bool(ok[d - 28:d + SHIFT_WINDOW].all())
                                and not LOW * before <= after <= HIGH * before),
            }
            now["level_shift"] = now["level_shift"] and d >= quiet_until
            for kind, hit in now.items():
                hit = hit and bool(ok[d])
                out[kind] += hit and not last[kind]
                last[kind] = hit
            if now["level_shift"] and ok[d]:
                quiet_until = d + SHIFT_WINDOW
    return out


def ceiling(injected: int, lookalikes: int) -> float:
    """The precision of a detector that finds the same share of injections and of their
    look-alikes (1 where there is neither)."""
    total = injected + lookalikes
    return injected / total if total else 1.0
