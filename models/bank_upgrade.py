"""Rows saved by an older layout of the forecaster bank, brought up to today's layout.

A bank row persists as bytes (:meth:`~models.bank.ForecasterBank.export_row`), so a worker
that is upgraded finds rows of the layout before in its changelog. :func:`upgrade` turns such
a row into one of today's layout, which :meth:`~models.bank.ForecasterBank.load_row` then
loads as usual (it calls :func:`upgrade` itself when the bytes do not fit).

Bytes that are no row of an older layout raise ValueError. Layouts so far, each upgraded to
the next:

* **Before the seasonal median** (five members, ``cycles=0``). The upgraded row's seasonal
  median starts from the last season the row learnt (the values seasonal naive keeps), and
  with seasonal naive's record: its pending forecasts and its errors per horizon. The
  ensemble weighs it as it weighed seasonal naive until its own errors replace those, and
  every other part of the row is carried over unchanged.
* **Before the second season** (buckets that divide a day, :func:`~models.seasons.season2_for`:
  the six members above only). The upgraded row's second-season naive repeats its last first
  season (hourly: the last day, for each day of the week), its second-season median has no
  value yet, and the two start with the records of seasonal naive and the seasonal median.
* **Before the trend member** (buckets of more than a day, :func:`~models.seasons.trend_for`).
  The upgraded row's damped-trend Holt-Winters starts from its Holt-Winters (level, seasonal
  terms) with no trend, and with Holt-Winters' record.
* **Square rings** (any of the layouts above, before 2026-12-07): the forecasts waiting for
  their value (the ensemble's, the bands' and the LSTM blend's) were kept in ``h x h`` rings;
  they move to :mod:`models.pending`'s triangles, every waiting forecast kept
  (:func:`from_squares`).

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
ValueError: raw must be a row of this bank (6264 bytes), got 9 bytes
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from models import pending
from models.bank_anomaly import DetectorBank
from models.bank_check import field_nbytes

__all__ = ["upgrade", "from_squares"]


def upgrade(bank: Any, raw: bytes) -> bytes:
    """``raw``, a row of an older layout than ``bank``'s, as a row of ``bank``'s layout;
    ValueError when it is no row of an older layout either."""
    tri = from_squares(bank, raw)
    if tri is not None:
        return tri
    *params, cycles, season2, trend = _params(bank)
    new = _one_row(*params, cycles, season2, trend)
    # the layout before: no trend member; or no second season's members; or no seasonal median
    before = ((cycles, season2, False) if trend else (cycles, 0, False) if season2
              else (0, 0, False) if cycles else None)
    if before is not None:
        old = _one_row(*params, *before)
        try:
            old.load_row(0, raw)  # upgraded from a layout older still, where it is one
        except ValueError:
            pass
        else:
            return _carry(old, new)
    raise ValueError(f"raw must be a row of this bank ({len(new.export_row(0))} bytes), "
                     f"got {len(raw)} bytes")


def from_squares(bank: Any, raw: bytes) -> bytes | None:
    """``raw``, a row of ``bank``'s members saved with square rings, with triangles instead
    (of the same detector and mean variant, which ``load_row`` reads); None when its length
    is no such row's."""
    h, lengths, starts = _squares(*_params(bank))
    if len(raw) not in lengths:
        return None
    n = int(np.frombuffer(raw, dtype=np.int64, count=1)[0])
    out, pos = [], 0
    for at, c in starts(lengths[len(raw)]):
        sq = np.frombuffer(raw, dtype=np.float32, count=h * c * h, offset=at).reshape(h, c, h)
        out += [raw[pos:at], pending.from_square(sq, n).tobytes()]
        pos = at + h * c * h * 4
    return b"".join([*out, raw[pos:]])


def _params(bank: Any) -> tuple[Any, ...]:
    """What a bank's layout follows: the arguments :func:`_one_row` makes one with."""
    return (bank.__class__, bank.horizon, bank.season, bank.window, bank.coverage,
            bank.holiday_decay, bank.blend is not None, bank.members.cycles,
            bank.members.season2, bank.members.trend)


@lru_cache(maxsize=16)
def _squares(*params: Any) -> tuple[int, dict[int, int], Any]:
    """For a bank of ``params``: its horizon; each length a row of its members with square
    rings can have -> its detector's bytes; and where its square rings start, given those."""
    bank = _one_row(*params)
    h, blend = bank.horizon, bank.blend
    grown = h * h * 4 - pending.cells(h) * 4  # what a square ring has more, per member
    own = _nbytes(bank, bank._STATE) + grown * bank.members.n_members
    mem, band = bank.members.nbytes(), bank.bands.nbytes() + grown
    body = own + mem + band + (blend.nbytes() + 2 * grown if blend else 0)
    lengths = {body + d + m: d for m in (0, bank.means.nbytes())
               for d in (DetectorBank.LEGACY_BYTES, bank.detector.nbytes())}
    # the ensemble's ring after its fields before "due", the bands' last in their part, the
    # blend's after the detector and its own fields before "due"
    rings = [(_nbytes(bank, bank._STATE[: bank._STATE.index("due")]),
              bank.members.n_members), (own + mem + band - h * h * 4, 1)]
    blend_at = (own + mem + band + _nbytes(blend, blend._STATE[: blend._STATE.index("due")])
                if blend is not None else None)

    def starts(det: int) -> list[tuple[int, int]]:
        return rings if blend_at is None else [*rings, (blend_at + det, 2)]

    return h, lengths, starts


def _nbytes(part: Any, names: Any) -> int:
    """Bytes a row of ``part``'s arrays ``names`` takes (:func:`models.bank_check.field_nbytes`)."""
    return sum(field_nbytes(getattr(part, name)) for name in names)


def _carry(old: Any, new: Any) -> bytes:
    """Row 0 of ``old`` into row 0 of ``new``, which has ``old``'s members and then one or two
    more (the seasonal median; the second season's naive and median; or the trend member),
    as bytes. A new member starts with the record (errors, pending forecasts) of the old
    member it extends."""
    om, nm = old.members, new.members
    k = om.n_members
    # the trend member extends Holt-Winters; the second season's naive and median, seasonal
    # naive and the seasonal median; the seasonal median, seasonal naive
    sources = ([1 + len(om.windows)] if nm.trend and not om.trend else
               [0, k - 1 if om.cycles else 0] if nm.season2 else [0])
    for name in new._STATE:  # the ensemble's own arrays (row 0 as a view)
        src, dst = getattr(old, name)[:1], getattr(new, name)[:1]
        if name == "errors":  # (row, members, h)
            dst[:, :k], dst[:, k:] = src, src[:, sources]
        elif name == "due":  # (row, cell, members)
            dst[:, :, :k], dst[:, :, k:] = src, src[:, :, sources]
        else:
            dst[:] = src
    for name in om._state():
        getattr(nm, name)[:1] = getattr(om, name)[:1]
    n = int(old.n[0])
    if nm.trend and not om.trend:  # Holt-Winters' state, with no trend yet
        nm.td_level[0], nm.td_trend[0] = om.hw_level[0], 0.0
        nm.td_seasonal[0], nm.td_sum[0] = om.hw_seasonal[0], om.hw_sum[0]
    elif nm.season2:
        _start_second_season(om, nm, n)
    else:
        _start_seasonal_median(om, nm, n)
    for part in ("bands", "detector", "blend", "means"):
        if getattr(old, part) is not None:
            for src, dst in zip(getattr(old, part).state_arrays(),
                                getattr(new, part).state_arrays(), strict=True):
                dst[:1] = src[:1]
    out: bytes = new.export_row(0)
    return out


def _last_learnt(n: int, season: int) -> np.ndarray:
    """When each slot of ``season`` was last learnt, ``n`` values learnt (< 0: never)."""
    slot = np.arange(season)
    out: np.ndarray = n - 1 - (n - 1 - slot) % season
    return out


def _start_seasonal_median(om: Any, nm: Any, n: int) -> None:
    """The seasonal median of an upgraded row: the last season the row learnt (what seasonal
    naive keeps)."""
    m = om.season
    t = _last_learnt(n, m)
    seen = t >= 0
    nm.smed[0] = np.nan
    nm.smed[0, np.arange(m)[seen], (t[seen] // m) % nm.cycles] = om.naive[0, seen]


def _start_second_season(om: Any, nm: Any, n: int) -> None:
    """The second season of an upgraded row: its naive repeats the last first season (for
    hourly buckets, the last day stands for each day of the last week), its median has no
    value yet (it says the first season's median until it learns)."""
    t = _last_learnt(n, nm.season2)
    nm.naive2[0] = np.where(t >= 0, om.naive[0, t % om.season], 0.0)
    nm.smed2[0] = np.nan


@lru_cache(maxsize=8)
def _one_row(cls: Any, horizon: int, season: int, window: int, coverage: float,
             holiday_decay: float, lstm: bool, cycles: int, season2: int, trend: bool) -> Any:
    """A bank of one row with these parameters (reused: every load overwrites the row)."""
    bank = cls(horizon, season, window, coverage, holiday_decay, lstm, cycles=cycles,
               season2=season2, trend=trend)
    bank.add_rows(1)
    return bank
