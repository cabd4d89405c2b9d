"""The LSTM blend for many rows: :class:`~models.factory.LstmBlend` as array operations.

:class:`BlendBank` is the outer per-horizon ensemble of two members, the online ensemble's path
and the LSTM's (an :class:`~models.external.ExternalPath`: a path set from outside, one step
consumed per learnt value, the online path when there is none), weighted mean, squared
inverse-error weights earned per horizon. LSTM paths are a per-row array input
(:meth:`BlendBank.set_paths`); torch is never imported. :func:`reweight` is the weight update
of :class:`~models.horizon.HorizonEnsemble`, shared with the bank's inner ensemble.

>>> import numpy as np
>>> b = BlendBank(horizon=2)
>>> rows = b.add(1)
>>> b.update(rows, np.array([3.0]), np.array([0]), np.array([[3.0, 3.0]])).tolist()
[[3.0, 3.0]]
>>> b.set_paths(rows, np.array([[9.0, 9.0]]), "v7", np.array([1]))
>>> b.yhat[0].tolist(), b.version(0)
([6.0, 6.0], 'v7')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models import pending
from models.bank_ops import grow, load_fields, state_nbytes
from models.external import LSTM_PRIOR
from models.kernels import normalised_weights, scored_errors
from models.orderstat import rows_index

__all__ = ["BlendBank", "inverse_weights", "reweight"]

_F32 = np.float32
VERSION_BYTES = 64  # a version name is kept in a fixed field of this many bytes


def inverse_weights(e: np.ndarray, eps: float, power: float, share: np.ndarray | None = None,
                    drop: float | None = None) -> np.ndarray:
    """``HorizonEnsemble``'s weights from its errors ``e`` ``(K, m, h)``: ``share`` each
    member's share (``(m,)``; None: all 1), ``drop`` its ratio to the best error above which a
    member gets none (None: no such ratio); :func:`models.kernels.normalised_weights`."""
    return normalised_weights(e, eps, power, share, drop)


def reweight(errors: np.ndarray, weights: np.ndarray, rows: np.ndarray, due: np.ndarray,
             x: np.ndarray, n: np.ndarray, decay: float, eps: float, power: float,
             share: np.ndarray | None = None, drop: float | None = None) -> np.ndarray:
    """``HorizonEnsemble.update``'s errors and weights of ``rows``, in place in ``errors`` and
    ``weights`` (``(N, m, h)`` float64), scored against ``x`` by the forecasts of it waiting
    in ``due`` (``(N, cells, m)`` float32 rings, :mod:`models.pending`; errors in float32 as
    the per-object code), ``n`` values learnt before, ``share`` and ``drop`` as
    :func:`inverse_weights` takes them. Returns the rows' new weights."""
    h = errors.shape[2]
    ix = rows_index(rows)
    e, w = errors[ix], weights[ix]  # views when the rows are a run
    steady = bool(len(n)) and int(n.min()) > h  # every horizon scored before
    if steady:
        scored_errors(e, due, rows, n, x, decay, out=e)
        normalised_weights(e, eps, power, share, drop, out=w)
    else:
        err = np.abs(x.astype(_F32)[:, None, None] - pending.read(due, rows, n))
        ewm = e * decay + (_F32(1.0 - decay) * err)
        k = np.arange(h)
        scored = np.minimum(n, h)[:, None]  # horizons k <= scored have a forecast of the value
        first = ((n <= h)[:, None] & (k == scored - 1))[:, None, :]  # scored the first time
        upd = (k < scored)[:, None, :]
        e = np.where(first, err, np.where(upd, ewm, e))
        w = np.where(upd, inverse_weights(e, eps, power, share, drop), w)
    if not (steady and isinstance(ix, slice)):  # not written in place: write them back
        errors[ix], weights[ix] = e, w
    return w


class BlendBank:
    """The online path and the LSTM path blended per horizon (see the module docstring)."""

    errors: np.ndarray
    weights: np.ndarray
    due: np.ndarray
    yhat: np.ndarray
    online: np.ndarray
    path: np.ndarray
    plen: np.ndarray
    vname: np.ndarray

    def __init__(self, horizon: int = 14, decay: float = 0.95, power: float = 2.0,
                 eps: float = 1e-6) -> None:
        self.horizon, self.decay, self.power, self.eps = horizon, decay, power, eps
        h = horizon
        self._shapes: dict[str, tuple[tuple[int, ...], type]] = {
            "errors": ((2, h), np.float64), "due": ((pending.cells(h), 2), _F32),
            "yhat": ((h,), np.float64), "online": ((h,), np.float64),
            "path": ((h,), np.float64), "plen": ((), np.int64),
            "vname": ((VERSION_BYTES,), np.uint8), "weights": ((2, h), np.float64),
        }
        self.capacity = self.n_rows = 0
        for name, (shape, dt) in self._shapes.items():
            setattr(self, name, np.zeros((0, *shape), dtype=dt))

    def add(self, n: int) -> np.ndarray:
        rows = grow(self, self._shapes, self.n_rows, n)
        self.weights[rows] = 0.5
        self.n_rows += n
        return rows

    _STATE = ("errors", "due", "yhat", "online", "path", "plen", "vname")

    def nbytes(self) -> int:
        return state_nbytes(self._shapes, self._STATE)

    def state_arrays(self) -> list[np.ndarray]:
        """The row arrays a row's exported state is made of, in order."""
        return [getattr(self, name) for name in self._STATE]

    def load(self, row: int, raw: bytes, n_seen: int) -> None:
        load_fields(self, self._shapes, self._STATE, row, raw)
        scored = min(max(n_seen - 1, 0), self.horizon)
        self.weights[row] = 0.5
        if scored:
            self.weights[row, :, :scored] = inverse_weights(
                self.errors[row : row + 1, :, :scored], self.eps, self.power)[0]

    def version(self, row: int) -> str | None:
        """The version of row ``row``'s latest LSTM path (None: never given one)."""
        raw = self.vname[row].tobytes().rstrip(b"\x00")
        return raw.decode() if raw else None

    def _lstm(self, ix: slice | np.ndarray, online: np.ndarray) -> np.ndarray:
        """The LSTM member's forecasts: its path (its last value repeated past its end), or the
        online path where it has none."""
        plen = self.plen[ix]
        k = np.arange(self.horizon)
        last = np.take_along_axis(self.path[ix], np.maximum(plen - 1, 0)[:, None], axis=1)
        ext = np.where(k < plen[:, None], self.path[ix], last)
        return np.where((plen > 0)[:, None], ext, online)

    def update(self, rows: np.ndarray, x: np.ndarray, n: np.ndarray,
               online: np.ndarray) -> np.ndarray:
        """Learn ``x`` (``n``: values learnt before it; ``online``: the online ensemble's path
        after learning it); return the blended path."""
        ix = rows_index(rows)
        w = reweight(self.errors, self.weights, rows, self.due, x, n, self.decay, self.eps,
                     self.power)
        self.online[ix] = online
        plen = self.plen[ix]
        if (plen > 0).any():  # the LSTM member consumes one step of its path
            path = self.path[ix]
            path[:, :-1] = np.where((plen > 0)[:, None], path[:, 1:], path[:, :-1])
            self.path[ix] = path
            self.plen[ix] = np.maximum(plen - 1, 0)
        ext = self._lstm(ix, online)
        pending.write(self.due, rows, n + 1, np.stack([online, ext], axis=1))
        self.yhat[ix] = yhat = w[:, 0] * online + w[:, 1] * ext
        return yhat

    def set_paths(self, rows: np.ndarray, paths: np.ndarray, version: str,
                  n: np.ndarray) -> None:
        """Give ``rows`` their LSTM paths (``(K, L)``, ``1 <= L <= horizon``, finite) and
        refresh the blend of the rows that have learnt a value (``n > 0``)."""
        h = self.horizon
        if paths.ndim != 2 or not 1 <= paths.shape[1] <= h or not np.isfinite(paths).all():
            raise ValueError(f"paths must be finite, 1 to {h} values a row, got shape "
                             f"{paths.shape}")
        name = version.encode()
        if len(name) > VERSION_BYTES:
            raise ValueError(f"version must be at most {VERSION_BYTES} bytes, got {version!r}")
        first = ~self.vname[rows].any(axis=1)  # never given a path: not scored yet
        for r, seen in zip(rows[first].tolist(), n[first].tolist(), strict=True):
            scored = min(max(seen - 1, 0), h)  # the horizons scored so far
            if scored:
                self.errors[r, 1, :scored] = LSTM_PRIOR * self.errors[r, 0, :scored]
                self.weights[r, :, :scored] = inverse_weights(
                    self.errors[r : r + 1, :, :scored], self.eps, self.power)[0]
        self.path[rows, : paths.shape[1]] = paths
        self.plen[rows] = paths.shape[1]
        self.vname[rows] = np.frombuffer(name.ljust(VERSION_BYTES, b"\x00"), dtype=np.uint8)
        seen = n > 0
        r = rows[seen]
        if len(r):
            online = self.online[r]
            w, ext = self.weights[r], self._lstm(r, online)
            self.yhat[r] = w[:, 0] * online + w[:, 1] * ext

    def describe(self, row: int, online: dict[str, Any]) -> dict[str, Any]:
        """``LstmBlend.describe``: the online stack's description ``online`` of ``row`` with
        the LSTM's share (unchanged while the row has no LSTM path)."""
        version = self.version(row)
        if version is None:
            return online
        w_online, w_lstm = self.weights[row, :, 0].tolist()
        weights = {k: v * w_online for k, v in online["weights"].items()}
        weights["lstm"] = w_lstm
        return online | {"weights": weights, "winner": max(weights, key=lambda k: weights[k]),
                         "members": [*online["members"], "lstm"], "lstm_version": version,
                         "blend": {"online": w_online, "lstm": w_lstm}}
