"""Rows saved by an older layout of the forecaster bank, brought up to today's layout.

A bank row persists as bytes (:meth:`~models.bank.ForecasterBank.export_row`), so a worker
that is upgraded finds rows of the layout before in its changelog. :func:`upgrade` turns such
a row into one of today's layout, which :meth:`~models.bank.ForecasterBank.load_row` then
loads as usual (it calls :func:`upgrade` itself when the bytes do not fit).

Bytes that are no row of either layout raise ValueError. Layouts so far:

* **Before the seasonal median** (five members, ``cycles=0``). The upgraded row's seasonal
  median starts from the last season the row learnt (the values seasonal naive keeps), and
  with seasonal naive's record: its pending forecasts and its errors per horizon. The
  ensemble weighs it as it weighed seasonal naive until its own errors replace those, and
  every other part of the row is carried over unchanged.

>>> import numpy as np
>>> from models.bank import ForecasterBank
>>> old, new = ForecasterBank(horizon=7, cycles=0), ForecasterBank(horizon=7)
>>> rows = old.add_rows(1)
>>> for y in [0, 0, 3, 8, 4, 0, 1] * 20:
...     old.learn(rows, np.array([y]))
>>> row = new.add_rows(1)[0]
>>> new.load_row(row, old.export_row(0))  # a five-member row, upgraded on the way in
>>> new.member_names[-1], new.forecast([row], 7).yhat.round(1).tolist()
('seasonal_median', [[0.0, 0.0, 3.0, 8.0, 4.0, 0.0, 1.0]])
>>> upgrade(new, b"not a row")
Traceback (most recent call last):
...
ValueError: raw must be a row of this bank (6852 bytes), got 9 bytes
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["upgrade"]


def upgrade(bank: Any, raw: bytes) -> bytes:
    """``raw``, a row of the layout before ``bank``'s, as a row of ``bank``'s layout;
    ValueError when it is no row of an older layout either."""
    params = (bank.__class__, bank.horizon, bank.season, bank.window, bank.coverage,
              bank.holiday_decay, bank.blend is not None)
    new = _one_row(*params, bank.members.cycles)
    if bank.members.cycles:  # the layout before: no seasonal median
        old = _one_row(*params, 0)
        try:
            old.load_row(0, raw)
        except ValueError:
            pass
        else:
            return _carry(old, new)
    raise ValueError(f"raw must be a row of this bank ({len(new.export_row(0))} bytes), "
                     f"got {len(raw)} bytes")


def _carry(old: Any, new: Any) -> bytes:
    """Row 0 of ``old`` (five members) into row 0 of ``new`` (six), as bytes."""
    for name in new._STATE:  # the ensemble's own arrays (row 0 as a view)
        src, dst = getattr(old, name)[:1], getattr(new, name)[:1]
        if name == "errors":  # (row, members, h)
            dst[:, :-1], dst[:, -1] = src, src[:, 0]
        elif name == "due":  # (row, slot, members, h)
            dst[:, :, :-1], dst[:, :, -1] = src, src[:, :, 0]
        else:
            dst[:] = src
    om, nm = old.members, new.members
    for name in om._state():
        getattr(nm, name)[:1] = getattr(om, name)[:1]
    m, n = om.season, int(old.n[0])
    slot = np.arange(m)
    t = n - 1 - (n - 1 - slot) % m  # when each slot was last learnt (< 0: never)
    seen = t >= 0
    nm.smed[0] = np.nan
    nm.smed[0, slot[seen], (t[seen] // m) % nm.cycles] = om.naive[0, seen]
    for part in ("bands", "detector", "blend", "means"):
        if getattr(old, part) is not None:
            for src, dst in zip(getattr(old, part).state_arrays(),
                                getattr(new, part).state_arrays(), strict=True):
                dst[:1] = src[:1]
    out: bytes = new.export_row(0)
    return out


@lru_cache(maxsize=8)
def _one_row(cls: Any, horizon: int, season: int, window: int, coverage: float,
             holiday_decay: float, lstm: bool, cycles: int) -> Any:
    """A bank of one row with these parameters (reused: every load overwrites the row)."""
    bank = cls(horizon, season, window, coverage, holiday_decay, lstm, cycles=cycles)
    bank.add_rows(1)
    return bank
