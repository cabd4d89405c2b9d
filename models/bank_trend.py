"""Holt-Winters with a damped additive trend on log1p, for many rows at once: the member that
follows a trend, for buckets of more than a day (:func:`~models.seasons.trend_for`).

The other members of :class:`~models.bank_members.MemberBank` hold a level (medians, the
seasonal naive, Holt-Winters without a trend): on monthly or quarterly series that grow for
years they all lag, and the ensemble with them (issue 12: the monthly retail-turnover panel).
This member adds a trend that fades over the horizon (``phi``), on the same log1p scale,
smoothing and seasonal start as Holt-Winters (:meth:`MemberBank._learn_hw`)::

    l' = alpha (z - s) + (1 - alpha) (l + phi b)
    b' = beta (l' - l) + (1 - beta) phi b
    s' = g (z - l - phi b) + (1 - g) s        (g: the mean of the cycles until 1 / gamma)
    forecast k steps ahead: expm1(l + (phi + ... + phi^k) b + s_k), 0 when not above 0

``beta`` 0.05 and ``phi`` 0.98 are the values tried for Holt-Winters itself before
(docs/backtest.md: a trend in Holt-Winters helped PBS and hurt tourism and both daily tuning
panels); as a member of its own, beside Holt-Winters, the ensemble weighs it where it wins.
On monthly and quarterly series the rolling medians, which hold a level over 12 to 96 buckets,
score 1.4 to 3.8 times seasonal naive; a bank with this member therefore gives them a small
share, gives this member a large one and drops clearly worse members sooner (:data:`SHARES`,
:data:`DROP`), and corrects its mean forecast's bias faster (:data:`MEAN_DECAY`).
Its arrays live in the member bank (``owner``: ``td_level``, ``td_trend``, ``td_seasonal``,
``td_sum``), so they grow, persist and load with the other members'.

>>> import numpy as np
>>> from models.bank_members import MemberBank
>>> m = MemberBank(season=2, windows=(2,), horizon=3, cycles=0, trend=True)
>>> rows = m.add(1)
>>> for n in range(40):  # 10% more each bucket, every other one half as much again
...     m.learn(rows, np.array([10 * 1.1 ** n * (1.5 if n % 2 else 1.0)]), np.array([n]))
>>> paths = m.paths(rows, np.array([40]))[0]  # the truth: 452.6, 746.8, 547.6
>>> paths[2].round(1).tolist(), paths[3].round(1).tolist()  # Holt-Winters, damped trend
([308.8, 473.2, 308.8], [383.4, 613.5, 427.4])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.bank_ops import from_log, start_season

__all__ = ["BETA", "DROP", "MEAN_DECAY", "PHI", "SHARES", "learn_trend", "shapes", "trend_path"]

BETA, PHI = 0.05, 0.98
#: how a bank with this member weighs and corrects its members, chosen on the monthly and
#: quarterly tuning panels (``salescast backtest tuning_monthly|tuning_quarterly``, never the
#: scored PBS, tourism and retail panels; docs/backtest/bank_sweeps.py ``coarse``): the
#: medians' share and this member's (the daily defaults: 0.65 and 1), the drop ratio (a
#: member whose error is above DROP times the best one's gets no weight; daily: 2.5) and the
#: mean forecast's bias decay (daily: 0.96; models.bank_mean)
SHARES, DROP, MEAN_DECAY = (0.1, 4.0), 1.25, 0.8


def shapes(season: int) -> dict[str, tuple[tuple[int, ...], type]]:
    """The member's arrays per row."""
    return {"td_level": ((), np.float64), "td_trend": ((), np.float64),
            "td_seasonal": ((season,), np.float64), "td_sum": ((), np.float64)}


def learn_trend(owner: Any, rows: np.ndarray, z: np.ndarray, n: np.ndarray) -> None:
    """Rows ``rows`` learn ``z`` (log1p of their values), their value number ``n``."""
    m, slot = owner.season, n % owner.season
    init = n < m
    if init.any():  # the first season: the level is the running mean, no trend yet
        start_season(owner.td_level, owner.td_seasonal, owner.td_sum, rows[init], z[init],
                     n[init], m)
    go = ~init
    if go.any():
        r, zg, sl = rows[go], z[go], slot[go]
        s_i, l0, b0 = owner.td_seasonal[r, sl], owner.td_level[r] + 0.0, owner.td_trend[r] + 0.0
        a = owner.alpha
        g = np.maximum(owner.gamma, 1.0 / (n[go] // m + 1))
        level = a * (zg - s_i) + (1.0 - a) * (l0 + PHI * b0)
        owner.td_trend[r] = BETA * (level - l0) + (1.0 - BETA) * PHI * b0
        owner.td_level[r] = level
        owner.td_seasonal[r, sl] = g * (zg - l0 - PHI * b0) + (1.0 - g) * s_i


def trend_path(owner: Any, rows: np.ndarray, n: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``(rows, h)`` forecasts (``at``: the flat ``(row, slot)`` of each step ahead; ``n``:
    values learnt)."""
    h, m = at.shape[1], owner.season
    s = np.where((n < m)[:, None], 0.0, owner.td_seasonal.reshape(-1)[at])
    damp = np.cumsum(PHI ** np.arange(1, h + 1))
    z = owner.td_level[rows][:, None] + damp * owner.td_trend[rows][:, None] + s
    return from_log(z, n)
