"""The model the stream worker keeps per series: a forecaster plus conformal intervals.

:func:`default_model` builds a :class:`SeriesModel` of six members (seasonal naive, rolling
medians over 2, 4 and 8 seasons, Holt-Winters on log1p, the seasonal median over
:data:`SEASON_CYCLES` seasons), blended per horizon by :class:`~models.horizon.HorizonEnsemble`
(weighted median, squared inverse-error weights times :data:`MEDIAN_SHARE` for each median,
none for a member :data:`DROP_RATIO` times worse than the best), with 80% and 95% per-horizon
:class:`~models.conformal.ConformalInterval` bands fed by the ensemble's own ``k``-step errors.
:class:`SeriesModel` wraps *any* :class:`~models.base.Forecaster` the same way (the backtest
scores every member with its own intervals).

* ``learn_one(y)``: the closed bucket's value (mutates); returns nothing.
* ``forecast(h)``: a :class:`Forecast` (never mutates): ``yhat``, ``lo``, ``hi`` lists of
  length ``h`` (the ``coverage`` band, 80% by default), ``lo95``/``hi95`` (the 95% band) and
  ``model``, a JSON-ready description (members, weights, winner, per-horizon weights, and
  ``interval``: ``coverage``, ``n``, ``levels`` and the 95% band again as ``lo95``/``hi95``, so
  that payload consumers of ``to_dict()``, whose four keys are unchanged, also get it).
* ``last_prior``: the one-step forecast the model had made for the last learnt value (None
  before), for the anomaly check of a closed actual against what was expected.

The worker (daily buckets) wraps it in :class:`~models.calendar.HolidayAdjusted`
(``default_model(holidays=True)``): a learnt UK bank-holiday factor, which improved the
backtest's quick panels (docs/backtest.md). The whole object pickles (a few KB) and is
deterministic.

>>> m = default_model(horizon=7)
>>> for y in [0, 0, 3, 8, 4, 0, 1] * 20:
...     m.learn_one(y)
>>> f = m.forecast()
>>> [round(v, 1) for v in f.yhat]
[0.0, 0.0, 3.0, 8.0, 4.0, 0.0, 1.0]
>>> f.model["winner"], len(f.lo), f.lo95[3] <= f.lo[3] <= f.yhat[3] <= f.hi[3] <= f.hi95[3]
('holt_winters_log1p', 7, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.base import Forecaster, check_horizon, check_range
from models.baselines import RollingMedian, SeasonalMedian, SeasonalNaive
from models.calendar import HolidayAdjusted
from models.conformal import ConformalInterval
from models.external import LSTM_PRIOR, ExternalPath
from models.horizon import HorizonEnsemble
from models.online import HoltWintersLog1p
from models.price import PriceAdjusted
from models.seasons import window_for

__all__ = ["Forecast", "SeriesModel", "LstmBlend", "MEDIAN_SHARE", "SEASON_CYCLES",
           "DROP_RATIO", "default_model"]


@dataclass(frozen=True, slots=True)
class Forecast:
    """Point forecasts and interval bounds for horizons 1..h, and the model that made them.

    ``lo``/``hi`` is the model's ``coverage`` band (80% by default), ``lo95``/``hi95`` the 95%
    band (empty when the model has no 95% level). ``yhat`` may be median-like; ``mean`` (the
    worker's bank has one, :mod:`models.bank_mean`) is the forecast to sum over a lead time.
    """

    yhat: list[float]
    lo: list[float]
    hi: list[float]
    model: dict[str, Any]
    lo95: list[float] = field(default_factory=list)
    hi95: list[float] = field(default_factory=list)
    mean: list[float] | None = None
    # the mean's total over the horizon, p10, p90: {"buckets": h, "mean", "p10", "p90"}
    lead: dict[str, Any] | None = None

    @property
    def horizon(self) -> int:
        return len(self.yhat)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for payloads (the 95% band is in ``model["interval"]``)."""
        out = {"yhat": self.yhat, "lo": self.lo, "hi": self.hi, "model": self.model}
        if self.mean is not None:
            out["mean"] = self.mean
        if self.lead is not None:
            out["lead"] = self.lead
        return out


class SeriesModel:
    """A forecaster plus its conformal intervals: what the worker keeps per series.

    >>> from models.intermittent import TSB
    >>> m = SeriesModel(TSB(), ConformalInterval(horizon=3), horizon=3)
    >>> for y in [0.0, 2.0] * 30:
    ...     m.learn_one(y)
    >>> f = m.forecast()
    >>> f.model["name"], [round(v, 2) for v in f.yhat], f.lo95[0] <= f.lo[0]
    ('tsb', [1.02, 1.02, 1.02], True)
    """

    def __init__(self, forecaster: Forecaster, interval: ConformalInterval,
                 horizon: int = 14) -> None:
        check_horizon(horizon)
        if interval.horizon < horizon:
            raise ValueError(f"interval horizon {interval.horizon} < horizon {horizon}")
        self.forecaster, self.interval, self.horizon = forecaster, interval, horizon
        self.last_prior: float | None = None
        self._update = getattr(forecaster, "update", None)

    def __repr__(self) -> str:
        return f"SeriesModel({self.forecaster.name!r}, horizon={self.horizon}, n={self.n_seen})"

    @property
    def ensemble(self) -> Forecaster:
        """The forecaster (the name predates non-ensemble forecasters)."""
        return self.forecaster

    @property
    def n_seen(self) -> int:
        return self.forecaster.n_seen

    def learn_one(self, y: float) -> None:
        """Learn the next closed bucket's value; NaN/inf raise ValueError (state unchanged)."""
        fc = self.forecaster
        if self._update is not None:
            prior = self._update(y)
        else:
            prior = fc.forecast_one()
            fc.learn_one(y)
        self.interval.update(y)
        self.interval.record(fc.forecast(self.interval.horizon))
        self.last_prior = prior

    def forecast(self, horizon: int | None = None) -> Forecast:
        """Forecast ``horizon`` (default: ``self.horizon``) buckets ahead with intervals."""
        h = self.horizon if horizon is None else check_horizon(horizon)
        fc, iv = self.forecaster, self.interval
        yhat = fc.forecast(h)
        bands = iv.bounds(yhat[: iv.horizon])
        if h > iv.horizon:  # beyond the calibrated horizons: the last horizon's width
            for lo, hi in bands.values():
                dl, dh = yhat[iv.horizon - 1] - lo[-1], hi[-1] - yhat[iv.horizon - 1]
                lo.extend(max(v - dl, iv.lower) if iv.lower is not None else v - dl
                          for v in yhat[iv.horizon :])
                hi.extend(v + dh for v in yhat[iv.horizon :])
        lo, hi = bands[iv.levels[0]]
        lo95, hi95 = bands.get(0.95, ([], []))
        describe = getattr(fc, "describe", None)
        model: dict[str, Any] = {"name": fc.name, "n_seen": fc.n_seen}
        if describe is not None:
            model.update(describe())
        if "winner" not in model:
            model["winner"], model["weights"] = fc.name, {fc.name: 1.0}
        model["interval"] = {"coverage": iv.levels[0], "levels": list(iv.levels), "n": iv.n,
                             "lo95": lo95, "hi95": hi95}
        return Forecast(yhat, lo, hi, model, lo95, hi95)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_update"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._update = getattr(self.forecaster, "update", None)


class LstmBlend(HorizonEnsemble):
    """The online ensemble blended with the global LSTM, per horizon, weights earned online.

    Two members: ``online`` (the :class:`HorizonEnsemble` of the river-style models) and
    ``lstm`` (an :class:`~models.external.ExternalPath` the worker feeds with the LSTM's
    batched forecasts). Until an LSTM path arrives the ``lstm`` member repeats the online
    forecast, so the blend is exactly the online ensemble. :meth:`describe` reports the
    effective weight of every model (online members scaled by the online share) and the LSTM
    version.

    >>> m = default_model(horizon=3, lstm=True)
    >>> for y in [2.0, 4.0, 3.0] * 10:
    ...     m.learn_one(y)
    >>> m.forecaster.set_lstm_path([9.0, 9.0, 9.0], "v7")
    >>> f = m.forecast()
    >>> f.model["lstm_version"], "lstm" in f.model["weights"], f.yhat[0] > 3.0
    ('v7', True, True)
    """

    name = "ensemble"

    def __init__(self, online: HorizonEnsemble, horizon: int = 14) -> None:
        super().__init__({"online": online, "lstm": ExternalPath(online)}, horizon,
                         power=2.0, combine="mean")

    @property
    def online(self) -> HorizonEnsemble:
        member = self.members[0]
        assert isinstance(member, HorizonEnsemble)
        return member

    @property
    def lstm(self) -> ExternalPath:
        member = self.members[1]
        assert isinstance(member, ExternalPath)
        return member

    def set_lstm_path(self, path: list[float], version: str | None) -> None:
        """Give the LSTM member its forecast of the next buckets and refresh the blend (a
        first path's errors: :data:`~models.external.LSTM_PRIOR` times the online ones)."""
        first, rows = self.lstm.version is None, min(max(self.n_seen - 1, 0), self.horizon)
        self.lstm.set_path(path, version)
        if first and version is not None and rows:  # the horizons scored so far
            self.errors[:rows, 1] = LSTM_PRIOR * self.errors[:rows, 0]
            self._set_weights(rows)
        self.refresh()

    def describe(self) -> dict[str, Any]:
        inner = self.online.describe()
        if self.lstm.version is None:
            return inner
        outer = super().describe()
        w_online, w_lstm = outer["weights"]["online"], outer["weights"]["lstm"]
        weights = {k: v * w_online for k, v in inner["weights"].items()}
        weights["lstm"] = w_lstm
        return {**inner, "name": self.name, "weights": weights,
                "winner": max(weights, key=lambda k: weights[k]),
                "members": [*inner["members"], "lstm"], "lstm_version": self.lstm.version,
                "blend": outer["weights"]}


#: each median's share of the weights (HorizonEnsemble's ``shares``): the medians move together
#: and at full shares outvoted a better Holt-Winters (tuning panels: docs/backtest.md)
MEDIAN_SHARE = 0.65
#: the seasons the seasonal median looks back over (chosen on the tuning panels)
SEASON_CYCLES = 8
#: no weight for a member whose recent error is over DROP_RATIO times the best member's: the
#: tightest ratio that left both tuning panels unchanged (docs/backtest.md)
DROP_RATIO = 2.5


def default_members(season: int = 7, window: int | None = None) -> dict[str, Forecaster]:
    """The default ensemble's members by name (``window``: the middle median's, by default
    :func:`~models.seasons.window_for` the season).

    Chosen on the backtest's two tuning panels (docs/backtest.md), never on the scored ones:
    three rolling medians (``window`` / 2, ``window``, 2 ``window``) and seasonal naive beside
    Holt-Winters beat every single member there, and the earlier four (with TSB, one median);
    the seasonal median over :data:`SEASON_CYCLES` seasons joined later. TSB stays a model of
    its own (a good *mean* forecaster; poor under MASE).

    >>> list(default_members())  # doctest: +NORMALIZE_WHITESPACE
    ['seasonal_naive', 'rolling_median_14', 'rolling_median', 'rolling_median_56',
     'holt_winters_log1p', 'seasonal_median']
    """
    window = window_for(season) if window is None else window
    return {
        "seasonal_naive": SeasonalNaive(season),
        f"rolling_median_{window // 2}": RollingMedian(window // 2),
        "rolling_median": RollingMedian(window),
        f"rolling_median_{window * 2}": RollingMedian(window * 2),
        "holt_winters_log1p": HoltWintersLog1p(season),
        "seasonal_median": SeasonalMedian(season, SEASON_CYCLES),
    }


def default_model(horizon: int = 14, season: int = 7, window: int | None = None,
                  coverage: float = 0.8, lstm: bool = False, holidays: bool = False,
                  price: bool = False) -> SeriesModel:
    """The worker's per-series model (see the module docstring); ``lstm`` blends in the
    global LSTM's forecasts (:class:`LstmBlend`); ``holidays`` wraps the result in
    :class:`~models.calendar.HolidayAdjusted` (UK bank holidays; it needs ``set_day``);
    ``price`` wraps that in :class:`~models.price.PriceAdjusted` (relative price; it needs
    ``set_price``).

    >>> default_model(horizon=0)
    Traceback (most recent call last):
    ...
    ValueError: horizon must be an integer >= 1, got 0
    """
    check_horizon(horizon)
    check_range("coverage", coverage, 0, 1, lo_open=True, hi_open=True)
    levels = (coverage,) if coverage == 0.95 else (coverage, 0.95)
    # combine and power were chosen on the backtest's disjoint "tuning" panel (docs/backtest.md)
    members = default_members(season, window)
    shares = {name: MEDIAN_SHARE for name in members if "median" in name}
    ensemble = HorizonEnsemble(members, horizon, power=2.0, combine="median", shares=shares,
                               drop=DROP_RATIO)
    top: Forecaster = LstmBlend(ensemble, horizon) if lstm else ensemble
    if holidays:
        top = HolidayAdjusted(_Given(top), name=top.name)
    if price:
        top = PriceAdjusted(_Given(top), name=top.name)
    return SeriesModel(top, ConformalInterval(horizon, levels), horizon)


class _Given:
    """A picklable ``make`` that hands over an already built forecaster (once)."""

    def __init__(self, forecaster: Forecaster) -> None:
        self.forecaster = forecaster

    def __call__(self) -> Forecaster:
        return self.forecaster
