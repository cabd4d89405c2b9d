"""Rows of a :class:`~models.bank.ForecasterBank` restored from their exported bytes, many at a
time.

``ForecasterBank.load_row`` restores one row in ~300 us, mostly numpy's fixed cost per call
on tiny arrays; a worker that restarts, or takes partitions over, loads every series' row on
its first touch (100,000 series: ~30 s of CPU). :func:`load_rows` does the same for many rows
of the bank's own layout with one array copy per field and one recomputation per part (the
bands' quantiles, the medians' order statistics, the ensemble and LSTM blend weights), to the
same arrays as ``load_row`` row by row.

>>> import numpy as np
>>> from models.bank import ForecasterBank
>>> a, b = ForecasterBank(), ForecasterBank()
>>> rows = a.add_rows(3); a.learn(rows, np.array([1.0, 5.0, 0.0])); _ = b.add_rows(3)
>>> load_rows(b, [2, 0, 1], a.export_rows([2, 0, 1]))
>>> b.export_rows([0, 1, 2]) == a.export_rows([0, 1, 2])
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from models.bank_blend import inverse_weights
from models.bank_check import check_rows, field_nbytes, row_nbytes
from models.bank_ops import row_fields
from models.orderstat import invalidate

__all__ = ["load_rows", "row_nbytes"]


def load_rows(bank: Any, rows: Sequence[int], raws: Sequence[bytes]) -> None:
    """``bank.load_row(row, raw)`` for each of ``rows`` and ``raws``, every raw of the bank's
    own layout (:func:`row_nbytes`; else ValueError: load those one at a time) and settings
    (:func:`models.bank_check.fits`; else ValueError)."""
    if len(rows) != len(raws):
        raise ValueError(f"{len(rows)} rows but {len(raws)} raws")
    if not len(rows):
        return
    arrays = row_fields(bank)
    full = sum(field_nbytes(a) for a in arrays)
    if any(len(raw) != full for raw in raws):
        raise ValueError(f"every row's bytes must be {full} long (the bank's own layout)")
    check_rows(bank, raws)  # rows of other settings, of the same length (models.bank_check)
    r = bank._rows_of(rows)
    if len(np.unique(r)) != len(r):
        raise ValueError("rows must be distinct")
    k = len(r)
    buf = np.frombuffer(b"".join(raws), dtype=np.uint8).reshape(k, full)
    pos = 0
    for a in arrays:
        size = field_nbytes(a)
        a[r] = buf[:, pos : pos + size].copy().view(a.dtype).reshape((k, *a.shape[1:]))
        pos += size
    n = bank.n[r]
    bank.means.ranked_ok[r] = False  # MeanBank.load
    scored = np.minimum(np.maximum(n - 1, 0), bank.horizon)
    members, bands, blend = bank.members, bank.bands, bank.blend
    members.derive(r)  # MemberBank.load
    h, levels = bands.horizon, len(bands.levels)  # BandBank.load
    invalidate(bands.tq.reshape(-1, levels), bands.tlt.reshape(-1, levels),
               bands.tle.reshape(-1, levels), (r[:, None] * h + np.arange(h)).reshape(-1))
    live = (n > 0) & (bands.count[r, 0] > 0)
    bands.q[r[~live]] = 0.0
    bands._quantiles(r[live])
    bank.weights[r] = 1.0 / members.n_members  # ForecasterBank.load_row
    if blend is not None:
        blend.weights[r] = 0.5  # BlendBank.load
    for s in np.unique(scored[scored > 0]).tolist():
        rs = r[scored == s]
        bank.weights[rs, :, :s] = inverse_weights(bank.errors[rs, :, :s], bank.eps, bank.power,
                                                  members.share, bank.drop)
        if blend is not None:
            blend.weights[rs, :, :s] = inverse_weights(blend.errors[rs, :, :s], blend.eps,
                                                       blend.power)
