"""Array helpers of :class:`~models.bank.ForecasterBank`: the bank-holiday table over epoch
days (of the calendar in use, models.calendar), the holiday factor's step, row descriptions
and the bank's storage.

>>> import numpy as np
>>> bool(is_holiday(np.array([14603]))[0])  # 2009-12-25
True
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from models.calendar import holiday_days, holidays_in_use
from models.online import MAX_LOG

__all__ = ["describe_rows", "export_fields", "from_log", "is_holiday", "learn_holiday",
           "load_fields", "reserve_bank", "row_fields", "start_season", "state_nbytes"]

_TABLE_DAYS = 47_482  # the holiday table covers epoch days 0..47,481 (2100-01-01: MAX_TS)


@cache
def _holiday_table(code: str) -> np.ndarray:
    table = np.zeros(_TABLE_DAYS + 1, dtype=bool)  # the last entry: every later day, False
    table[[d for d in holiday_days(code) if 0 <= d < _TABLE_DAYS]] = True
    return table


def is_holiday(days: np.ndarray) -> np.ndarray:
    """Whether each epoch day (UTC) is a bank holiday of the calendar in use (negative
    days: no)."""
    return _holiday_table(holidays_in_use())[np.clip(days, 0, _TABLE_DAYS)] & (days >= 0)


def describe_rows(bank: Any, rows: list[int], per_horizon: bool = True) -> list[dict[str, Any]]:
    """``[bank.describe(r) for r in rows]`` (:class:`~models.bank.ForecasterBank`) with one
    array step for all of them instead of one per row and horizon. Without ``per_horizon``
    the descriptions leave out ``weights_by_horizon`` and ``winners`` (the horizon-1
    ``weights`` and ``winner`` stay): what the worker publishes with every forecast, where
    the per-horizon lists were two thirds of a daily forecast's bytes and nothing read them."""
    r = np.asarray(rows, dtype=np.int64)
    names = bank.member_names
    if per_horizon:
        by_h = bank.weights[r].transpose(0, 2, 1)  # (rows, h, m), as HorizonEnsemble keeps them
        winners = np.argmax(by_h, axis=2).tolist()
        w_all = by_h.tolist()
    else:
        first = bank.weights[r, :, 0]  # (rows, m): horizon 1
        w_all = [[w] for w in first.tolist()]
        winners = [[k] for k in np.argmax(first, axis=1).tolist()]
    n_all = bank.n[r].tolist()
    factor, count = bank.factor[r].tolist(), bank.bands.count[r, 0].tolist()
    levels = list(bank.levels)
    out = []
    for i, row in enumerate(rows):
        w = w_all[i]
        won = [names[k] for k in winners[i]]
        d: dict[str, Any] = {
            "name": bank.name, "n_seen": n_all[i], "members": list(names),
            "weights": dict(zip(names, w[0], strict=True)), "winner": won[0],
            "holiday_factor": round(factor[i], 3),
            "interval": {"coverage": levels[0], "levels": list(levels), "n": count[i]}}
        if per_horizon:
            d["weights_by_horizon"], d["winners"] = w, won
        out.append(d if bank.blend is None else bank.blend.describe(row, d))
    return out


def state_nbytes(shapes: dict[str, tuple[tuple[int, ...], Any]], names: Sequence[str]) -> int:
    """Bytes of one row of the arrays ``names`` (``shapes``: per-row shape, dtype)."""
    return sum(int(np.prod(shapes[n][0])) * np.dtype(shapes[n][1]).itemsize for n in names)


def load_fields(obj: Any, shapes: dict[str, tuple[tuple[int, ...], Any]],
                names: Sequence[str], row: int, raw: bytes) -> int:
    """Row ``row`` of ``obj``'s arrays ``names`` from the front of ``raw``, in that order (an
    exported row's layout); the bytes read."""
    pos = 0
    for name in names:
        shape, dt = shapes[name]
        count = int(np.prod(shape))
        getattr(obj, name)[row] = np.frombuffer(raw, dtype=dt, count=count,
                                                offset=pos).reshape(shape)
        pos += count * np.dtype(dt).itemsize
    return pos


def grow(obj: Any, shapes: dict[str, tuple[tuple[int, ...], Any]], used: int,
         n: int) -> np.ndarray:
    """``n`` new rows after the first ``used`` of ``obj``'s row arrays (its attributes named in
    ``shapes``: per-row shape, dtype), zeroed; their ids. ``obj.capacity`` at least doubles
    when it grows, so adding rows one at a time costs O(1) each, amortised."""
    rows = np.arange(used, used + n)
    if used + n > obj.capacity:
        reserve(obj, shapes, used, max(used + n, 2 * obj.capacity, 64))
    for name in shapes:
        getattr(obj, name)[rows] = 0
    return rows


def reserve(obj: Any, shapes: dict[str, tuple[tuple[int, ...], Any]], used: int,
            capacity: int) -> None:
    """Room for ``capacity`` rows in ``obj``'s row arrays (see :func:`grow`), its first
    ``used`` rows kept. The new arrays are ``np.zeros``: the OS maps their pages when rows
    first use them, so room costs memory only once it is used."""
    if capacity <= obj.capacity:
        return
    for name, (shape, dt) in shapes.items():
        new: np.ndarray = np.zeros((capacity, *shape), dtype=dt)
        new[:used] = getattr(obj, name)[:used]
        setattr(obj, name, new)
    obj.capacity = capacity


def reserve_bank(bank: Any, capacity: int) -> None:
    """Room for ``capacity`` rows in a :class:`~models.bank.ForecasterBank` and each of its
    parts, so that adding rows up to it never copies the rows already there (a growth copies
    them all at once: from 2,048 rows of the worker's stack to 4,096, 9 ms alone on an idle
    core, and up to ~85 ms of a worker's stalls, sampled, with the broker beside it)."""
    reserve(bank, bank._shapes, bank.n_rows, capacity)
    for part in (bank.members, bank.bands, bank.detector, bank.blend, bank.means):
        if part is not None:
            reserve(part, part._shapes, part.n_rows, capacity)


#: from this many rows on, :func:`export_fields` copies array by array rather than row by row
#: (a fixed ~150 us, then ~12 us a row of the worker's stack, against ~25 us a row)
EXPORT_BY_ARRAY = 16


def row_fields(bank: Any) -> list[np.ndarray]:
    """The row arrays a :class:`~models.bank.ForecasterBank` row's exported bytes are made
    of, in order: the bank's own, then each part's (``ForecasterBank.export_rows`` exports
    them; the loads read them back: ``load_row``, :func:`models.bank_load.load_rows`)."""
    arrays = [getattr(bank, name) for name in bank._STATE]
    for part in (bank.members, bank.bands, bank.detector, bank.blend, bank.means):
        if part is not None:
            arrays.extend(part.state_arrays())
    return arrays


def export_fields(arrays: Sequence[np.ndarray], rows: np.ndarray) -> list[bytes]:
    """The row arrays ``arrays`` at each of ``rows`` as raw bytes: for each row,
    ``b"".join(a[row].tobytes() for a in arrays)``. From :data:`EXPORT_BY_ARRAY` rows on it
    fills a ``(len(rows), bytes a row)`` matrix with one copy per array for all the rows.

    >>> a, b = np.array([1.0, 2.0]), np.array([[3, 4], [5, 6]], dtype=np.int8)
    >>> export_fields([a, b], np.array([1])) == [a[1].tobytes() + bytes([5, 6])]
    True
    >>> export_fields([a, b], np.array([1] * 20)) == 20 * [a[1].tobytes() + bytes([5, 6])]
    True
    """
    if len(rows) < EXPORT_BY_ARRAY:
        return [b"".join(a[row].tobytes() for a in arrays) for row in rows.tolist()]
    sizes = [a.dtype.itemsize * int(np.prod(a.shape[1:])) for a in arrays]
    k = len(rows)
    out = np.empty((k, sum(sizes)), dtype=np.uint8)
    pos = 0
    for a, size in zip(arrays, sizes, strict=True):
        # the columns of ``out`` seen as rows of ``a``: numpy copies into them in one pass
        target = out[:, pos : pos + size].view(a.dtype).reshape((k, *a.shape[1:]))
        np.take(a, rows, axis=0, out=target)
        pos += size
    return [line.tobytes() for line in out]


def learn_holiday(factor: np.ndarray, seen: np.ndarray, rows: np.ndarray, base: np.ndarray,
                  y: np.ndarray, decay: float) -> None:
    """``HolidayAdjusted``'s step for ``rows``, each closing a holiday: ``factor`` learns
    ``y / base`` (in ``[0, 5]``: a holiday of net returns is a holiday without sales, not a
    factor that turns every later holiday's forecast negative; a sale over a zero base: 1,
    none: 0), exponentially weighted with ``decay`` once ``seen`` counts a holiday before.

    >>> factor, seen = np.ones(2), np.zeros(2, dtype=np.int64)
    >>> learn_holiday(factor, seen, np.array([0, 1]), np.array([10.0, 0.0]), np.array([5.0, 3.0]),
    ...               0.7)
    >>> factor.tolist(), seen.tolist()
    ([0.5, 1.0], [1, 1])
    >>> learn_holiday(factor, seen, np.array([0]), np.array([10.0]), np.array([-1000.0]), 0.5)
    >>> factor.tolist()  # net returns on a holiday: a ratio of 0, not -100
    [0.25, 1.0]
    """
    safe = np.where(base > 0, base, 1.0)
    ratio = np.where(base > 0, np.clip(y / safe, 0.0, 5.0), np.where(y > 0, 1.0, 0.0))
    d = np.where(seen[rows] == 0, 0.0, decay)
    factor[rows] = d * factor[rows] + (1.0 - d) * ratio
    seen[rows] += 1


def start_season(level: np.ndarray, seasonal: np.ndarray, total: np.ndarray, rows: np.ndarray,
                 z: np.ndarray, n: np.ndarray, season: int) -> None:
    """Holt-Winters' start over the first ``season`` values (``n < season``): the level is
    their running mean (``total``: their sum), the seasonal terms the values themselves until
    the season is complete, then their deviations from the level."""
    total[rows] = total[rows] + z
    level[rows] = mean = total[rows] / (n + 1)
    seasonal[rows, n] = z
    done = n + 1 == season
    if done.any():
        rd = rows[done]
        seasonal[rd] = seasonal[rd] - mean[done][:, None]


def from_log(z: np.ndarray, n: np.ndarray | None) -> np.ndarray:
    """Holt-Winters' log1p-scale forecasts ``z`` (``(rows, h)``) back to sales, as
    ``HoltWintersLog1p`` does: ``expm1`` capped at 1e12, 0 where ``z`` is not above 0, and 0
    for the rows that learnt nothing yet (``n == 0``; None: every row learnt something)."""
    out: np.ndarray = np.expm1(np.minimum(z, MAX_LOG))
    out[z <= 0.0] = 0.0
    if n is not None:
        out[n == 0] = 0.0
    return out
