"""Anomaly scoring of closed buckets for many rows at once: :class:`~models.anomaly.AnomalyDetector`
(score, severity, the Poisson tail, the two-sided Page-Hinkley level-shift test) as arrays.

:meth:`DetectorBank.observe` takes the actuals and the expected values (point forecast and the
80% / 95% bounds of the forecast made before learning them) of many rows and returns a
:class:`Checks`: the score of every row, and ``kind``/``severity``/``alert`` where the
per-object ``observe`` returns a :class:`~models.anomaly.Score` (``kind`` 0 where it returns
None). The Page-Hinkley state is six numbers per row. The Poisson tail is only computed for the
few rows outside the 95% band whose distance alone does not decide (with the per-object
:func:`~models.anomaly.count_tail`).

>>> import numpy as np
>>> d = DetectorBank()
>>> rows = d.add(2)
>>> e = [np.array([10.0, 10.0]), np.array([7.0, 7.0]), np.array([13.0, 13.0]),
...      np.array([5.0, 5.0]), np.array([15.0, 15.0])]
>>> c = d.observe(rows, np.array([12.0, 40.0]), *e, n_seen=np.array([100, 100]))
>>> [KINDS[k] for k in c.kind], c.alert.tolist(), c.score.round(1).tolist()
([None, 'spike'], [False, True], [0.4, 6.0])
>>> SEVERITIES[c.severity[1]]
'critical'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.anomaly import MIN_HALF_WIDTH, count_tail
from models.bank_ops import grow

__all__ = ["Checks", "DetectorBank", "KINDS", "SEVERITIES", "spread_checks"]

KINDS: tuple[str | None, ...] = (None, "spike", "drop", "level_shift")  # kind codes
SEVERITIES = ("info", "warning", "critical")  # severity codes


@dataclass(frozen=True, slots=True)
class Checks:
    """The anomaly check of one closed value per row (arrays over the checked rows).

    ``checked``: the row had a forecast to check against (else every other field is 0);
    ``yhat``/``lo``/``hi``/``lo95``/``hi95``: what was expected; ``score``: distance from
    ``yhat`` in 95% half-widths (signed); ``kind``/``severity``: codes into :data:`KINDS` /
    :data:`SEVERITIES` of the alert-worthy result (``kind == 0``: none); ``alert``: whether
    to raise it.
    """

    checked: np.ndarray
    yhat: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    lo95: np.ndarray
    hi95: np.ndarray
    score: np.ndarray
    kind: np.ndarray
    severity: np.ndarray
    alert: np.ndarray

    @property
    def half_width(self) -> np.ndarray:
        return np.maximum((self.hi95 - self.lo95) / 2.0, MIN_HALF_WIDTH)


class DetectorBank:
    """Per-row anomaly detectors (the parameters of :class:`~models.anomaly.AnomalyDetector`)."""

    ph_n: np.ndarray
    ph_mean: np.ndarray
    ph_inc: np.ndarray
    ph_dec: np.ndarray
    ph_min: np.ndarray
    ph_max: np.ndarray

    _FIELDS = ("ph_n", "ph_mean", "ph_inc", "ph_dec", "ph_min", "ph_max")

    def __init__(self, warmup: int = 14, min_abs: float = 3.0, ph_threshold: float = 25.0,
                 ph_delta: float = 0.5, ph_min_instances: int = 7,
                 ph_alpha: float = 1 - 0.0001) -> None:
        self.warmup, self.min_abs = warmup, min_abs
        self.ph_threshold, self.ph_delta = ph_threshold, ph_delta
        self.ph_min_instances, self.ph_alpha = ph_min_instances, ph_alpha
        self.capacity = self.n_rows = 0
        for name in self._FIELDS:
            setattr(self, name, np.zeros(0))

    def add(self, n: int) -> np.ndarray:
        rows = grow(self, {name: ((), np.float64) for name in self._FIELDS}, self.n_rows, n)
        self._reset(rows)
        self.n_rows += n
        return rows

    def _reset(self, rows: np.ndarray) -> None:
        """A fresh Page-Hinkley test (river's initial state)."""
        self.ph_n[rows] = self.ph_mean[rows] = self.ph_inc[rows] = self.ph_dec[rows] = 0.0
        self.ph_min[rows], self.ph_max[rows] = np.inf, -1.0

    def state_arrays(self) -> list[np.ndarray]:
        """The row arrays a row's exported state is made of, in order."""
        return [getattr(self, name) for name in self._FIELDS]

    def load(self, row: int, raw: bytes) -> None:
        for name, v in zip(self._FIELDS, np.frombuffer(raw, dtype=np.float64), strict=True):
            getattr(self, name)[row] = v

    def observe(self, rows: np.ndarray, actual: np.ndarray, yhat: np.ndarray, lo: np.ndarray,
                hi: np.ndarray, lo95: np.ndarray, hi95: np.ndarray,
                n_seen: np.ndarray) -> Checks:
        """Score ``actual`` against what was expected and feed the level-shift test."""
        ok = np.isfinite(actual) & np.isfinite(yhat) & np.isfinite(lo95) & np.isfinite(hi95)
        half = np.maximum((hi95 - lo95) / 2.0, MIN_HALF_WIDTH)
        dev = actual - yhat
        z = dev / half
        above, below = actual > hi, actual < lo
        outside95 = (actual > hi95) | (actual < lo95)
        beyond = np.where(above, actual - hi95, lo95 - actual)
        strong = outside95 & (above | below)
        p = np.ones(len(rows))  # the Poisson tail, only where distance alone does not decide
        for j in np.nonzero(strong & ok & (beyond < 2 * half))[0]:
            p[j] = count_tail(float(actual[j]), float(yhat[j]), upper=bool(above[j]))
        worthy = strong & ((beyond >= half) | (p < 1e-4))
        severity = np.where(worthy & ((beyond >= 2 * half) | (p < 1e-7)), 2, 1)
        alert = worthy & (np.abs(dev) >= self.min_abs) & (n_seen >= self.warmup) & ok
        kind = np.where(alert, np.where(above, 1, 2), 0)
        drift = self._page_hinkley(rows[ok], np.clip(z[ok], -10.0, 10.0))
        shift = np.zeros(len(rows), dtype=bool)
        shift[np.nonzero(ok)[0][drift]] = True
        shifted = shift & (n_seen >= self.warmup) & (np.abs(dev) >= self.min_abs)
        kind = np.where(shifted, 3, kind)
        severity = np.where(shifted, 1, np.where(kind > 0, severity, 0))
        alert = alert | shifted
        return Checks(ok, yhat, lo, hi, lo95, hi95, np.where(ok, z, 0.0), kind.astype(np.int8),
                      severity.astype(np.int8), alert)

    def _page_hinkley(self, rows: np.ndarray, x: np.ndarray) -> np.ndarray:
        """river's two-sided ``PageHinkley.update`` per row; True where a drift was detected
        (those rows restart, as the per-object detector replaces its test)."""
        n = self.ph_n[rows] + 1.0
        mean = self.ph_mean[rows]
        mean = mean + (1.0 / n) * (x - mean)
        dev = x - mean
        a, d = self.ph_alpha, self.ph_delta
        inc = a * self.ph_inc[rows] + dev - d
        dec = a * self.ph_dec[rows] + dev + d
        mn = np.where(inc < self.ph_min[rows], inc, self.ph_min[rows])
        mx = np.where(dec > self.ph_max[rows], dec, self.ph_max[rows])
        drift = (n >= self.ph_min_instances) & (
            (inc - mn > self.ph_threshold) | (mx - dec > self.ph_threshold))
        self.ph_n[rows], self.ph_mean[rows] = n, mean
        self.ph_inc[rows], self.ph_dec[rows] = inc, dec
        self.ph_min[rows], self.ph_max[rows] = mn, mx
        self._reset(rows[drift])
        return drift


def spread_checks(c: Checks, where: np.ndarray) -> Checks:
    """``c`` (checks of the rows where ``where`` is True) spread over all rows, zeros elsewhere."""
    def z(a: np.ndarray) -> np.ndarray:
        out = np.zeros(len(where), dtype=a.dtype)
        out[where] = a
        return out

    return Checks(z(c.checked), z(c.yhat), z(c.lo), z(c.hi), z(c.lo95), z(c.hi95),
                  z(c.score), z(c.kind), z(c.severity), z(c.alert))
