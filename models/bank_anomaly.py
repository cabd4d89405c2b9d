"""Anomaly scoring of closed buckets for many rows at once: a count-aware tail test per bucket
and a two-sided CUSUM for level shifts, as array operations.

:meth:`DetectorBank.observe` takes the actuals and what was expected of them (the point
forecast and the 80% / 95% bounds of the forecast made before learning them) and returns a
:class:`Checks`: the score of every row, and ``kind``/``severity``/``alert`` of the rows worth
an alert. The rules:

* **Count-aware tails.** Each row keeps an exponentially weighted mean of its squared
  forecast errors (``var``, winsorised at ``clip`` standard deviations so an anomaly does not
  hide the next one). A closed value is judged against a negative binomial with the forecast
  as its mean and ``max(var, mean)`` as its variance (Poisson when the errors are no wider
  than a count's): a sparse SKU whose sales come in lumps has a wide, heavy tail, so its next
  lump is not news, while a busy, steady SKU selling nothing is.
* **Spike or drop**: outside the 95% band, tail probability below ``p_alert`` (``1e-5``) for
  a spike or ``p_drop`` (``1e-5``) for a drop (``critical`` below ``p_critical``, ``1e-9``),
  at least ``min_abs`` units from the forecast, at least ``z_log`` (3) standard deviations
  away on the log1p scale (an exponentially weighted one, ``lvar``: a lumpy series' errors
  are multiplicative), and after ``warmup`` buckets and ``warmup // 2`` errors seen.
* **Level shift**: a two-sided CUSUM of the log1p-scale standardised errors (clipped at
  ``clip``, reference ``cusum_k``, threshold ``cusum_h`` 7.5) crosses its threshold; it
  restarts then. A level shift takes precedence over a spike or drop of the same bucket.
* **Gates** (where the caller gives the row's recent values, as the worker's stack does: the
  last 56): a spike needs a series that sold in at least ``min_share`` (20%) of its recent
  buckets and, unless it sold in ``steady`` (90%) of them, a value at least ``record`` (2)
  times its largest recent value plus ``min_abs``; a level shift needs ``shift_share``
  (60%). On Online Retail II a wholesale SKU that sells in lumps beats its 8-week best by 2x
  on about 3 days in 1,000, and the errors of a SKU that sells one day in five wander like
  level shifts: the gates keep such SKUs' feeds quiet (their drops still count).
* ``score`` is the distance from the point forecast in units of the 95% band's half-width
  (at least one unit), signed (positive above).

Defaults were chosen on the synthetic panel (seed 0) and on 800 SKUs of Online Retail II
drawn with seed 5 plus its ``tuning_top`` panel (:mod:`models.evaluation.anomaly_eval`).

The state is five numbers per row. The tail is only computed for the few rows outside the
95% band (scipy's ``nbinom``/``poisson``).

>>> import numpy as np
>>> d = DetectorBank(warmup=0)
>>> rows = d.add(2)
>>> e = [np.array([10.0, 10.0]), np.array([7.0, 7.0]), np.array([13.0, 13.0]),
...      np.array([5.0, 5.0]), np.array([15.0, 15.0])]
>>> c = d.observe(rows, np.array([12.0, 80.0]), *e, n_seen=np.array([100, 100]))
>>> [KINDS[k] for k in c.kind], c.alert.tolist(), c.score.round(1).tolist()
([None, 'spike'], [False, True], [0.4, 14.0])
>>> SEVERITIES[c.severity[1]]
'critical'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from models.anomaly import Expected, Finding
from models.bank_ops import grow

__all__ = ["Checks", "DetectorBank", "OneDetector", "KINDS", "SEVERITIES", "MIN_HALF_WIDTH",
           "count_tail", "spread_checks"]

#: rows -> (their largest recent value, the share of their recent values above 0)
Recent = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
KINDS: tuple[str | None, ...] = (None, "spike", "drop", "level_shift")  # kind codes
SEVERITIES = ("info", "warning", "critical")  # severity codes
MIN_HALF_WIDTH = 1.0  # the 95% half-width a score is measured in, at least one unit


def count_tail(actual: np.ndarray, mean: np.ndarray, var: np.ndarray,
               upper: np.ndarray) -> np.ndarray:
    """Tail probability of a count with ``mean`` and ``var`` (negative binomial; Poisson where
    ``var <= mean``): ``P(Y >= actual)`` where ``upper``, else ``P(Y <= actual)``.

    >>> import numpy as np
    >>> one = lambda *a: float(count_tail(*(np.array([x]) for x in a))[0])
    >>> round(one(0, 10.0, 10.0, False), 6)  # Poisson: a day of no sales expecting 10
    4.5e-05
    >>> round(one(0, 10.0, 100.0, False), 3)  # lumpy sales: a quiet day is common
    0.077
    >>> one(30, 2.0, 2.0, True) < 1e-15, one(30, 2.0, 400.0, True) > 0.01
    (True, True)
    """
    mu = np.maximum(np.asarray(mean, dtype=np.float64), 1e-3)
    v = np.asarray(var, dtype=np.float64)
    y = np.maximum(np.asarray(actual, dtype=np.float64), 0.0)
    k = np.where(upper, np.ceil(y) - 1.0, np.floor(y))
    over = v > mu * 1.0001
    out = np.empty(len(mu))
    if over.any():
        m, s2 = mu[over], v[over]
        r = m * m / (s2 - m)
        dist = stats.nbinom(r, r / (r + m))
        out[over] = np.where(upper[over], dist.sf(k[over]), dist.cdf(k[over]))
    if (~over).any():
        dist = stats.poisson(mu[~over])
        out[~over] = np.where(upper[~over], dist.sf(k[~over]), dist.cdf(k[~over]))
    return np.where(upper & (y <= 0), 1.0, out)


@dataclass(frozen=True, slots=True)
class Checks:
    """The anomaly check of one closed value per row (arrays over the checked rows).

    ``checked``: the row had a forecast to check against (else every other field is 0);
    ``yhat``/``lo``/``hi``/``lo95``/``hi95``: what was expected; ``score``: distance from
    ``yhat`` in 95% half-widths (signed); ``kind``/``severity``: codes into :data:`KINDS` /
    :data:`SEVERITIES` of the alert-worthy result (``kind == 0``: none); ``alert``: whether
    to raise it; ``p``: the tail probability of the value (1 where it was not computed).
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
    p: np.ndarray

    @property
    def half_width(self) -> np.ndarray:
        return np.maximum((self.hi95 - self.lo95) / 2.0, MIN_HALF_WIDTH)


class DetectorBank:
    """Per-row anomaly detectors; see the module docstring for the rules and parameters."""

    var: np.ndarray
    lvar: np.ndarray
    n_err: np.ndarray
    cus_up: np.ndarray
    cus_down: np.ndarray

    _FIELDS = ("var", "lvar", "n_err", "cus_up", "cus_down")

    def __init__(self, warmup: int = 14, min_abs: float = 3.0, p_alert: float = 1e-5,
                 p_critical: float = 1e-9, alpha: float = 0.05, clip: float = 3.0,
                 cusum_k: float = 0.5, cusum_h: float = 7.5, z_log: float = 3.0,
                 record: float = 2.0, min_share: float = 0.2, shift_share: float = 0.6,
                 steady: float = 0.9, p_drop: float = 1e-5) -> None:
        self.warmup, self.min_abs = warmup, min_abs
        self.p_alert, self.p_critical = p_alert, p_critical
        self.alpha, self.clip = alpha, clip
        self.cusum_k, self.cusum_h, self.z_log = cusum_k, cusum_h, z_log
        self.record, self.min_share, self.shift_share = record, min_share, shift_share
        self.steady, self.p_drop = steady, p_drop
        self.capacity = self.n_rows = 0
        self._shapes: dict[str, tuple[tuple[int, ...], Any]] = {
            name: ((), np.float64) for name in self._FIELDS}
        for name in self._FIELDS:
            setattr(self, name, np.zeros(0))

    def add(self, n: int) -> np.ndarray:
        rows = grow(self, self._shapes, self.n_rows, n)
        self.n_rows += n
        return rows

    def state_arrays(self) -> list[np.ndarray]:
        """The row arrays a row's exported state is made of, in order."""
        return [getattr(self, name) for name in self._FIELDS]

    def nbytes(self) -> int:
        return 8 * len(self._FIELDS)

    #: the size of a row of the detector before the count-aware rules (a Page-Hinkley test)
    LEGACY_BYTES = 48

    def load(self, row: int, raw: bytes) -> None:
        """Row ``row`` from its exported bytes; a legacy row starts afresh."""
        fresh = len(raw) != self.nbytes()
        for name, v in zip(self._FIELDS, np.zeros(len(self._FIELDS)) if fresh
                           else np.frombuffer(raw, dtype=np.float64), strict=True):
            getattr(self, name)[row] = v

    def observe(self, rows: np.ndarray, actual: np.ndarray, yhat: np.ndarray, lo: np.ndarray,
                hi: np.ndarray, lo95: np.ndarray, hi95: np.ndarray, n_seen: np.ndarray,
                recent: Recent | None = None) -> Checks:
        """Score ``actual`` against what was expected, then learn its error. ``recent`` gives
        the largest of the rows' recent values and the share of them that sold (the record
        and regularity gates; without it, no gate)."""
        ok = np.isfinite(actual) & np.isfinite(yhat) & np.isfinite(lo95) & np.isfinite(hi95)
        a = np.where(ok, actual, 0.0)
        mu = np.where(ok, np.maximum(yhat, 0.0), 0.0)
        half = np.maximum((hi95 - lo95) / 2.0, MIN_HALF_WIDTH)
        dev = a - mu
        seen = self.n_err[rows]
        var = np.where(seen > 0, self.var[rows], np.maximum(mu, (half / 1.96) ** 2))
        s2 = np.maximum(np.maximum(var, mu), 0.25)
        above, below = a > hi, a < lo
        outside95 = ok & ((a > hi95) | (a < lo95)) & (above | below)
        ready = ok & (n_seen >= self.warmup) & (seen >= self.warmup // 2)
        cand = outside95 & ready & (np.abs(dev) >= self.min_abs)
        ldev = np.log1p(np.maximum(a, 0.0)) - np.log1p(mu)
        lvar = np.where(seen > 0, self.lvar[rows], 0.25)
        lz = ldev / np.sqrt(np.maximum(lvar, 0.01))
        p = np.ones(len(rows))
        if cand.any():
            p[cand] = count_tail(a[cand], mu[cand], s2[cand], above[cand])
        alert = cand & (p < np.where(above, self.p_alert, self.p_drop)) & (
            np.abs(lz) >= self.z_log)
        kind = np.where(alert, np.where(above, 1, 2), 0)
        severity = np.where(alert, np.where(p < self.p_critical, 2, 1), 0)
        shift = self._cusum(rows, lz, ready)
        gated = (alert & above) | shift
        if recent is not None and gated.any():
            idx = np.nonzero(gated)[0]
            top, share = recent(rows[idx])
            keep = np.where(shift[idx], share >= self.shift_share, (share >= self.min_share) & (
                (a[idx] >= self.record * top + self.min_abs) | (share >= self.steady)))
            alert[idx[~keep]] = False
            shift[idx[~keep]] = False
            kind = np.where(alert, kind, 0)
        kind = np.where(shift, 3, kind)
        severity = np.where(shift & ~alert, 1, severity)
        alert = alert | shift
        # learn the error, winsorised so that an anomaly does not widen the next test much
        err2 = np.minimum(dev * dev, self.clip ** 2 * s2)
        r = rows[ok]
        first = seen[ok] == 0
        self.var[r] = np.where(first, err2[ok], (1 - self.alpha) * var[ok]
                               + self.alpha * err2[ok])
        lerr2 = np.minimum(ldev * ldev, self.clip ** 2 * np.maximum(lvar, 0.01))
        self.lvar[r] = np.where(first, np.maximum(lerr2[ok], 0.01),
                                (1 - self.alpha) * lvar[ok] + self.alpha * lerr2[ok])
        self.n_err[r] = seen[ok] + 1
        return Checks(ok, yhat, lo, hi, lo95, hi95, np.where(ok, dev / half, 0.0),
                      kind.astype(np.int8), severity.astype(np.int8), alert, p)

    def _cusum(self, rows: np.ndarray, z: np.ndarray, ready: np.ndarray) -> np.ndarray:
        """The two-sided CUSUM of the ready rows; True where it crossed (those restart)."""
        zc = np.clip(np.where(ready, z, 0.0), -self.clip, self.clip)
        k = self.cusum_k
        up = np.where(ready, np.maximum(0.0, self.cus_up[rows] + zc - k), 0.0)
        down = np.where(ready, np.maximum(0.0, self.cus_down[rows] - zc - k), 0.0)
        shift = (up > self.cusum_h) | (down > self.cusum_h)
        self.cus_up[rows] = np.where(shift, 0.0, up)
        self.cus_down[rows] = np.where(shift, 0.0, down)
        return shift


class OneDetector:
    """One series' detector (a one-row :class:`DetectorBank`; picklable), for code that
    scores one series at a time.

    >>> from models.anomaly import Expected
    >>> det = OneDetector(warmup=0)
    >>> det.observe(80.0, Expected(10.0, 7.0, 13.0, 5.0, 15.0), n_seen=100)
    Finding(kind='spike', severity='critical', score=14.0)
    """

    def __init__(self, **params: float) -> None:
        self.bank = DetectorBank(**params)  # type: ignore[arg-type]
        self.row = self.bank.add(1)

    def observe(self, actual: float, e: Expected, n_seen: int,
                recent: tuple[float, float] | None = None) -> Finding | None:
        """The finding of one closed value, or None; learns its error either way.
        ``recent``: the largest recent value and the share that sold (the gates)."""
        def a(v: float) -> np.ndarray:
            return np.array([v])

        gates: Recent | None = None
        if recent is not None:
            def gates(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                return a(recent[0]), a(recent[1])

        c = self.bank.observe(self.row, a(actual), a(e.yhat), a(e.lo), a(e.hi), a(e.lo95),
                              a(e.hi95), np.array([n_seen]), gates)
        if not c.alert[0]:
            return None
        return Finding(str(KINDS[c.kind[0]]), SEVERITIES[c.severity[0]], float(c.score[0]))


def spread_checks(c: Checks, where: np.ndarray) -> Checks:
    """``c`` (checks of the rows where ``where`` is True) spread over all rows, zeros elsewhere
    (``p`` ones)."""
    def z(a: np.ndarray, fill: float = 0.0) -> np.ndarray:
        out = np.full(len(where), fill, dtype=a.dtype)
        out[where] = a
        return out

    return Checks(z(c.checked), z(c.yhat), z(c.lo), z(c.hi), z(c.lo95), z(c.hi95),
                  z(c.score), z(c.kind), z(c.severity), z(c.alert), z(c.p, 1.0))
