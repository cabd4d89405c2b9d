"""The default ensemble's members for many rows at once: seasonal naive, rolling medians,
Holt-Winters on log1p and the seasonal median (and, by the bucket width, a second season's
naive and median or a damped-trend Holt-Winters: :mod:`models.bank_trend`), as array
operations (one row per series).

Each member keeps what the per-object class keeps (:class:`~models.baselines.SeasonalNaive`,
:class:`~models.baselines.RollingMedian`, :class:`~models.online.HoltWintersLog1p`,
:class:`~models.baselines.SeasonalMedian`) in arrays
and computes the same numbers with the same operations in the same order, so the paths are
equal to the per-object ones. Holt-Winters needs ``season >= 2`` here (the default is 7).

With ``season2`` (a second, longer season: :func:`~models.seasons.season2_for`, hourly
buckets' week of 168) two last members are the second season's naive and the median of each
of its slots over the last ``cycles2`` cycles. They have no per-object twins;
tests/unit/models/test_bank_members.py checks them against their slot-by-slot definition.

No path goes above :data:`PATH_CAP` times the largest value of the row's longest window (when
that is above 0). Holt-Winters' seasonal start takes the first season's deviations from its
mean for seasonal terms, so a series that starts with zeros and then sells (a launch) gets
terms of +-4 on log1p, and the two Holt-Winters members then forecast sales of 1,000 a month
as 1e5 and 2e6 (found by a probe). On the backtest panels the cap binds at 0.04% of the
monthly tuning panel's origins and 0.4% of PBS's, never on the daily ones, and moves no
score by more than 0.004 (docs/backtest.md).

>>> import numpy as np
>>> m = MemberBank(season=3, windows=(3,), horizon=4, cycles=2)
>>> rows = m.add(1)
>>> for n, y in enumerate([1.0, 100.0, 2.0, 3.0]):
...     m.learn(rows, np.array([y]), np.array([n]))
>>> m.paths(rows, np.array([4]))[0].round(2).tolist()  # naive, median(3), HW, seasonal median
[[100.0, 2.0, 3.0, 100.0], [3.0, 3.0, 3.0, 3.0], [115.02, 2.45, 2.25, 115.02], \
[100.0, 2.0, 2.0, 100.0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models import bank_trend
from models.bank_ops import from_log, grow, load_fields, start_season, state_nbytes
from models.factory import MEDIAN_SHARE, SEASON_CYCLES
from models.kernels import path_cap, season_learn, second_season_paths
from models.orderstat import invalidate, push, rows_index, select

__all__ = ["MemberBank", "PATH_CAP", "SEASON2_CYCLES"]

#: the cycles of the second (weekly) season that its slot median looks back over: four
#: weeks, half of SEASON_CYCLES, for memory (hourly: 168 values a cycle; docs/backtest.md)
SEASON2_CYCLES = 4
#: no member's forecast is above this many times the largest value of the row's longest window
PATH_CAP = 3.0


class MemberBank:
    """Seasonal naive, one rolling median per window, Holt-Winters log1p, the seasonal
    median over ``cycles`` seasons and, with ``season2``, that season's naive and median,
    with ``trend``, the damped-trend Holt-Winters: ``paths`` gives ``(rows, members,
    horizon)`` in that order."""

    naive: np.ndarray
    hw_level: np.ndarray
    hw_seasonal: np.ndarray
    hw_sum: np.ndarray
    smed: np.ndarray
    smed_q: np.ndarray
    naive2: np.ndarray
    smed2: np.ndarray
    smed2_q: np.ndarray

    def __init__(self, season: int = 7, windows: Sequence[int] = (14, 28, 56),
                 horizon: int = 14, alpha: float = 0.2, gamma: float = 0.1,
                 cycles: int = SEASON_CYCLES, season2: int = 0,
                 cycles2: int = SEASON2_CYCLES, trend: bool = False) -> None:
        if type(season) is not int or season < 2:
            raise ValueError(f"season must be an integer >= 2, got {season!r}")
        if type(cycles) is not int or cycles < 0:
            raise ValueError(f"cycles must be an integer >= 0, got {cycles!r}")
        if type(season2) is not int or season2 < 0 or 0 < season2 <= season:
            raise ValueError(f"season2 must be 0 (none) or an integer > season ({season}), "
                             f"got {season2!r}")
        if type(cycles2) is not int or cycles2 < 1:
            raise ValueError(f"cycles2 must be an integer >= 1, got {cycles2!r}")
        self.season, self.windows, self.horizon = season, tuple(windows), horizon
        self.alpha, self.gamma, self.cycles = alpha, gamma, cycles  # 0: no seasonal median
        self.season2, self.cycles2 = season2, cycles2  # 0: no second season's members
        self.trend = bool(trend)  # the damped-trend Holt-Winters, last (models.bank_trend)
        self.n_members = len(self.windows) + 2 + (cycles > 0) + 2 * (season2 > 0) + self.trend
        # each member's share of the ensemble's weights (HorizonEnsemble's ``shares``)
        # (with the trend member: models.bank_trend.SHARES, the medians' and its own)
        med, top = bank_trend.SHARES if self.trend else (MEDIAN_SHARE, 1.0)
        self.share = np.array([1.0, *[med] * len(self.windows), 1.0, *[med] * (cycles > 0),
                               *[1.0, med] * (season2 > 0), *[top] * self.trend])
        # _cycle[s, k] = (s + k) % season: the seasonal slot k + 1 steps after slot s - 1
        self._cycle = (np.arange(season)[:, None] + np.arange(horizon)) % season
        self.capacity = self.n_rows = 0
        self._shapes: dict[str, tuple[tuple[int, ...], type]] = {
            "naive": ((season,), np.float64),
            "hw_level": ((), np.float64), "hw_seasonal": ((season,), np.float64),
            "hw_sum": ((), np.float64),
        }
        if cycles:  # the seasonal median's values: slot s of cycle c at [s, c % cycles], NaN: none
            self._shapes["smed"] = ((season, cycles), np.float64)
            self._shapes["smed_q"] = ((season,), np.float64)  # each slot's median (derived)
        if season2:  # the second season's last cycle and its slot medians over cycles2 cycles
            self._shapes["naive2"] = ((season2,), np.float64)
            self._shapes["smed2"] = ((season2, cycles2), np.float64)
            self._shapes["smed2_q"] = ((season2,), np.float64)
        if trend:
            self._shapes |= bank_trend.shapes(season)
        for i, w in enumerate(self.windows):
            self._shapes |= {f"med{i}": ((w,), np.float64), f"med{i}_ptr": ((), np.int64),
                             f"med{i}_q": ((2,), np.float64), f"med{i}_lt": ((2,), np.int32),
                             f"med{i}_le": ((2,), np.int32)}
        for name, (shape, dt) in self._shapes.items():
            setattr(self, name, np.zeros((0, *shape), dtype=dt))

    def add(self, n: int) -> np.ndarray:
        rows = grow(self, self._shapes, self.n_rows, n)
        if self.cycles:
            self.smed[rows], self.smed_q[rows] = np.nan, np.nan
        if self.season2:
            self.smed2[rows], self.smed2_q[rows] = np.nan, np.nan
        for i, w in enumerate(self.windows):
            getattr(self, f"med{i}")[rows] = np.inf
            getattr(self, f"med{i}_q")[rows] = np.inf
            getattr(self, f"med{i}_le")[rows] = w
        self.n_rows += n
        return rows

    def _state(self) -> list[str]:
        return [n for n in self._shapes if not n.endswith(("_q", "_lt", "_le"))]

    def state_arrays(self) -> list[np.ndarray]:
        """The row arrays a row's exported state is made of, in order."""
        return [getattr(self, name) for name in self._state()]

    def nbytes(self) -> int:
        return state_nbytes(self._shapes, self._state())

    def load(self, row: int, raw: bytes) -> None:
        load_fields(self, self._shapes, self._state(), row, raw)
        self.derive(np.array([row]))

    def derive(self, rows: np.ndarray) -> None:
        """Recompute what ``rows`` keep derived from their state (after a load)."""
        for i in range(len(self.windows)):
            invalidate(getattr(self, f"med{i}_q"), getattr(self, f"med{i}_lt"),
                       getattr(self, f"med{i}_le"), rows)
        if self.cycles:
            self.smed_q[rows] = _slot_median(self.smed[rows])
        if self.season2:
            self.smed2_q[rows] = _slot_median(self.smed2[rows])

    def learn(self, rows: np.ndarray, y: np.ndarray, n: np.ndarray) -> None:
        """Learn ``y`` (one value per row); ``n``: values each row learnt before it."""
        m = self.season
        r64, y64 = np.asarray(rows, dtype=np.int64), np.asarray(y, dtype=np.float64)
        n64 = np.asarray(n, dtype=np.int64)
        if self.cycles:  # seasonal naive's slot, the seasonal median's values and median
            season_learn(self.naive, self.smed, self.smed_q, r64, y64, n64)
        else:
            self.naive.reshape(-1)[rows * m + n % m] = y
        if self.season2:
            season_learn(self.naive2, self.smed2, self.smed2_q, r64, y64, n64)
        for i in range(len(self.windows)):
            push(getattr(self, f"med{i}"), getattr(self, f"med{i}_ptr"),
                 getattr(self, f"med{i}_q"), getattr(self, f"med{i}_lt"),
                 getattr(self, f"med{i}_le"), rows, y)
        z = np.where(y > 0.0, np.log1p(np.maximum(y, 0.0)), 0.0)
        self._learn_hw(rows, z, n)
        if self.trend:
            bank_trend.learn_trend(self, rows, z, n)

    def recent(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The largest of each row's values in its longest window, and the share above 0."""
        w = getattr(self, f"med{len(self.windows) - 1}")[rows]
        known = np.isfinite(w)
        top = np.where(known, w, -np.inf).max(axis=1)
        share = (known & (w > 0)).sum(axis=1) / np.maximum(known.sum(axis=1), 1)
        return np.where(np.isfinite(top), top, 0.0), share

    def _learn_hw(self, rows: np.ndarray, z: np.ndarray, n: np.ndarray) -> None:
        m, slot = self.season, n % self.season
        init = n < m
        if init.any():  # the first `season` values: level = their running mean
            start_season(self.hw_level, self.hw_seasonal, self.hw_sum, rows[init], z[init],
                         n[init], m)
        go = ~init
        if go.any():
            r, zg, sl = rows[go], z[go], slot[go]
            s_i, prev = self.hw_seasonal[r, sl], self.hw_level[r] + 0.0
            a = self.alpha  # the seasonal step: the mean of the cycles until 1 / gamma
            g = np.maximum(self.gamma, 1.0 / (n[go] // m + 1))
            self.hw_level[r] = a * (zg - s_i) + (1.0 - a) * prev
            self.hw_seasonal[r, sl] = g * (zg - prev) + (1.0 - g) * s_i

    def _median(self, rows: np.ndarray, i: int, n: np.ndarray) -> np.ndarray:
        w = self.windows[i]
        cnt = np.minimum(n, w)
        rank = np.stack([np.maximum(cnt - 1, 0) // 2, cnt // 2], axis=1)
        qq = select(getattr(self, f"med{i}"), getattr(self, f"med{i}_q"),
                    getattr(self, f"med{i}_lt"), getattr(self, f"med{i}_le"), rows, rank)
        lo, hi = qq[:, 0], qq[:, 1]
        med = np.where(cnt % 2 == 1, hi, (lo + hi) / 2)
        return np.where(cnt == 0, 0.0, med)

    def paths(self, rows: np.ndarray, n: np.ndarray) -> np.ndarray:
        """``(rows, members, horizon)`` forecasts; ``n``: values learnt (including the last)."""
        h, m = self.horizon, self.season
        out = np.empty((len(rows), self.n_members, h))
        at = (rows * m)[:, None] + self._cycle[n % m]  # flat (row, slot) of k + 1 steps ahead
        full = bool(len(n)) and int(n.min()) >= m
        naive = self.naive.reshape(-1)[at]
        if not full:
            last = np.where(n > 0, self.naive.reshape(-1)[rows * m + (n - 1) % m], 0.0)
            naive = np.where((n >= m)[:, None], naive, last[:, None])
        out[:, 0] = naive
        for i in range(len(self.windows)):
            out[:, 1 + i] = self._median(rows, i, n)[:, None]
        s = self.hw_seasonal.reshape(-1)[at]
        if not full:
            s = np.where((n < m)[:, None], 0.0, s)
        z = self.hw_level[rows_index(rows)][:, None] + s
        out[:, 1 + len(self.windows)] = from_log(z, None if full else n)
        if self.cycles:
            out[:, 2 + len(self.windows)] = self._seasonal_median(rows, n, at)
        if self.season2:  # until a whole second season was learnt, its naive is the first's;
            # a slot with no value yet takes the first season's median (or naive) there
            second_season_paths(out, self.naive2, self.smed2_q, np.asarray(rows, dtype=np.int64),
                                np.asarray(n, dtype=np.int64),
                                2 + len(self.windows) if self.cycles else 0,
                                2 + len(self.windows) + (self.cycles > 0))
        if self.trend:
            out[:, -1] = bank_trend.trend_path(self, rows, n, at)
        cap = np.empty(len(out))  # PATH_CAP times the longest window's largest value
        path_cap(getattr(self, f"med{len(self.windows) - 1}"), np.asarray(rows, dtype=np.int64),
                 PATH_CAP, cap)
        np.minimum(out, cap[:, None, None], out=out)
        return out

    def _seasonal_median(self, rows: np.ndarray, n: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Each horizon's slot median (``at``: flat ``(row, slot)``); a slot with no value
        yet: the last value (0 before any)."""
        m = self.season
        picked = self.smed_q.reshape(-1)[at]
        last = np.where(n > 0, self.naive.reshape(-1)[rows * m + (n - 1) % m], 0.0)
        return np.where(np.isfinite(picked), picked, last[:, None])


def _slot_median(values: np.ndarray) -> np.ndarray:
    """The median over the last axis of ``values``, NaN for none there (NaN: no value), as
    ``baselines.median_of_sorted`` computes it."""
    ranked = np.sort(values, axis=-1)  # NaN last
    cnt = np.isfinite(ranked).sum(axis=-1)
    lo = np.take_along_axis(ranked, (np.maximum(cnt - 1, 0) // 2)[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(ranked, (cnt // 2)[..., None], axis=-1)[..., 0]
    return np.where(cnt % 2 == 1, hi, (lo + hi) / 2)
