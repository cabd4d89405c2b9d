"""Anomaly scoring of a closed bucket against the forecast made for it, plus a level-shift signal.

When a bucket closes, the worker asks :class:`AnomalyDetector` to score its actual against the
forecast the series' model had made *before* learning it (h = 1 for the next bucket, h = k when
several buckets close at once), using that forecast's 80% and 95% conformal bands:

* ``score`` is the distance from the point forecast in units of the 95% band's half-width
  (at least one unit), so ``|score| > 1`` means outside the 95% band; positive above;
* an alert needs the actual outside the 95% band *and* either more than a half-width beyond
  it, or improbable for a count with the forecast as its mean (Poisson tail probability below
  ``1e-4``: this catches a busy SKU selling nothing, whose 95% band often reaches down to 0);
  outside the 95% band alone would alert on ~1 bucket in 40 (measured: precision 0.17);
* severity: ``critical`` when more than twice the half-width beyond the band or the tail
  probability is below ``1e-7``, else ``warning``; outside the 80% band only is ``info``
  (never an alert);
* kind: ``spike`` (above) or ``drop`` (below); and ``level_shift`` when a two-sided
  Page-Hinkley test (:class:`river.drift.PageHinkley`) on the standardised residuals finds a
  lasting change (the detector then restarts).

No alert before the model has seen ``warmup`` buckets, and none on tiny counts: a deviation
of less than ``min_abs`` units never alerts (a SKU forecast at 0.2 selling 2 is not news).
Precision and recall on synthetic injections: :mod:`models.evaluation.anomaly_eval`
(``salescast alerts eval``).

Alert ids are a hash of (series, bucket start, kind): the same bucket scored again after a
worker restart gives the same id, so consumers (and the Redis sink) deduplicate. Nothing in an
alert depends on wall time; ``detected_at`` is the bucket's end (event time).

>>> det = AnomalyDetector()
>>> expect = Expected(yhat=10.0, lo=7.0, hi=13.0, lo95=5.0, hi95=15.0)
>>> det.score(12.0, expect) is None  # inside the 80% band
True
>>> det.score(14.0, expect).severity  # outside 80%, inside 95%: no alert
'info'
>>> det.score(16.0, expect).alert  # just outside 95%, and not improbable for a count
False
>>> s = det.score(40.0, expect)
>>> s.kind, s.severity, round(s.score, 1)
('spike', 'critical', 6.0)
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from river.drift import PageHinkley

__all__ = ["Expected", "Score", "AnomalyDetector", "alert_id", "count_tail", "make_alert",
           "SEVERITIES", "KINDS"]

SEVERITIES = ("info", "warning", "critical")
MIN_HALF_WIDTH = 1.0
KINDS = ("spike", "drop", "level_shift")


@dataclass(frozen=True, slots=True)
class Expected:
    """What the model expected for one bucket: point forecast and its 80% / 95% bands."""

    yhat: float
    lo: float
    hi: float
    lo95: float
    hi95: float

    @property
    def half_width(self) -> float:
        """Half the 95% band, at least one unit: the scale of scores (a band of [0, 0] on a
        SKU that never sells must not make one sale an infinite score)."""
        return max((self.hi95 - self.lo95) / 2.0, MIN_HALF_WIDTH)


@dataclass(frozen=True, slots=True)
class Score:
    """One scored bucket. ``alert`` says whether it is worth an alert (warning or worse)."""

    kind: str
    severity: str
    score: float
    alert: bool


def count_tail(actual: float, mean: float, upper: bool) -> float:
    """Poisson tail probability: ``P(Y >= actual)`` if ``upper`` else ``P(Y <= actual)``.

    >>> round(count_tail(0, 10.0, upper=False), 6)  # a day of no sales expecting 10
    4.5e-05
    >>> count_tail(12, 10.0, upper=True) > 0.2
    True
    """
    mu = max(mean, 1e-3)
    if upper:
        k = math.ceil(actual)
        if k <= 0:
            return 1.0
        term = math.exp(-mu + k * math.log(mu) - math.lgamma(k + 1))  # P(Y = k), then upwards
        total, i = 0.0, k
        while term > 1e-300 and (total == 0.0 or term > total * 1e-12) and i < k + 100_000:
            total += term
            i += 1
            term *= mu / i
        return min(1.0, total)
    k = math.floor(actual)
    if k < 0:
        return 0.0
    term = math.exp(-mu)
    total = term
    for i in range(1, k + 1):
        term *= mu / i
        total += term
    return min(1.0, total)


def alert_id(series: str, bucket: int, kind: str) -> str:
    """A stable id: the same (series, bucket, kind) always gives the same id.

    >>> alert_id("85123A", 1291161600, "spike") == alert_id("85123A", 1291161600, "spike")
    True
    >>> alert_id("85123A", 1291161600, "spike") != alert_id("85123A", 1291161600, "drop")
    True
    """
    raw = f"{series}\x00{bucket}\x00{kind}".encode()
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


class AnomalyDetector:
    """Per-series scorer (kept, pickled, in the series' state).

    >>> det = AnomalyDetector(warmup=0)
    >>> e = Expected(10.0, 8.0, 12.0, 6.0, 14.0)
    >>> kinds = [det.observe(10.0 + (0 if i < 40 else 30), e, n_seen=100) for i in range(60)]
    >>> [k.kind for k in kinds if k is not None and k.kind == "level_shift"][:1]
    ['level_shift']
    """

    def __init__(self, warmup: int = 14, min_abs: float = 3.0,
                 ph_threshold: float = 25.0, ph_delta: float = 0.5) -> None:
        self.warmup, self.min_abs = warmup, min_abs
        self.ph_threshold, self.ph_delta = ph_threshold, ph_delta
        self._ph = self._new_ph()

    def _new_ph(self) -> PageHinkley:
        return PageHinkley(min_instances=7, delta=self.ph_delta, threshold=self.ph_threshold,
                           mode="both")

    def score(self, actual: float, e: Expected) -> Score | None:
        """Score ``actual`` against ``e`` (pure: the level-shift test is not touched).

        ``None`` when the actual is inside the 80% band.
        """
        half = e.half_width
        z = (actual - e.yhat) / half
        above, below = actual > e.hi, actual < e.lo
        if not (above or below):
            return None
        kind = "spike" if above else "drop"
        outside95 = actual > e.hi95 or actual < e.lo95
        if not outside95:
            return Score(kind, "info", z, False)
        beyond = actual - e.hi95 if above else e.lo95 - actual
        p = count_tail(actual, e.yhat, upper=above)
        if not (beyond >= half or p < 1e-4):
            return Score(kind, "info", z, False)
        severity = "critical" if beyond >= 2 * half or p < 1e-7 else "warning"
        big_enough = abs(actual - e.yhat) >= self.min_abs
        return Score(kind, severity, z, big_enough)

    def observe(self, actual: float, e: Expected, n_seen: int) -> Score | None:
        """Score the bucket and feed the level-shift test; the alert-worthy result or None.

        A level shift takes precedence over a spike/drop of the same bucket.
        """
        if not all(math.isfinite(v) for v in (actual, e.yhat, e.lo95, e.hi95)):
            return None
        s = self.score(actual, e)
        half = e.half_width
        self._ph.update(max(-10.0, min(10.0, (actual - e.yhat) / half)))
        if self._ph.drift_detected:
            self._ph = self._new_ph()
            if n_seen >= self.warmup and abs(actual - e.yhat) >= self.min_abs:
                return Score("level_shift", "warning", (actual - e.yhat) / half, True)
        if s is None or not s.alert or n_seen < self.warmup:
            return None
        return s


def make_alert(series: str, bucket: int, bucket_end: int, actual: float, e: Expected,
               s: Score, model_version: str) -> dict[str, Any]:
    """The JSON-ready alert (schema in the README's protocol section)."""
    return {
        "id": alert_id(series, bucket, s.kind),
        "series": series,
        "bucket": bucket,
        "bucket_end": bucket_end,
        "actual": actual,
        "expected": round(e.yhat, 4),
        "lo": round(e.lo, 4),
        "hi": round(e.hi, 4),
        "lo95": round(e.lo95, 4),
        "hi95": round(e.hi95, 4),
        "score": round(s.score, 3),
        "severity": s.severity,
        "kind": s.kind,
        "model_version": model_version,
        "detected_at": bucket_end,
    }
