"""The worker's models: one :class:`~models.bank.ForecasterBank` per partition, a row per series,
and the batched close of every bucket one batch made due.

:class:`Resident` maps series to rows. A row is current for exactly one :class:`SeriesState`
object, its owner (the one it was loaded into or made for; ``st.holder`` is the resident): a
state read from the table that is not that object (after a restart, a rebalance, or a state
that went back to the changelog) gets its row loaded from its bytes, so the bank never runs
ahead of, or behind, the table. An owner keeps no copy of its row (``st.row`` is out of date;
pickling the state exports the row): before a row leaves its owner, the resident writes it
into the owner's ``row`` (:meth:`Resident.release`).

:func:`learn_due` learns what the processor collected during a batch, as the per-object
processor did bucket by bucket, with one ``bank.close`` per round (the k-th due bucket of
every series that has one): each bucket is scored against its row's one-step forecast made
just before it (a quiet series that closes several buckets at once scores each as if it had
closed on its own), movers and alerts come out in the per-object processor's order. So a
row learns the same whether its buckets close one at a time (the sweep of
:mod:`stream.sweep`) or together when the series is next touched.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.activity import ActivityMonitor
from models.anomaly import Expected, Finding, track
from models.bank import UNDATED, ForecasterBank
from models.bank_anomaly import KINDS, SEVERITIES
from models.bank_mean import lead_total
from models.bank_ops import describe_rows
from models.factory import Forecast
from models.seasons import season_for
from stream.outcomes import ClosedBucket
from stream.series_state import RECENT_ALERTS, BatchOutput, SeriesState

__all__ = ["Due", "PathProvider", "Resident", "collect", "learn_due", "learn_closed"]

log = logging.getLogger(__name__)

#: the LSTM runner: given the states whose buckets closed, (which of them, their LSTM paths
#: (n, L), the model version) or None
PathProvider = Callable[[list[SeriesState]], "tuple[list[int], np.ndarray, str] | None"]


@dataclass(slots=True)
class Due:
    """The buckets of one series that one look at the watermark closed (learnt later)."""

    st: SeriesState
    buckets: list[ClosedBucket]
    origin: int | None  # st.origin before them: where the forecast they are scored on starts
    seq: int  # position of the first of them among the batch's closed buckets


class Resident:
    """One partition's bank (its season from the bucket ``width``: :func:`season_for`) and
    which series' state each row holds."""

    def __init__(self, horizon: int, lstm: bool, width: int = 86400) -> None:
        self.bank = ForecasterBank(horizon, season_for(width), lstm=lstm)
        self.rows: dict[str, int] = {}
        self.owner: dict[str, SeriesState] = {}

    def holds(self, st: SeriesState) -> bool:
        return self.owner.get(st.series) is st

    def export_of(self, st: SeriesState) -> bytes:
        """The bytes of the row that ``st`` owns (:meth:`SeriesState.model_bytes`)."""
        return self.bank.export_rows([self.rows[st.series]])[0]

    def release(self, states: list[SeriesState]) -> None:
        """Each of ``states`` that owns its row gets the row's bytes in ``st.row`` and owns it
        no more (before another object takes the row, or the bank goes)."""
        held = [st for st in states if self.holds(st)]
        for st, raw in zip(held, self.bank.export_rows([self.rows[st.series] for st in held]),
                           strict=True):
            st.row, st.holder = raw, None
            del self.owner[st.series]

    def _own(self, st: SeriesState, row: int) -> None:
        """Make ``row`` the row of ``st``, which then owns it."""
        prev = self.owner.get(st.series)
        if prev is not None and prev is not st:
            self.release([prev])
        self.rows[st.series], self.owner[st.series], st.holder = row, st, self

    def row(self, st: SeriesState) -> int:
        """``st``'s row, loaded from ``st.row`` unless the bank holds that very state."""
        sid = st.series
        row = self.rows.get(sid)
        if row is not None and self.owner.get(sid) is st:
            return row
        prev = self.owner.get(sid)
        if prev is not None:  # its row is about to be overwritten, or to be another's
            self.release([prev])
        if row is None or not st.row:  # a fresh model for a state that has none yet
            row = int(self.bank.add_rows(1)[0])
        if st.row:
            try:
                self.bank.load_row(row, st.row)
            except ValueError as exc:  # a layout this version cannot read: a fresh model
                log.warning("series %s: its model row cannot be loaded (%s); it starts a "
                            "fresh model, its events and counts are kept", sid, exc)
                row, st.row = int(self.bank.add_rows(1)[0]), b""
        self._own(st, row)
        return row

    def reserve(self, states: list[SeriesState]) -> None:
        """Make the fresh rows that :meth:`row` would add for ``states``, in one bank call
        (one at a time, a row costs ~145 us to add)."""
        need = list({st.series: st for st in states if not self.holds(st) and (
            self.rows.get(st.series) is None or not st.row)}.values())
        self.release([p for st in need if (p := self.owner.get(st.series)) is not None])
        for st, row in zip(need, self.bank.add_rows(len(need)).tolist(), strict=True):
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
        paths = np.asarray(paths, dtype=np.float64)[:, : self.bank.horizon]
        finite = np.asarray(np.isfinite(paths).all(axis=1))  # the bank refuses broken paths
        chosen = [states[i] for i, ok in zip(which, finite.tolist(), strict=True) if ok]
        self.bank.set_lstm_paths([self.row(st) for st in chosen], paths[finite], version)
        return {st.series: st for st in chosen}

    def forecasts(self, states: list[SeriesState], horizon: int) -> None:
        """Set ``st.forecast`` of every given state (one bank call), as ``SeriesModel``
        reports it: the bank's description plus the 95% band in ``model["interval"]``."""
        rows = np.array([self.row(st) for st in states], dtype=np.int64)
        f = self.bank.forecast(rows, horizon)
        yhat, lo, hi, lo95, hi95 = (a.tolist() for a in (f.yhat, f.lo, f.hi, f.lo95, f.hi95))
        mean = None if f.mean is None else f.mean.tolist()
        for i, (st, model) in enumerate(zip(states, describe_rows(self.bank, rows.tolist()),
                                            strict=True)):
            model["interval"].update(lo95=lo95[i], hi95=hi95[i])
            st.forecast = Forecast(yhat[i], lo[i], hi[i], model, lo95[i], hi95[i],
                                   None if mean is None else mean[i],
                                   None if f.lead is None else lead_total(f.lead[i], horizon))


def collect(st: SeriesState, closed: list[ClosedBucket], out: BatchOutput,
            history: int) -> Due:
    """Everything of a close but the model (learnt at the end of the batch): the buckets go
    to ``out.buckets`` and the last ``history`` values to ``st.history``."""
    due = Due(st, closed, st.origin, len(out.buckets))
    out.buckets.extend((st.series, b) for b in closed)
    if st.origin is not None and closed[0].start != st.origin:
        st.history = array("d")  # a gap longer than max_fill: restart the history
    st.history.extend(b.qty for b in closed)
    if len(st.history) > history:
        del st.history[: len(st.history) - history]
    st.forecast = None  # recomputed from the row once it has learnt
    st.origin = closed[-1].end
    return due


def learn_closed(res: Resident, dues: list[Due], out: BatchOutput,
                 activity: ActivityMonitor | None, closed: list[SeriesState],
                 provider: PathProvider | None, horizon: int,
                 holidays: bool) -> dict[str, SeriesState]:
    """Give the due states their rows (new ones in one bank call), date each row at its
    first close for the holiday factor (``holidays``), :func:`learn_due`, then the LSTM
    paths of the ``closed`` states (``provider``), then the forecasts of every state whose
    row changed; those states (their rows stay in the bank: pickling a state exports it)."""
    res.reserve([d.st for d in dues])
    if holidays:
        first = {d.st.series: d for d in reversed(dues)}  # each series' first due
        rows = np.array([res.row(d.st) for d in first.values()], dtype=np.int64)
        undated = res.bank.day[rows] == UNDATED
        res.bank.set_day(rows[undated], [d.buckets[0].start // 86400 for d, u in zip(
            first.values(), undated.tolist(), strict=True) if u])
    learnt = learn_due(res, dues, out, activity) if dues else []
    changed = {st.series: st for st in learnt}
    if provider is not None and closed:
        changed.update(res.set_paths(closed, provider(closed)))
    if changed:
        res.forecasts(list(changed.values()), horizon)
    return changed


def learn_due(res: Resident, dues: list[Due], out: BatchOutput,
              activity: ActivityMonitor | None = None) -> list[SeriesState]:
    """Score and learn every due bucket, in bucket order per series; the states whose rows
    learnt, in the order of their first due bucket. Each bucket is scored on its row's
    one-step forecast, made just before it learns it, however many buckets close at once.
    Buckets of a shop-wide closure (``activity``) are imputed and not scored; a surge's
    spikes are not alerts."""
    bank = res.bank
    queues: dict[str, list[tuple[Due, int]]] = {}
    for d in dues:
        queues.setdefault(d.st.series, []).extend((d, i) for i in range(len(d.buckets)))
    states = [q[0][0].st for q in queues.values()]
    rows = {st.series: res.row(st) for st in states}
    scored: list[tuple[int, Due, int, Expected, Finding | None, str]] = []
    active, j = list(queues), 0
    verdict = activity.verdict if activity is not None else (lambda start: None)
    while active:
        items = [queues[sid][j] for sid in active]
        r = np.array([rows[sid] for sid in active], dtype=np.int64)
        seen = bank.n[r] > 0  # nothing to impute or score before the first value
        mask = np.zeros(len(active), dtype=bool)
        impute = np.zeros(len(active), dtype=bool)
        for p, (d, i) in enumerate(items):
            b = d.buckets[i]
            if verdict(b.start) == "closure":
                impute[p] = seen[p]
            elif seen[p] and b.start == (d.origin if i == 0 else d.buckets[i - 1].end):
                mask[p] = True  # the row's one-step forecast is for this very bucket
        cols5: list[list[float]] = [[], [], [], [], []]
        expect: list[Expected | None] = [None] * len(active)
        if mask.any():
            f = bank.forecast(r[mask], 1)
            cols5 = [a[:, 0].tolist() for a in (f.yhat, f.lo, f.hi, f.lo95, f.hi95)]
            for q, p in enumerate(np.nonzero(mask)[0].tolist()):
                expect[p] = Expected(*(c[q] for c in cols5))
        values = np.array([d.buckets[i].qty for d, i in items], dtype=np.float64)
        checks = bank.close(r, values, against=(mask, *cols5), impute=impute)
        for p in np.nonzero(mask)[0].tolist():
            d, i = items[p]
            ex = expect[p]
            assert ex is not None
            finding, version = None, ""
            kind = int(checks.kind[p])
            surge = checks.score[p] > 0 and verdict(d.buckets[i].start) == "surge"
            if checks.alert[p] and not surge:
                finding = Finding(str(KINDS[kind]), SEVERITIES[checks.severity[p]],
                                  float(checks.score[p]))
                model = bank.describe(int(r[p]))
                version = str(model.get("name", "model"))
                if model.get("lstm_version"):
                    version += f"+lstm:{model['lstm_version']}"
            scored.append((d.seq + i, d, i, ex, finding, version))
        j += 1
        active = [sid for sid in active if len(queues[sid]) > j]
    scored.sort(key=lambda t: t[0])
    for _, d, i, ex, finding, version in scored:
        st, b = d.st, d.buckets[i]
        st.mover = out.movers[st.series] = {
            "score": round(abs(b.qty - ex.yhat) / ex.half_width, 3), "actual": b.qty,
            "expected": round(ex.yhat, 3), "bucket": b.start}
        if finding is None and st.open_alert is None:
            continue
        st.open_alert, messages = track(st.open_alert, st.series, b.start, b.end, b.qty, ex,
                                        finding, version)
        out.alerts.extend(messages)
        st.alerts = [*st.alerts, *messages][-RECENT_ALERTS:]
    return states
