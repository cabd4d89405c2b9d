"""The forecaster contract: one value in, a horizon of values out.

Modelled on river's ``time_series/base.py``, for univariate series of closed buckets:

* ``learn_one(y)`` mutates: it feeds the next observed value (a finite float). NaN and
  infinities raise :class:`ValueError`; bad values are caught upstream by validation.
* ``forecast(horizon)`` never mutates: it returns ``horizon`` floats for the next buckets.
  Before any observation a forecaster forecasts zeros. ``forecast_one()`` is ``forecast(1)[0]``
  (the ensemble scores members with it on every value, so members give it a cheap path).
* State pickles (it lives in Faust tables); no randomness, so the same inputs give the same
  forecasts.
* Constructors store their parameters under the same names and raise :class:`ValueError`
  (message: lower-case, naming the bad value) on bad ones.

Every forecaster has a ``name`` (used in payloads) and ``n_seen`` (values learnt so far).

:class:`BatchForecaster` is the same contract for many series at once (one row per series),
what the worker and the backtest drive: ``add_rows(n)`` makes rows for new series,
``learn(rows, values)`` feeds one closed value to each of ``rows`` (mutates),
``forecast(rows, horizon)`` returns a :class:`BatchForecast` (never mutates) and
``describe(row)`` the JSON-ready description of one row's model.

>>> class Last(Forecaster):
...     name = "last"
...     def __init__(self) -> None:
...         super().__init__()
...         self.y = 0.0
...     def learn_one(self, y: float) -> None:
...         self.y = self._check(y)
...     def forecast(self, horizon: int) -> list[float]:
...         return [self.y] * check_horizon(horizon)
>>> m = Last()
>>> m.learn_one(3.0)
>>> m.forecast(2), m.n_seen
([3.0, 3.0], 1)
>>> m.learn_one(float("nan"))
Traceback (most recent call last):
...
ValueError: y must be a finite number, got nan
"""

from __future__ import annotations

import abc
import bisect
import math
import numbers
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["BatchForecast", "BatchForecaster", "Forecaster", "SortedWindow", "check_batch",
           "check_horizon", "check_members", "check_range", "describe_member", "MAX_VALUE"]

#: the largest magnitude a batch forecaster learns (:func:`check_batch`)
MAX_VALUE = 1e30


def check_members(
    members: Sequence[Forecaster] | Mapping[str, Forecaster],
) -> tuple[list[str], list[Forecaster]]:
    """Names and forecasters of an ensemble's members; ValueError if empty, not forecasters,
    or with duplicate names (names come from the mapping's keys, else from ``.name``)."""
    models = list(members.values() if isinstance(members, Mapping) else members)
    if not models:
        raise ValueError("members must not be empty")
    for m in models:
        if not isinstance(m, Forecaster):
            raise ValueError(f"members must be forecasters, got {m!r}")
    names = list(members) if isinstance(members, Mapping) else [m.name for m in models]
    if len(set(names)) != len(names):
        raise ValueError(f"member names must be unique, got {names}")
    return names, models


def check_horizon(horizon: int) -> int:
    """Return ``horizon`` if it is an integer >= 1, else raise :class:`ValueError`."""
    if type(horizon) is not int or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
    return horizon


def check_range(
    name: str, value: Any, lo: float, hi: float, lo_open: bool = False, integer: bool = False,
    hi_open: bool = False,
) -> None:
    """Raise ValueError unless ``lo <= value <= hi`` (``lo < value`` when ``lo_open``,
    ``value < hi`` when ``hi_open``).

    >>> check_range("alpha", 1.5, 0, 1, lo_open=True)
    Traceback (most recent call last):
    ...
    ValueError: alpha must be in (0, 1], got 1.5
    """
    ok_type = type(value) is int if integer else type(value) in (int, float)
    ok = (ok_type and (lo < value if lo_open else lo <= value)
          and (value < hi if hi_open else value <= hi))
    if not ok:
        if integer:
            raise ValueError(f"{name} must be an integer in [{lo:g}, {hi:g}], got {value!r}")
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        raise ValueError(f"{name} must be in {left}{lo:g}, {hi:g}{right}, got {value!r}")


def describe_member(member: Forecaster) -> dict[str, Any]:
    """A wrapped member's ``describe()`` (an ensemble's weights) as a new dict; ``{}`` when
    the member has none. Wrappers add their own keys to it."""
    describe = getattr(member, "describe", None)
    return dict(describe()) if describe is not None else {}


class SortedWindow:
    """The last ``window`` values, also kept sorted (for exact order statistics); only the
    values are pickled, the sorted copy is rebuilt on load.

    >>> w = SortedWindow(3)
    >>> for v in [5.0, 1.0, 3.0, 2.0]:
    ...     w.append(v)
    >>> list(w.values), w.sorted
    ([1.0, 3.0, 2.0], [1.0, 2.0, 3.0])
    """

    def __init__(self, window: int) -> None:
        self.values: deque[float] = deque(maxlen=window)
        self.sorted: list[float] = []

    def __len__(self) -> int:
        return len(self.values)

    def append(self, v: float) -> None:
        if len(self.values) == self.values.maxlen:
            del self.sorted[bisect.bisect_left(self.sorted, self.values[0])]
        self.values.append(v)
        bisect.insort(self.sorted, v)

    def __getstate__(self) -> dict[str, Any]:
        return {"values": self.values}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.values = state["values"]
        self.sorted = sorted(self.values)


class Forecaster(abc.ABC):
    """Base class of the online forecasters (see the module docstring for the contract)."""

    name: str = "forecaster"

    def __init__(self) -> None:
        self.n_seen = 0

    def _check(self, y: float) -> float:
        """Validate ``y``, count it, and return it as a float (for ``learn_one``)."""
        if type(y) is not float:
            if isinstance(y, bool) or not isinstance(y, numbers.Real):
                raise ValueError(f"y must be a finite number, got {y!r}")
            y = float(y)
        if not math.isfinite(y):
            raise ValueError(f"y must be a finite number, got {y!r}")
        self.n_seen += 1
        return y

    @abc.abstractmethod
    def learn_one(self, y: float) -> None:
        """Update the model with the next observed value."""

    @abc.abstractmethod
    def forecast(self, horizon: int) -> list[float]:
        """Forecast the next ``horizon`` values without changing the model."""

    def forecast_one(self) -> float:
        """The one-step forecast, ``forecast(1)[0]``; subclasses override it with a cheaper path."""
        return self.forecast(1)[0]

    def _params(self) -> dict[str, Any]:
        """Constructor parameters, for ``repr`` (subclasses store them under the same names)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"


@dataclass(frozen=True, slots=True)
class BatchForecast:
    """Forecasts of many rows: ``(rows, horizon)`` arrays of point forecasts and band bounds.

    ``lo``/``hi`` is the first coverage level's band (80% by default), ``lo95``/``hi95`` the 95%
    band (equal to ``lo``/``hi`` when the model has no 95% level). ``yhat`` may be median-like;
    ``mean`` (where the model has one) is the forecast whose sum over a lead time is unbiased.
    """

    yhat: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    lo95: np.ndarray
    hi95: np.ndarray
    mean: np.ndarray | None = None  # the mean forecast, where the model has one
    lead: np.ndarray | None = None  # (rows, 3): the mean's total over the horizon, p10, p90

    @property
    def horizon(self) -> int:
        return int(self.yhat.shape[1])


def check_batch(rows: Any, values: Any, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` as unique int64 row ids below ``n_rows`` and ``values`` as finite float64 of
    the same length, at most :data:`MAX_VALUE` in magnitude (errors and pending forecasts are
    kept in float32, whose range ends at 3.4e38); anything else raises :class:`ValueError`
    (nothing learnt).

    >>> check_batch([0, 2], [1, 2.5], 3)
    (array([0, 2]), array([1. , 2.5]))
    >>> check_batch([0], [float("inf")], 1)
    Traceback (most recent call last):
    ...
    ValueError: values must be finite numbers, got inf for row 0
    >>> check_batch([0, 1], [1.0, -1e39], 2)
    Traceback (most recent call last):
    ...
    ValueError: values must be at most 1e+30 in magnitude, got -1e+39 for row 1
    """
    r = np.asarray(rows, dtype=np.int64).reshape(-1)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(r) != len(v):
        raise ValueError(f"rows and values must have the same length, got {len(r)} and {len(v)}")
    if len(r) and (r.min() < 0 or r.max() >= n_rows):
        raise ValueError(f"rows must be in [0, {n_rows}), got {r.min()}..{r.max()}")
    ascending = len(r) < 2 or bool((r[1:] > r[:-1]).all())  # unique; no sort needed
    if not ascending and len(np.unique(r)) != len(r):
        raise ValueError("rows must be unique within one batch")
    bad = ~np.isfinite(v)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"values must be finite numbers, got {float(v[i])!r} for row {int(r[i])}")
    if len(v) and np.abs(v).max() > MAX_VALUE:
        i = int(np.argmax(np.abs(v)))
        raise ValueError(f"values must be at most {MAX_VALUE:g} in magnitude, got "
                         f"{float(v[i])!r} for row {int(r[i])}")
    return r, v


class BatchForecaster(abc.ABC):
    """Many series, one row each: the contract the worker's stack and every zoo entry meet.

    * ``add_rows(n)`` returns the ids of ``n`` new rows (fresh models, consecutive ids).
    * ``learn(rows, values)`` learns ``values[j]`` as row ``rows[j]``'s next closed value
      (mutates; rows unique; a bad value raises ValueError and nothing is learnt).
    * ``forecast(rows, horizon)`` never mutates; before any value a row forecasts zeros.
    * ``describe(row)`` is the JSON-ready description of one row's model (``name``,
      ``n_seen``, ``winner``, ``weights``, ...).
    """

    name: str = "batch"

    @property
    @abc.abstractmethod
    def n_rows(self) -> int:
        """How many rows exist."""

    @abc.abstractmethod
    def add_rows(self, n: int) -> np.ndarray:
        """Make ``n`` fresh rows; return their ids."""

    @abc.abstractmethod
    def learn(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Learn one closed value per row."""

    @abc.abstractmethod
    def forecast(self, rows: np.ndarray, horizon: int) -> BatchForecast:
        """Forecast ``horizon`` values ahead for each of ``rows``."""

    @abc.abstractmethod
    def describe(self, row: int) -> dict[str, Any]:
        """The JSON-ready description of row ``row``'s model."""
