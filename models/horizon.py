"""An online ensemble with one set of weights per horizon, earned on out-of-sample errors.

:class:`HorizonEnsemble` records every member's forecast path after each learnt value. When
the value ``k`` steps later arrives, member ``i``'s ``k``-step absolute error updates an
exponentially weighted mean absolute error, one per member and horizon, and the weights at
horizon ``k`` are its inverse, raised to ``power``, times the member's ``share`` (1 unless
given) and normalised::

    err_ik <- decay * err_ik + (1 - decay) * |y - yhat_i(k)|       (the first error sets it)
    w_ik    = s_i (err_ik + eps) ** -power / sum_j s_j (err_jk + eps) ** -power

A share below 1 is for members that move together (three rolling medians of different
windows): as a bloc they would otherwise hold the weighted median whenever each of them is
about as good as the one member that differs. With ``drop``, a member whose ``err_ik`` is
above ``drop`` times the lowest ``err_jk`` gets ``w_ik = 0``: a clear loser (a non-seasonal
median on strongly seasonal data) leaves the vote instead of keeping a small weight.

The forecast at horizon ``k`` is the ``w_ik``-weighted mean of the members' forecasts
(``combine="mean"``) or their weighted median (``combine="median"``: the value where the
members' cumulative weight, sorted by forecast, reaches 1/2). A weighted mean of a median-like
member (often 0 on a sparse SKU) and mean-like ones is never 0, which costs absolute error on
intermittent series; the weighted median keeps one member's forecast.

So a member that is good a day ahead but poor two weeks ahead (a rolling median after a
level shift) gets a large weight at ``k = 1`` and a small one at ``k = 14``. Horizons beyond
``horizon`` use the last horizon's weights; before a horizon is scored its weights are equal.
Every error is out of sample: the path was forecast before the value was learnt.

The member paths are computed once per :meth:`learn_one` and kept, so :meth:`forecast` only
combines them (it never mutates). The forecasts still to be scored are kept as float32 (7
significant digits: ample for an error), a triangle of ``horizon * (horizon + 1) / 2`` values
per member; the arithmetic is vectorised with numpy.

>>> from models.baselines import RollingMean, SeasonalNaive
>>> ens = HorizonEnsemble([SeasonalNaive(2), RollingMean(2)], horizon=2, decay=0.5)
>>> for y in [0, 10] * 10:
...     ens.learn_one(y)
>>> ens.describe()["winner"], [round(w, 3) for w in ens.weights().values()]
('seasonal_naive', [1.0, 0.0])
>>> [round(v, 3) for v in ens.forecast(3)]
[0.0, 10.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from models.base import Forecaster, check_horizon, check_members, check_range

__all__ = ["HorizonEnsemble"]

_ARANGE = np.arange(10_001)


class HorizonEnsemble(Forecaster):
    """Members combined with per-horizon inverse-error weights (see the module docstring).

    ``members`` is a sequence (named by each member's ``name``) or a mapping of unique names.

    >>> from models.baselines import RollingMean
    >>> HorizonEnsemble([RollingMean()], power=0)
    Traceback (most recent call last):
    ...
    ValueError: power must be in (0, 10], got 0
    """

    name = "ensemble"

    def __init__(
        self,
        members: Sequence[Forecaster] | Mapping[str, Forecaster],
        horizon: int = 14,
        decay: float = 0.95,
        power: float = 1.0,
        eps: float = 1e-6,
        combine: str = "mean",
        shares: Mapping[str, float] | None = None,
        drop: float | None = None,
    ) -> None:
        super().__init__()
        names, models = check_members(members)
        unknown = sorted(set(shares or {}) - set(names))
        if unknown:
            raise ValueError(f"shares name no member: {', '.join(unknown)}")
        for name, share in (shares or {}).items():
            check_range(f"share of {name}", share, 0, 1, lo_open=True)
        # per member, 1.0 unless given (the product with 1.0 is exact: no share, no change)
        self.shares = {n: float((shares or {}).get(n, 1.0)) for n in names}
        self._share = np.array(list(self.shares.values()))
        check_range("horizon", horizon, 1, 10_000, integer=True)
        check_range("decay", decay, 0, 1)
        check_range("power", power, 0, 10, lo_open=True)
        check_range("eps", eps, 0, 1, lo_open=True)
        if drop is not None:
            check_range("drop", drop, 1, 1e6, lo_open=True)
        self.drop = drop
        if combine not in ("mean", "median"):
            raise ValueError(f"combine must be 'mean' or 'median', got {combine!r}")
        self.combine = combine
        self.names = names
        self.members = models
        self.horizon = horizon
        self.decay = decay
        self.power = power
        self.eps = eps
        n, h = len(models), horizon
        self.errors = np.zeros((h, n))  # [k-1, i]
        self._w = np.full((h, n), 1.0 / n)  # from errors; not pickled
        self._paths = np.zeros((n, h))  # the members' latest paths: [i, k-1]
        # _due[j, k-1, i]: member i's k-step forecast of the value j + 1 steps ahead (float32)
        self._due = np.zeros((h, h, n), dtype=np.float32)
        self._yhat: list[float] = [0.0] * h  # the combined path (not pickled)

    def _params(self) -> dict[str, Any]:
        members = dict(zip(self.names, self.members, strict=True))
        return {
            "members": members,
            "horizon": self.horizon,
            "decay": self.decay,
            "power": self.power,
            "combine": self.combine,
            "shares": self.shares,
            "drop": self.drop,
        }

    def weights(self, horizon: int = 1) -> dict[str, float]:
        """The weight of each member at ``horizon`` (they sum to 1), by name."""
        k = min(check_horizon(horizon), self.horizon)
        return dict(zip(self.names, self._w[k - 1].tolist(), strict=True))

    def _set_weights(self, rows: int) -> None:
        e = self.errors[:rows] + self.eps
        inv = (1.0 / e if self.power == 1.0 else 1.0 / (e * e) if self.power == 2.0 else
               e ** (-self.power)) * self._share
        if self.drop is not None:
            err = self.errors[:rows]
            inv[err > self.drop * err.min(axis=1, keepdims=True)] = 0.0
        self._w[:rows] = inv / inv.sum(axis=1, keepdims=True)

    def update(self, y: float) -> float:
        """Learn ``y``; return the ensemble's one-step forecast of it made just before."""
        y = self._check(y)
        prior = self.forecast_one()
        h, seen = self.horizon, self.n_seen - 1  # paths recorded before this value
        rows = min(seen, h)  # horizons k = 1..rows have a forecast of y
        if rows:
            err, d = np.abs(y - self._due[0, :rows]), self.decay
            e = self.errors
            if seen > h:
                e *= d
                e += (1.0 - d) * err
            else:  # horizon `seen` is scored for the first time: its error sets err_ik
                e[: rows - 1] *= d
                e[: rows - 1] += (1.0 - d) * err[: rows - 1]
                e[rows - 1] = err[rows - 1]
            self._set_weights(rows)
        due = self._due
        due[:-1] = due[1:]
        due[-1] = 0.0
        for m in self.members:
            m.learn_one(y)
        self._paths = paths = np.array([m.forecast(h) for m in self.members])
        k = _ARANGE[:h]
        due[k, k] = paths.T
        self._yhat = self._combine(self._w, paths)  # the forecast, until the next value
        return prior

    def learn_one(self, y: float) -> None:
        self.update(y)

    def forecast(self, horizon: int) -> list[float]:
        check_horizon(horizon)
        h = self.horizon
        if horizon <= h and self.n_seen:
            return self._yhat[:horizon]
        paths = np.array([m.forecast(horizon) for m in self.members])
        w = self._w[np.minimum(_ARANGE[:horizon], h - 1)]
        return self._combine(w, paths)

    def _combine(self, w: np.ndarray, paths: np.ndarray) -> list[float]:
        """Combine ``paths[i, k]`` with weights ``w[k, i]``: weighted mean or median."""
        if self.combine == "mean":
            out: list[float] = np.einsum("ki,ik->k", w, paths).tolist()
            return out
        v = paths.T  # [k, i]
        rows = _ARANGE[: len(v), None]
        order = np.argsort(v, axis=1, kind="stable")
        cum = np.cumsum(w[rows, order], axis=1)
        pick = (cum < 0.5 - 1e-12).sum(axis=1)  # the first member whose cumulative weight >= 1/2
        med: list[float] = v[rows[:, 0], order[rows[:, 0], pick]].tolist()
        return med

    def forecast_one(self) -> float:
        return self._yhat[0] if self.n_seen else self.forecast(1)[0]

    def refresh(self) -> None:
        """Recompute the members' current paths and the combined forecast, e.g. after an
        external member got a new path; the paths recorded for scoring stay as they were."""
        if self.n_seen:
            self._paths = np.array([m.forecast(self.horizon) for m in self.members])
            self._yhat = self._combine(self._w, self._paths)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary: members, horizon-1 weights and winner, and both per horizon.

        >>> from models.baselines import RollingMean
        >>> d = HorizonEnsemble({"short": RollingMean(3), "long": RollingMean(28)}, 2).describe()
        >>> d["weights"], d["winner"], d["winners"]
        ({'short': 0.5, 'long': 0.5}, 'short', ['short', 'short'])
        """
        names, w = self.names, self._w.tolist()
        winners = [names[row.index(max(row))] for row in w]
        return {
            "name": self.name,
            "members": list(names),
            "weights": dict(zip(names, w[0], strict=True)),
            "winner": winners[0],
            "weights_by_horizon": w,
            "winners": winners,
            "n_seen": self.n_seen,
        }

    def recent_errors(self, horizon: int = 1) -> dict[str, float]:
        """Each member's exponentially weighted mean absolute ``horizon``-step error."""
        k = min(check_horizon(horizon), self.horizon)
        return dict(zip(self.names, self.errors[k - 1].tolist(), strict=True))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_w"], state["_yhat"], state["_share"]
        if set(self.shares.values()) == {1.0}:  # the usual case: rebuilt by __setstate__
            del state["shares"]
        state["_due"] = self._due[np.triu_indices(self.horizon)].tobytes()  # the used triangle
        state["errors"], state["_paths"] = self.errors.tobytes(), self._paths.tobytes()
        return state  # bytes: a third of the size of pickled arrays

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"drop": None, **state})  # pickled before ``drop``: None
        h, n = self.horizon, len(self.members)
        self.shares = state.get("shares") or dict.fromkeys(self.names, 1.0)
        self._share = np.array(list(self.shares.values()))
        self.errors = np.frombuffer(state["errors"]).reshape(h, n).copy()
        self._paths = np.frombuffer(state["_paths"]).reshape(n, h).copy()
        due = np.zeros((h, h, n), dtype=np.float32)
        due[np.triu_indices(h)] = np.frombuffer(state["_due"], dtype=np.float32).reshape(-1, n)
        self._due = due
        self._w = np.full((h, n), 1.0 / n)
        self._set_weights(min(max(self.n_seen - 1, 0), h))
        self._yhat = self._combine(self._w, self._paths)
