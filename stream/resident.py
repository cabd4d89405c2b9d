"""One partition's models: its series' rows in :class:`~models.bank.ForecasterBank` segments,
and which state object each row belongs to.

A row is current for exactly one :class:`~stream.series_state.SeriesState` object, its owner
(the one it was loaded into or made for; ``st.holder`` is the resident): a state read from
the table that is not that object (after a restart, a rebalance, or a state that went back to
the changelog) gets its row loaded from its bytes, so the bank never runs ahead of, or behind,
the table. An owner keeps no copy of its row (``st.row`` is out of date; pickling the state
exports the row): before a row leaves its owner, the resident writes it into the owner's
``row`` (:meth:`Resident.release`).

The rows live in banks of :data:`SEGMENT` rows each, made with room for all of them. A bank
grows by copying its arrays into arrays twice as large: in one bank, a partition's 25,000th
row copied about 200 MB at once and held up the worker's event loop for up to 260 ms (py-spy,
``bench scale`` with 100,000 series on 4 partitions); in segments that grew, the growths
from 2,048 rows to 4,096 still held it up for 60-180 ms. A segment's arrays are made at full
size once (``np.zeros``: the OS maps their pages as rows first use them, so the room costs
memory only once used) and never grow. A row's id is ``segment * SEGMENT + its row in that
bank``.

>>> res = Resident(horizon=14, lstm=False)
>>> ids = res.add_rows(SEGMENT + 2)
>>> len(res.banks), ids[-1] == SEGMENT + 1
(2, True)
>>> [(len(local), int(pos[0])) for _, local, pos in res.segments(ids)]
[(4096, 0), (2, 4096)]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from models.bank import ForecasterBank
from models.bank_check import fits
from models.bank_load import load_rows, row_nbytes
from models.bank_mean import lead_total
from models.bank_ops import describe_rows, reserve_bank
from models.bank_upgrade import from_squares
from models.factory import Forecast
from models.seasons import season2_for, season_for, trend_for
from stream.series_state import SeriesState

__all__ = ["SEGMENT", "Resident", "forecast_states"]

log = logging.getLogger(__name__)

SEGMENT = 4096  # rows of one bank (~13 KB a daily row, ~26 KB hourly: ~55-105 MB of room)


class Resident:
    """One partition's banks (their seasons and trend member from the bucket ``width``:
    :func:`season_for`, :func:`season2_for`, :func:`trend_for`) and which series' state each
    row holds."""

    def __init__(self, horizon: int, lstm: bool, width: int = 86400) -> None:
        self.horizon, self.season, self.lstm = horizon, season_for(width), lstm
        self.season2, self.trend = season2_for(width), trend_for(width)
        self.banks = [self._bank()]
        self.row_size = row_nbytes(self.bank)  # a row's bytes in the banks' own layout
        self.rows: dict[str, int] = {}
        self.owner: dict[str, SeriesState] = {}
        self.unloadable = 0  # series whose row could not be loaded (:meth:`_unloadable`)

    def _bank(self) -> ForecasterBank:
        bank = ForecasterBank(self.horizon, self.season, lstm=self.lstm, season2=self.season2,
                              trend=self.trend)
        reserve_bank(bank, SEGMENT)  # never grows: its pages are mapped as rows use them
        return bank

    @property
    def bank(self) -> ForecasterBank:
        """The first bank (what every bank shares: horizon, members, levels)."""
        return self.banks[0]

    def add_rows(self, n: int) -> list[int]:
        """``n`` fresh rows, in the last bank while it has room, then in new ones; their ids."""
        ids: list[int] = []
        while len(ids) < n:
            if self.banks[-1].n_rows >= SEGMENT:
                self.banks.append(self._bank())
            bank, base = self.banks[-1], (len(self.banks) - 1) * SEGMENT
            k = min(n - len(ids), SEGMENT - bank.n_rows)
            ids.extend((base + bank.add_rows(k)).tolist())
        return ids

    def locate(self, row: int) -> tuple[ForecasterBank, int]:
        """The bank of row id ``row``, and its row there."""
        return self.banks[row // SEGMENT], row % SEGMENT

    def segments(self, rows: Sequence[int]) -> list[tuple[ForecasterBank, np.ndarray,
                                                          np.ndarray]]:
        """For each bank that ``rows`` (ids) fall in: the bank, their rows there, and their
        positions in ``rows``."""
        r = np.asarray(rows, dtype=np.int64)
        if not len(r):
            return []
        seg = r // SEGMENT
        first, last = int(seg.min()), int(seg.max())
        if first == last:  # the usual case: one bank
            return [(self.banks[first], r - first * SEGMENT, np.arange(len(r)))]
        out = []
        for s in np.unique(seg).tolist():
            pos = np.nonzero(seg == s)[0]
            out.append((self.banks[s], r[pos] - s * SEGMENT, pos))
        return out

    def holds(self, st: SeriesState) -> bool:
        return self.owner.get(st.series) is st

    def export_of(self, st: SeriesState) -> bytes:
        """The bytes of the row that ``st`` owns (:meth:`SeriesState.model_bytes`)."""
        bank, local = self.locate(self.rows[st.series])
        return bank.export_rows([local])[0]

    def release(self, states: list[SeriesState]) -> None:
        """Each of ``states`` that owns its row gets the row's bytes in ``st.row`` and owns it
        no more (before another object takes the row, or the bank goes)."""
        held = [st for st in states if self.holds(st)]
        for bank, local, pos in self.segments([self.rows[st.series] for st in held]):
            for p, raw in zip(pos.tolist(), bank.export_rows(local), strict=True):
                st = held[p]
                st.row, st.holder = raw, None
                del self.owner[st.series]

    def detach(self) -> None:
        """Before the resident goes: its owners forget it (a state and its holder refer to
        each other; left so, every state would keep the whole resident alive until the
        garbage collector found the cycle, which :mod:`stream.heap` may put off for long).
        Only states that are not pickled again may be left owning a row: their ``row`` is
        out of date (:meth:`release` the others first)."""
        for st in self.owner.values():
            st.holder = None
        self.owner.clear()

    def _claim(self, states: list[SeriesState]) -> None:
        """States whose row another resident holds (the processor's one-row bank of
        forecasts, another partition's) get their bytes from it first."""
        for st in states:
            if st.holder is not None and st.holder is not self:
                st.holder.release([st])

    def _own(self, st: SeriesState, row: int) -> None:
        """Make ``row`` the row of ``st``, which then owns it (its callers release the owner
        before, while the row still holds that owner's model)."""
        self.rows[st.series], self.owner[st.series], st.holder = row, st, self
        st.packed_row = None  # a row new to the state (``stream.state.pack``)

    def row(self, st: SeriesState) -> int:
        """``st``'s row, loaded from ``st.row`` unless the bank holds that very state."""
        sid = st.series
        row = self.rows.get(sid)
        if row is not None and self.owner.get(sid) is st:
            return row
        self._claim([st])
        prev = self.owner.get(sid)
        if prev is not None:  # its row is about to be overwritten, or to be another's
            self.release([prev])
        if row is None or not st.row:  # a fresh model for a state that has none yet
            row = self.add_rows(1)[0]
        if st.row:
            bank, local = self.locate(row)
            try:
                bank.load_row(local, st.row)
            except ValueError as exc:  # a layout this version cannot read: a fresh model
                self._unloadable(sid, exc)
                row = self.add_rows(1)[0]
        self._own(st, row)
        st.row = b""  # the bank holds it now
        return row

    def _unloadable(self, sid: str, exc: ValueError) -> None:
        """Say that ``sid``'s row could not be loaded: the first 5 series by name, then a
        count at 10, 100, 1,000, ... (a probe's change of horizon printed 3,879 lines)."""
        self.unloadable = n = self.unloadable + 1
        if n <= 5:
            log.warning("series %s: its model row cannot be loaded (%s); it starts a fresh "
                        "model, its events and counts are kept", sid, exc)
        elif n >= 10 and str(n).strip("0") == "1":
            log.warning("%d series so far started a fresh model: their rows cannot be loaded "
                        "(the last: %s, %s)", n, sid, exc)

    def load(self, states: list[SeriesState]) -> None:
        """Load the rows :meth:`row` would load of ``states`` (those with bytes of the
        bank's own layout), in one call per bank (~430 us a row, one at a time)."""
        self._claim(states)
        todo = list({st.series: st for st in states if not self.holds(st) and st.row}.values())
        for st in todo:  # rows saved before the triangles of models.pending, made today's
            if len(st.row) != self.row_size:
                st.row = from_squares(self.bank, st.row) or st.row
        todo = [st for st in todo if len(st.row) == self.row_size]
        if todo:  # a row of other settings but the same length: :meth:`row` refuses it
            todo = [st for st, ok in zip(todo, fits(self.bank, [st.row for st in todo]),
                                         strict=True) if ok]
        if not todo:
            return
        self.release([p for st in todo if (p := self.owner.get(st.series)) is not None])
        fresh = [st for st in todo if st.series not in self.rows]
        for st, row in zip(fresh, self.add_rows(len(fresh)), strict=True):
            self.rows[st.series] = row
        for bank, local, pos in self.segments([self.rows[st.series] for st in todo]):
            load_rows(bank, local.tolist(), [todo[p].row for p in pos.tolist()])
        for st in todo:
            self._own(st, self.rows[st.series])
            st.row = b""

    def reserve(self, states: list[SeriesState]) -> None:
        """Make the fresh rows that :meth:`row` would add for ``states``, in one bank call
        per segment (one at a time, a row costs ~145 us to add)."""
        self._claim(states)
        need = list({st.series: st for st in states if not self.holds(st) and (
            self.rows.get(st.series) is None or not st.row)}.values())
        self.release([p for st in need if (p := self.owner.get(st.series)) is not None])
        for st, row in zip(need, self.add_rows(len(need)), strict=True):
            self.rows[st.series] = row
            if not st.row:  # nothing to load: the row is this state's
                self._own(st, row)

    def set_paths(self, states: list[SeriesState],
                  given: tuple[list[int], np.ndarray, str] | None) -> dict[str, SeriesState]:
        """Hand the LSTM runner's paths (which of ``states``, ``(n, L)`` paths, version) to
        the bank (cut to its horizon; a row with a non-finite path keeps its old one); the
        states whose rows changed."""
        if not given or not len(given[0]):
            return {}
        which, paths, version = given
        paths = np.asarray(paths, dtype=np.float64)[:, : self.horizon]
        finite = np.asarray(np.isfinite(paths).all(axis=1))  # the bank refuses broken paths
        chosen = [states[i] for i, ok in zip(which, finite.tolist(), strict=True) if ok]
        kept = paths[finite]
        for bank, local, pos in self.segments([self.row(st) for st in chosen]):
            bank.set_lstm_paths(local, kept[pos], version)
        return {st.series: st for st in chosen}

    def borrow(self, states: list[SeriesState]) -> None:
        """Lend this resident's rows to ``states``, which no resident holds (a scratch
        resident, reused: a republish's chunk of states), from row 0 on; its earlier owners
        get their rows' bytes back first. :meth:`forecasts` then loads them together."""
        self.release(list(self.owner.values()))
        n = sum(bank.n_rows for bank in self.banks)
        self.rows = {st.series: i for i, st in enumerate(states[:n])}

    def forecasts(self, states: list[SeriesState], horizon: int) -> None:
        """Set ``st.forecast`` of every given state (one call per bank), as ``SeriesModel``
        reports it: the bank's description plus the 95% band in ``model["interval"]``. The
        rows this resident does not hold are loaded first, together (:meth:`load`: ~150 us
        a state in all, where one at a time took ~900 us; for one state, :meth:`row` is the
        quicker)."""
        if len(states) > 1:
            self.load(states)
        for bank, local, pos in self.segments([self.row(st) for st in states]):
            f = bank.forecast(local, horizon)
            yhat, lo, hi, lo95, hi95 = (a.tolist() for a in (f.yhat, f.lo, f.hi, f.lo95,
                                                              f.hi95))
            mean = None if f.mean is None else f.mean.tolist()
            models = describe_rows(bank, local.tolist(), per_horizon=False)
            for i, (p, model) in enumerate(zip(pos.tolist(), models, strict=True)):
                model["interval"].update(lo95=lo95[i], hi95=hi95[i])
                states[p].forecast = Forecast(
                    yhat[i], lo[i], hi[i], model, lo95[i], hi95[i],
                    None if mean is None else mean[i],
                    None if f.lead is None else lead_total(f.lead[i], horizon))


def forecast_states(states: list[SeriesState], residents: list[Resident], scratch: Resident,
                    horizon: int) -> None:
    """:meth:`Resident.forecasts` of ``states``: one call per resident of ``residents`` that
    holds some, the others together in ``scratch`` (lent: :meth:`Resident.borrow`)."""
    groups: dict[int, list[SeriesState]] = {id(res): [] for res in residents}
    loose: list[SeriesState] = []
    for st in states:
        group = groups.get(id(st.holder))
        (group if group is not None and st.holder.holds(st) else loose).append(st)
    for res in residents:
        if groups[id(res)]:
            res.forecasts(groups[id(res)], horizon)
    if loose:
        scratch.borrow(loose)
        scratch.forecasts(loose, horizon)
