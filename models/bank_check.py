"""Whether bytes of a bank row's length are a row of this bank's settings, before they load.

A row persists as bare bytes (:meth:`~models.bank.ForecasterBank.export_row`); its layout is
known by its length. A row saved by a worker with other settings (another horizon, the LSTM
switched on or off, another bucket width) can have the same length as a row of today's
settings, and its bytes then read as nonsense: counters of billions, ring pointers past their
rings. The compiled loops trust those (``models.window_kernels``) and would read and write
out of bounds. :func:`fits` checks every counter and pointer a row holds against the bounds
any row of this bank keeps, so that such a row is refused with ValueError (the worker then
starts a fresh model for that series) instead of loaded:

* the values learnt ``n`` >= 0, the epoch day -1 (undated) or later, the holidays seen in
  ``[0, n]``;
* each rolling median's ring pointer within its ring;
* the bands' ring pointers within their window, their counts in ``[0, min(window, n)]``,
  their ACI miss rates in ``[0, 1]``;
* the LSTM blend's path length in ``[0, horizon]``;
* the lead-time total's window pointer and count within its window.

>>> import numpy as np
>>> from models.bank import ForecasterBank
>>> daily = ForecasterBank(horizon=14)
>>> rows = daily.add_rows(1)
>>> daily.learn(rows, np.array([3.0]))
>>> fits(daily, [daily.export_row(0), b"short"]).tolist()
[True, False]
>>> bad = bytearray(daily.export_row(0)); bad[:8] = (-5).to_bytes(8, "little", signed=True)
>>> fits(daily, [bytes(bad)]).tolist()  # a row whose count of values is negative
[False]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from models.bank_ops import row_fields

__all__ = ["fits", "check_rows", "field_nbytes", "in_todays_layout", "row_nbytes"]


def _views(bank: Any, raws: Sequence[bytes], arrays: Sequence[np.ndarray],
           ) -> dict[int, np.ndarray]:
    """Row arrays ``arrays`` of ``bank`` (by ``id``) as the ``raws``' values, ``(len(raws),
    ...)``; only their bytes are read (a restart checks 100,000 rows of ~16 KB)."""
    want, spans, pos = {id(a) for a in arrays}, [], 0
    for a in row_fields(bank):
        size = field_nbytes(a)
        if id(a) in want:
            spans.append((a, pos, size))
        pos += size
    width = sum(size for _, _, size in spans)
    buf = np.frombuffer(b"".join(raw[at : at + size] for raw in raws for _, at, size in spans),
                        dtype=np.uint8).reshape(len(raws), width)
    out, col = {}, 0
    for a, _, size in spans:
        out[id(a)] = buf[:, col : col + size].copy().view(a.dtype).reshape(
            (len(raws), *a.shape[1:]))
        col += size
    return out


def field_nbytes(a: np.ndarray) -> int:
    """Bytes of one row of row array ``a``."""
    return a.dtype.itemsize * int(np.prod(a.shape[1:]))


def row_nbytes(bank: Any) -> int:
    """The length of a row's bytes in ``bank``'s own layout (older layouts differ)."""
    return sum(field_nbytes(a) for a in row_fields(bank))


def _within(values: np.ndarray, lo: float, hi: Any) -> np.ndarray:
    """Per row, whether every value is in ``[lo, hi]`` (``hi``: a number, or one per row; NaN
    is in no range)."""
    v = values.reshape(len(values), -1)
    top = np.reshape(hi, (len(values), 1)) if np.ndim(hi) else hi
    return np.asarray(((v >= lo) & (v <= top)).all(axis=1))


def fits(bank: Any, raws: Sequence[bytes]) -> np.ndarray:
    """Per raw, whether it has the length of a row of ``bank`` and every counter and pointer
    in it is in range (see the module docstring)."""
    full = row_nbytes(bank)
    ok = np.array([len(raw) == full for raw in raws], dtype=bool)
    if not ok.any():
        return ok
    members, bands, means = bank.members, bank.bands, bank.means
    ptrs = [getattr(members, f"med{i}_ptr") for i in range(len(members.windows))]
    checked = [bank.n, bank.day, bank.holidays_seen, *ptrs, bands.ptr, bands.count,
               bands.alphas, means.ptr, means.count]
    if bank.blend is not None:
        checked.append(bank.blend.plen)
    v = _views(bank, [raw for raw, good in zip(raws, ok, strict=True) if good], checked)
    n, day = v[id(bank.n)], v[id(bank.day)]
    good = (n >= 0) & (day >= -1)
    good &= _within(v[id(bank.holidays_seen)], 0, n)
    for i, ptr in enumerate(ptrs):
        good &= _within(v[id(ptr)], 0, getattr(members, f"med{i}").shape[1] - 1)
    good &= _within(v[id(bands.ptr)], 0, bands.window - 1)
    counts = v[id(bands.count)]
    good &= _within(counts, 0, bands.window) & (counts <= n[:, None]).all(axis=1)
    good &= _within(v[id(bands.alphas)], 0.0, 1.0)
    if bank.blend is not None:
        good &= _within(v[id(bank.blend.plen)], 0, bank.horizon)
    good &= _within(v[id(means.ptr)], 0, means.window - 1)
    good &= _within(v[id(means.count)], 0, means.window)
    ok[ok] = good
    return ok


def in_todays_layout(bank: Any, raw: bytes, det: int, mean: int) -> bytes:
    """``raw``, a row of an older variant of ``bank``'s layout (a ``det``-byte detector, a
    ``mean``-byte mean part, possibly none), with those two parts zeros of today's sizes:
    what :func:`fits` checks, so that a row of other settings whose length is an older
    variant's is refused too (one loaded unchecked crashed the next close)."""
    today_det, today_mean = bank.detector.nbytes(), bank.means.nbytes()
    if (det, mean) == (today_det, today_mean):
        return raw
    at = len(raw) - mean - det - (bank.blend.nbytes() if bank.blend is not None else 0)
    return raw[:at] + bytes(today_det) + raw[at + det : len(raw) - mean] + bytes(today_mean)


def check_rows(bank: Any, raws: Sequence[bytes]) -> None:
    """ValueError unless every one of ``raws`` :func:`fits` ``bank``."""
    bad = np.flatnonzero(~fits(bank, raws))
    if len(bad):
        raise ValueError(
            f"{len(bad)} of {len(raws)} raws are not rows of this bank's settings (first: "
            f"#{int(bad[0])}, {len(raws[int(bad[0])])} bytes): a row saved with another "
            "horizon, bucket width or LSTM setting?")
