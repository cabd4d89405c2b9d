"""Forecast accuracy metrics for intermittent sales: scaled errors, bias, sMAPE, intervals.

Retail SKU series are mostly zeros, so percentage errors are undefined or explode; the
headline metrics are scaled by the in-sample error of seasonal naive (Hyndman & Koehler 2006;
M5 for RMSSE)::

    MASE  = mean |y - yhat|       / mean_t |y_t - y_{t-m}|
    RMSSE = sqrt(mean (y - yhat)^2 / mean_t (y_t - y_{t-m})^2)

* :func:`mae`, :func:`rmse`, :func:`bias` (mean of ``yhat - y``: > 0 over-forecasts).
* :func:`smape` in percent, over the non-zero actuals only (``None`` if there are none).
* :func:`snaive_scale`: the denominators above (``power`` 1 or 2); ``None`` when undefined.
  :func:`snaive_scales`: the MASE denominator of every prefix of a series, the *in-sample*
  scale of each forecast origin as the M4/M5 competitions use it (the history up to the
  origin only, not the whole series).
* :func:`coverage` (share of actuals inside ``[lo, hi]``) and :func:`width` (mean ``hi - lo``).
* :class:`Tally`: the same sums accumulated online, one per model and series, split by horizon.

>>> y, yhat = [0.0, 2.0, 4.0, 0.0], [1.0, 2.0, 2.0, 0.0]
>>> mae(y, yhat), rmse(y, yhat), bias(y, yhat), round(smape(y, yhat), 2)
(0.75, 1.118033988749895, -0.25, 33.33)
>>> history = [0, 0, 1, 2, 0, 3, 0, 1, 0, 1]  # season 7: |1-0|, |0-0|, |1-1|
>>> snaive_scale(history, season=7), round(mase(y, yhat, snaive_scale(history, 7)), 3)
(0.3333333333333333, 2.25)
>>> snaive_scales(history, season=7)[9:]  # the history before t = 9, then all of it
[0.5, 0.3333333333333333]
>>> coverage([1, 5, 9], [0, 0, 0], [2, 4, 10]), width([0, 0], [2, 4])
(0.6666666666666666, 3.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "Tally",
    "bias",
    "coverage",
    "mae",
    "mase",
    "rmse",
    "rmsse",
    "smape",
    "snaive_scale",
    "snaive_scales",
    "width",
]


def _pairs(y: Sequence[float], yhat: Sequence[float]) -> int:
    if len(y) != len(yhat) or not y:
        raise ValueError(
            f"y and yhat must have the same non-zero length, got {len(y)}, {len(yhat)}"
        )
    return len(y)


def mae(y: Sequence[float], yhat: Sequence[float]) -> float:
    """Mean absolute error."""
    n = _pairs(y, yhat)
    return sum(abs(a - b) for a, b in zip(y, yhat, strict=True)) / n


def rmse(y: Sequence[float], yhat: Sequence[float]) -> float:
    """Root mean squared error."""
    n = _pairs(y, yhat)
    return math.sqrt(sum((a - b) ** 2 for a, b in zip(y, yhat, strict=True)) / n)


def bias(y: Sequence[float], yhat: Sequence[float]) -> float:
    """Mean of ``yhat - y`` (positive: the forecast is too high on average)."""
    n = _pairs(y, yhat)
    return sum(b - a for a, b in zip(y, yhat, strict=True)) / n


def smape(y: Sequence[float], yhat: Sequence[float]) -> float | None:
    """Symmetric MAPE in percent, ``200 |y - yhat| / (|y| + |yhat|)``, over ``y != 0`` only."""
    _pairs(y, yhat)
    terms = [200.0 * abs(a - b) / (abs(a) + abs(b)) for a, b in zip(y, yhat, strict=True) if a]
    return sum(terms) / len(terms) if terms else None


def snaive_scale(history: Sequence[float], season: int = 7, power: int = 1) -> float | None:
    """In-sample mean of ``|y_t - y_{t-season}| ** power``; ``None`` if short or zero."""
    if power not in (1, 2):
        raise ValueError(f"power must be 1 or 2, got {power!r}")
    diffs = [abs(history[t] - history[t - season]) for t in range(season, len(history))]
    if not diffs:
        return None
    scale = sum(d**power for d in diffs) / len(diffs)
    return scale if scale > 0 else None


def snaive_scales(history: Sequence[float], season: int = 7) -> list[float | None]:
    """``snaive_scale(history[:t], season)`` for every ``t`` in ``0..len(history)`` (the
    scale of an origin ``t`` that has seen ``history[:t]``), in one pass."""
    out: list[float | None] = [None] * min(season + 1, len(history) + 1)
    total = 0.0
    for t in range(season, len(history)):
        total += abs(history[t] - history[t - season])
        out.append(total / (t + 1 - season) if total > 0 else None)
    return out


def mase(y: Sequence[float], yhat: Sequence[float], scale: float | None) -> float:
    """MAE divided by :func:`snaive_scale` (``power=1``) of the training history."""
    if not scale:
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    return mae(y, yhat) / scale


def rmsse(y: Sequence[float], yhat: Sequence[float], scale2: float | None) -> float:
    """Root of MSE divided by :func:`snaive_scale` (``power=2``) of the training history."""
    if not scale2:
        raise ValueError(f"scale2 must be a positive number, got {scale2!r}")
    return math.sqrt(rmse(y, yhat) ** 2 / scale2)


def coverage(y: Sequence[float], lo: Sequence[float], hi: Sequence[float]) -> float:
    """Share of ``y`` inside ``[lo, hi]``."""
    n = _pairs(y, lo)
    return sum(a <= v <= b for v, a, b in zip(y, lo, hi, strict=True)) / n


def width(lo: Sequence[float], hi: Sequence[float]) -> float:
    """Mean interval width ``hi - lo``."""
    n = _pairs(lo, hi)
    return sum(b - a for a, b in zip(lo, hi, strict=True)) / n


@dataclass
class Tally:
    """Running sums of one model's errors on one series, per horizon ``1..horizon``; with each
    origin's in-sample ``scale`` (:func:`snaive_scales`), also the errors scaled by it.

    >>> t = Tally(horizon=2)
    >>> t.add([1.0, 0.0], [0.5, 1.0], lo={0.8: [0.0, 0.0]}, hi={0.8: [0.9, 0.5]}, scale=0.5)
    >>> t.mae(), t.mae_by_horizon(), t.coverage(0.8), t.width(0.8), t.smape()
    (0.75, [0.5, 1.0], 0.5, 0.7, 66.66666666666667)
    >>> t.sale_n, t.sale_hits[0.8], t.hits_by_h[0.8]  # the actual 1.0 is a sale, 0.0 is not
    (1, 0, [0, 1])
    >>> t.add([2.0, 2.0], [2.0, 2.0], scale=None)  # an origin with no scale: not in mase_is
    >>> t.mase_in_sample()
    1.5
    """

    horizon: int
    n: int = 0
    abs_err: list[float] = field(default_factory=list)
    sq_err: float = 0.0
    err: float = 0.0
    smape_sum: float = 0.0
    smape_n: int = 0
    hits: dict[float, int] = field(default_factory=dict)
    widths: dict[float, float] = field(default_factory=dict)
    scaled_abs: float = 0.0  # sum of |error| / the origin's in-sample scale
    scaled_n: int = 0
    actual: float = 0.0  # sum of the actuals (the mean demand of bias_share)
    sale_n: int = 0  # points whose actual is > 0
    sale_hits: dict[float, int] = field(default_factory=dict)  # inside the band, among them
    hits_by_h: dict[float, list[int]] = field(default_factory=dict)  # inside, per horizon
    lead_abs: float = 0.0  # sum over origins of |sum of forecasts - sum of actuals| (h = 1..H)
    lead_n: int = 0  # origins with quantiles of the lead-time total
    lead_low: int = 0  # ... whose actual total fell below the p10
    lead_high: int = 0  # ... and above the p90

    def __post_init__(self) -> None:
        if not self.abs_err:
            self.abs_err = [0.0] * self.horizon

    def add(
        self,
        y: Sequence[float],
        yhat: Sequence[float],
        lo: dict[float, list[float]] | None = None,
        hi: dict[float, list[float]] | None = None,
        scale: float | None = None,
        lead: tuple[float, float] | None = None,
    ) -> None:
        """Add one origin's actuals and forecasts (``lo``/``hi`` by coverage level; ``scale``:
        the origin's in-sample seasonal-naive MAE, None where it is undefined or zero;
        ``lead``: the p10 and p90 of the total of ``y``, where the model gives them)."""
        _pairs(y, yhat)
        if scale:
            self.scaled_abs += sum(abs(b - a) for a, b in zip(y, yhat, strict=True)) / scale
            self.scaled_n += len(y)
        for k, (a, b) in enumerate(zip(y, yhat, strict=True)):
            d = b - a
            self.abs_err[k] += abs(d)
            self.sq_err += d * d
            self.err += d
            self.actual += a
            if a:
                self.smape_sum += 200.0 * abs(d) / (abs(a) + abs(b))
                self.smape_n += 1
        self.n += len(y)
        self.sale_n += sum(1 for a in y if a > 0)
        self.lead_abs += abs(sum(yhat) - sum(y))
        if lead is not None:
            self.lead_n += 1
            self.lead_low += sum(y) < lead[0]
            self.lead_high += sum(y) > lead[1]
        for level, los in (lo or {}).items():
            his = (hi or {})[level]
            inside = [p <= v <= q for v, p, q in zip(y, los, his, strict=False)]
            self.hits[level] = self.hits.get(level, 0) + sum(inside)
            self.sale_hits[level] = self.sale_hits.get(level, 0) + sum(
                i for i, v in zip(inside, y, strict=False) if v > 0)
            by_h = self.hits_by_h.setdefault(level, [0] * self.horizon)
            for k, i in enumerate(inside):
                by_h[k] += i
            self.widths[level] = self.widths.get(level, 0.0) + sum(his) - sum(los)

    def origins(self) -> int:
        return self.n // self.horizon

    def mae(self) -> float:
        return sum(self.abs_err) / self.n

    def mase_in_sample(self) -> float | None:
        """Mean of ``|error| / scale`` over the origins that had a scale (M4/M5's MASE)."""
        return self.scaled_abs / self.scaled_n if self.scaled_n else None

    def mae_by_horizon(self) -> list[float]:
        return [v / self.origins() for v in self.abs_err]

    def mse(self) -> float:
        return self.sq_err / self.n

    def bias(self) -> float:
        return self.err / self.n

    def smape(self) -> float | None:
        return self.smape_sum / self.smape_n if self.smape_n else None

    def coverage(self, level: float) -> float:
        return self.hits.get(level, 0) / self.n

    def width(self, level: float) -> float:
        return self.widths.get(level, 0.0) / self.n
