"""The worker's forecasting stack for many series at once: one row per series, state in arrays.

:class:`ForecasterBank` computes what :func:`~models.factory.default_model` (``holidays=True``)
and a detector compute for one series, for every row of a batch in one step:

* the members (:class:`~models.bank_members.MemberBank`);
* the per-horizon ensemble (:class:`~models.horizon.HorizonEnsemble`: weights from EW
  ``k``-step errors and shares, weighted median), its pending forecasts in a ring by value;
* with ``lstm=True``, the blend with the global LSTM (:class:`~models.bank_blend.BlendBank`;
  its paths are a per-row input: :meth:`ForecasterBank.set_lstm_paths`);
* the UK bank-holiday factor (dated rows), the conformal bands (:mod:`models.bank_bands`);
* the anomaly check of each closed value against the forecast made before it
  (:class:`~models.bank_anomaly.Checks`, what :meth:`ForecasterBank.close` returns).

Same operations, dtypes and order as the per-object code, so forecasts, bands and scores are
equal to it (tests/unit/models/test_bank.py, on real series); beyond it, a mean forecast
(:mod:`models.bank_mean`) and a damped trend for coarse buckets (:mod:`models.bank_trend`).
Rows persist as bytes (about 14 KB, no pickle; older layouts upgrade: models.bank_upgrade).

>>> import numpy as np
>>> bank = ForecasterBank(horizon=7)
>>> rows = bank.add_rows(2)
>>> for y in [0, 0, 3, 8, 4, 0, 1] * 20:
...     bank.learn(rows, np.array([y, 2.0 * y]))
>>> f = bank.forecast(rows, 7)
>>> f.yhat.round(1).tolist()[1], bank.describe(0)["winner"]
([0.0, 0.0, 6.0, 16.0, 8.0, 0.0, 2.0], 'holt_winters_log1p')
>>> bool((f.lo95 <= f.lo).all() and (f.lo <= f.yhat).all() and (f.hi <= f.hi95).all())
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models import bank_trend, pending
from models.bank_anomaly import Checks, DetectorBank, spread_checks
from models.bank_bands import BandBank
from models.bank_blend import BlendBank, inverse_weights, reweight
from models.bank_check import check_rows, in_todays_layout
from models.bank_mean import MEAN_DECAY, MeanBank
from models.bank_members import MemberBank
from models.bank_ops import (
    export_fields,
    grow,
    is_holiday,
    learn_holiday,
    load_fields,
    row_fields,
    state_nbytes,
)
from models.bank_upgrade import upgrade
from models.base import BatchForecast, BatchForecaster, check_batch, check_horizon, check_range
from models.factory import DROP_RATIO, SEASON_CYCLES
from models.kernels import weighted_median
from models.orderstat import rows_index
from models.seasons import window_for

__all__ = ["ForecasterBank", "UNDATED"]

UNDATED = -1  # the day of a row that has no date (no holiday factor)
_F32 = np.float32


class ForecasterBank(BatchForecaster):
    """The worker's stack (``default_model(horizon, season, window, coverage, lstm,
    holidays=True)`` and its anomaly detector) for many rows; see the module docstring."""

    n: np.ndarray
    day: np.ndarray
    factor: np.ndarray
    holidays_seen: np.ndarray
    errors: np.ndarray
    due: np.ndarray
    yhat: np.ndarray
    weights: np.ndarray

    name = "ensemble"

    def __init__(self, horizon: int = 14, season: int = 7, window: int | None = None,
                 coverage: float = 0.8, holiday_decay: float = 0.7, lstm: bool = False,
                 cycles: int = SEASON_CYCLES, season2: int = 0, trend: bool = False) -> None:
        check_horizon(horizon)
        window = window_for(season) if window is None else window
        check_range("window", window, 2, 10_000, integer=True)
        check_range("coverage", coverage, 0, 1, lo_open=True, hi_open=True)
        self.horizon, self.season, self.window, self.coverage = horizon, season, window, coverage
        self.decay, self.power, self.eps = 0.95, 2.0, 1e-6  # as default (trend: bank_trend)
        self.drop = bank_trend.DROP if trend else DROP_RATIO
        self.holiday_decay = holiday_decay
        self.levels = (coverage,) if coverage == 0.95 else (coverage, 0.95)
        self.members = MemberBank(season, (window // 2, window, window * 2), horizon,
                                  cycles=cycles, season2=season2, trend=trend)
        self.member_names = ["seasonal_naive", f"rolling_median_{window // 2}", "rolling_median",
                             f"rolling_median_{window * 2}", "holt_winters_log1p",
                             *["seasonal_median"] * (cycles > 0),
                             *[f"seasonal_naive_{season2}", f"seasonal_median_{season2}"]
                             * (season2 > 0), *["holt_winters_damped"] * bool(trend)]
        self.bands = BandBank(horizon, self.levels)
        self.detector = DetectorBank()
        self.means = MeanBank(horizon, bank_trend.MEAN_DECAY if trend else MEAN_DECAY)
        self.blend = BlendBank(horizon) if lstm else None  # LstmBlend: set_lstm_paths
        self.capacity = self._rows = 0
        h, m = horizon, self.members.n_members
        self._shapes: dict[str, tuple[tuple[int, ...], type]] = {
            "n": ((), np.int64), "day": ((), np.int64), "holidays_seen": ((), np.int64),
            "factor": ((), np.float64), "yhat": ((h,), np.float64), "weights": ((m, h), np.float64),
            "errors": ((m, h), np.float64), "due": ((pending.cells(h), m), _F32)}
        for name, (shape, dt) in self._shapes.items():
            setattr(self, name, np.zeros((0, *shape), dtype=dt))

    @property
    def n_rows(self) -> int:
        return self._rows

    def add_rows(self, n: int) -> np.ndarray:
        """``n`` fresh rows (undated: :meth:`set_day` dates them); their ids."""
        if type(n) is not int or n < 0:
            raise ValueError(f"n must be an integer >= 0, got {n!r}")
        rows = grow(self, self._shapes, self._rows, n)
        for part in (self.members, self.bands, self.detector, self.blend, self.means):
            if part is not None:
                part.add(n)
        self.day[rows], self.factor[rows] = UNDATED, 1.0
        self.weights[rows] = 1.0 / self.members.n_members
        self._rows += n
        return rows

    def set_day(self, rows: Any, days: Any) -> None:
        """Date ``rows``: the epoch day (UTC) of the next value each will learn."""
        self.day[self._rows_of(rows)] = np.asarray(days, dtype=np.int64)

    def _rows_of(self, rows: Any) -> np.ndarray:
        """``rows`` as int64 ids, each an existing row (else ValueError)."""
        r = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(r) and (r.min() < 0 or r.max() >= self._rows):
            raise ValueError(f"rows must be in [0, {self._rows}), got {r.min()}..{r.max()}")
        return r

    _STATE = ("n", "day", "factor", "holidays_seen", "errors", "due", "yhat")

    def export_row(self, row: int) -> bytes:
        """Row ``row``'s whole state as bytes (what the worker's changelog table keeps)."""
        return self.export_rows([row])[0]

    def export_rows(self, rows: Any) -> list[bytes]:
        """:meth:`export_row` of each of ``rows``, in a few array copies for all of them."""
        r = self._rows_of(rows)
        if not len(r):
            return []
        return export_fields(row_fields(self), r)

    def load_row(self, row: int, raw: bytes) -> None:
        """Overwrite row ``row`` with :meth:`export_row`'s bytes (of a bank with the same
        parameters); forecasts and bands are then equal to the exported row's."""
        own = state_nbytes(self._shapes, self._STATE)
        mem, band = self.members.nbytes(), self.bands.nbytes()
        blend = self.blend.nbytes() if self.blend else 0
        size = own + mem + band + blend  # older rows: no mean part, or also a 48-byte detector
        dets = (self.detector.nbytes(), DetectorBank.LEGACY_BYTES)
        fits = [(d, m) for m in (self.means.nbytes(), 0) for d in dets if size + d + m == len(raw)]
        if not fits:  # an older layout's row, upgraded (not a row at all: ValueError)
            return self.load_row(row, upgrade(self, raw))
        det, mean = fits[0]
        check_rows(self, [in_todays_layout(self, raw, det, mean)])  # whatever the variant
        pos = load_fields(self, self._shapes, self._STATE, row, raw)
        self.members.load(row, raw[pos : pos + mem])
        n = int(self.n[row])
        self.bands.load(row, raw[pos + mem : pos + mem + band], n)
        self.detector.load(row, raw[pos + mem + band : pos + mem + band + det])
        if self.blend is not None:
            self.blend.load(row, raw[pos + mem + band + det : len(raw) - mean], n)
        self.means.load(row, raw[len(raw) - mean :] if mean else b"")
        self.weights[row] = 1.0 / self.members.n_members
        if scored := min(max(n - 1, 0), self.horizon):
            self.weights[row, :, :scored] = inverse_weights(
                self.errors[row : row + 1, :, :scored], self.eps, self.power,
                self.members.share, self.drop)[0]

    def learn(self, rows: Any, values: Any) -> None:
        self.close(rows, values)  # the anomaly check runs too

    def close(self, rows: Any, values: Any, against: tuple[Any, ...] | None = None,
              impute: Any = None) -> Checks:
        """Close one bucket of each of ``rows``: check ``values`` against the forecast made
        before them (not rows that learnt nothing), then learn them. ``against`` (``checked,
        yhat, lo, hi, lo95, hi95``: a mask over ``rows``, then what each checked row expected)
        replaces that forecast; rows masked by ``impute`` are not checked and learn their own
        one-step forecast instead (a shop-wide closure, :mod:`models.activity`)."""
        r, y = check_batch(rows, values, self._rows)
        n = self.n[r]
        skip = np.zeros(len(r), dtype=bool) if impute is None else np.asarray(impute, dtype=bool)
        fill = skip & ~((self.day[r] != UNDATED) & is_holiday(self.day[r]))  # a holiday: its
        if fill.any():  # factor learns the actual, as on any holiday
            y = y.copy()
            y[fill] = np.maximum(self.forecast(r[fill], 1).yhat[:, 0], 0.0)
        seen = n > 0 if against is None else np.asarray(against[0], dtype=bool)
        if against is not None:
            if (seen & skip).any():
                raise ValueError("a row cannot be both checked and imputed")
            yh, lo, hi, lo95, hi95 = (np.asarray(a, dtype=np.float64) for a in against[1:])
            checks = spread_checks(self.detector.observe(r[seen], y[seen], yh, lo, hi, lo95,
                                                         hi95, n[seen], self.members.recent), seen)
        else:
            seen &= ~skip
            checks = (self._check(r, y, n) if seen.all()  # else: rows with no forecast yet
                      else spread_checks(self._check(r[seen], y[seen], n[seen]), seen))
        self._learn(r, y, n)
        return checks

    def _check(self, r: np.ndarray, y: np.ndarray, n: np.ndarray) -> Checks:
        first = self.forecast(r, 1)
        return self.detector.observe(r, y, first.yhat[:, 0], first.lo[:, 0], first.hi[:, 0],
                                     first.lo95[:, 0], first.hi95[:, 0], n, self.members.recent)

    def _learn(self, r: np.ndarray, y: np.ndarray, n: np.ndarray) -> None:
        day = self.day[r]
        dated = day != UNDATED
        holiday = dated & is_holiday(day) & (n > 0)  # the first value: no forecast to keep
        x = y
        if holiday.any():  # HolidayAdjusted: learn the ratio, feed the member its forecast
            hr = r[holiday]
            base = self.yhat[hr, 0]
            learn_holiday(self.factor, self.holidays_seen, hr, base, y[holiday],
                          self.holiday_decay)
            x = y.copy()
            x[holiday] = base
        self._learn_ensemble(r, x, n)
        self.day[r] = np.where(dated, day + 1, day)
        self.means.update(r, y, n, self.bands.pending(r, n))  # the bias of what bands score
        self.bands.update(r, y, n)
        self.n[r] = n + 1
        path = self._adjusted(r, self.yhat[r])
        self.bands.record(r, path, n)
        self.means.record(r, path, n)  # its lead-time total

    def _learn_ensemble(self, r: np.ndarray, x: np.ndarray, n: np.ndarray) -> None:
        """``HorizonEnsemble.update`` for every row: score the pending forecasts of ``x``,
        reweight, let the members learn ``x``, record their paths, combine them."""
        ix = rows_index(r)
        w = reweight(self.errors, self.weights, r, self.due, x, n, self.decay, self.eps,
                     self.power, self.members.share, self.drop)
        self.members.learn(r, x, n)
        paths = self.members.paths(r, n + 1)  # (K, m, h)
        pending.write(self.due, r, n + 1, paths)
        online = weighted_median(w, paths)
        self.yhat[ix] = online if self.blend is None else self.blend.update(r, x, n, online)

    def set_lstm_paths(self, rows: Any, paths: Any, version: str) -> None:
        """Give ``rows`` the LSTM's forecasts of their next buckets (``(rows, L)``, ``L <=
        horizon``) and re-blend them (``LstmBlend.set_lstm_path``; needs ``lstm=True``)."""
        if self.blend is None:
            raise ValueError("set_lstm_paths needs a bank made with lstm=True")
        r = self._rows_of(rows)
        self.blend.set_paths(r, np.asarray(paths, dtype=np.float64).reshape(len(r), -1),
                             version, self.n[r])
        self.yhat[r] = self.blend.yhat[r]

    def _adjusted(self, r: np.ndarray, path: np.ndarray) -> np.ndarray:
        """``path`` times the holiday factor on the holidays ahead (rows that saw one)."""
        h = path.shape[1]
        day = self.day[r]
        on = (day != UNDATED) & (self.holidays_seen[r] > 0)
        if not on.any():
            return path
        hol = is_holiday(day[:, None] + np.arange(h)) & on[:, None]
        return np.where(hol, path * self.factor[r][:, None], path)

    def forecast(self, rows: Any, horizon: int) -> BatchForecast:
        """Point forecasts and both bands for ``horizon <= self.horizon`` buckets ahead."""
        check_horizon(horizon)
        if horizon > self.horizon:
            raise ValueError(f"horizon must be <= {self.horizon}, got {horizon}")
        r = self._rows_of(rows)
        yhat = self._adjusted(r, self.yhat[r, :horizon])
        bands = self.bands.bands(r, yhat)
        lo, hi = bands[0]
        lo95, hi95 = bands[-1]
        mean = self.means.mean(r, yhat)
        return BatchForecast(yhat, lo, hi, lo95, hi95, mean, self.means.lead(r, mean))

    def describe(self, row: int) -> dict[str, Any]:
        """What ``SeriesModel.forecast().model`` says for this row, minus the 95% band."""
        self._rows_of([row])
        names = self.member_names
        w = (by_h := self.weights[row].T).tolist()  # (h, m), as HorizonEnsemble keeps them
        winners = [names[int(np.argmax(v))] for v in by_h]
        out: dict[str, Any] = {
            "name": self.name, "n_seen": int(self.n[row]), "members": list(names),
            "weights": dict(zip(names, w[0], strict=True)), "winner": winners[0],
            "weights_by_horizon": w, "winners": winners,
            "holiday_factor": round(float(self.factor[row]), 3),
            "interval": {"coverage": self.levels[0], "levels": list(self.levels),
                         "n": int(self.bands.count[row, 0])}}
        return out if self.blend is None else self.blend.describe(row, out)
