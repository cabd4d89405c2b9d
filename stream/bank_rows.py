"""The batched close of every bucket one batch made due, on the rows of the partition's
:class:`~stream.resident.Resident` (a row per series).

:func:`learn_due` learns what the processor collected during a batch, as the per-object
processor did bucket by bucket, with one ``bank.close`` per round (the k-th due bucket of
every series that has one): each bucket is scored against its row's one-step forecast made
just before it (a quiet series that closes several buckets at once scores each as if it had
closed on its own), movers and alerts come out in the per-object processor's order. So a
row learns the same whether its buckets close one at a time (the sweep of
:mod:`stream.sweep`) or together when the series is next touched.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.activity import ActivityMonitor
from models.anomaly import Expected, Finding, track
from models.bank import UNDATED, ForecasterBank
from models.bank_anomaly import KINDS, SEVERITIES
from models.grid import day_of
from stream.outcomes import ClosedBucket
from stream.resident import Resident
from stream.series_state import RECENT_ALERTS, BatchOutput, SeriesState

__all__ = ["Due", "PathProvider", "collect", "learn_due", "learn_closed"]

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
                 provider: PathProvider | None, holidays: bool) -> dict[str, SeriesState]:
    """Give the due states their rows (new ones in one bank call), date each row at its
    first close for the holiday factor (``holidays``), :func:`learn_due`, then the LSTM
    paths of the ``closed`` states (``provider``); the states whose rows changed (their rows
    stay in the bank: pickling a state exports it), their forecasts forgotten (computed
    together when they are written: :mod:`stream.writes`)."""
    for st in [*(d.st for d in dues), *closed]:
        st.packed_row = None  # rows about to change: pack them anew (``stream.state.pack``)
    res.reserve([d.st for d in dues])
    res.load([d.st for d in dues])
    if holidays:
        first = list({d.st.series: d for d in reversed(dues)}.values())  # each one's first due
        for bank, local, pos in res.segments([res.row(d.st) for d in first]):
            undated = bank.day[local] == UNDATED
            bank.set_day(local[undated], [day_of(first[p].buckets[0].start) for p in
                                          pos[undated].tolist()])
    learnt = learn_due(res, dues, out, activity) if dues else []
    changed = {st.series: st for st in learnt}
    if provider is not None and closed:
        changed.update(res.set_paths(closed, provider(closed)))
    for st in changed.values():
        st.forecast = None
    return changed


def learn_due(res: Resident, dues: list[Due], out: BatchOutput,
              activity: ActivityMonitor | None = None) -> list[SeriesState]:
    """Score and learn every due bucket, in bucket order per series; the states whose rows
    learnt, in the order of their first due bucket. Each bucket is scored on its row's
    one-step forecast, made just before it learns it, however many buckets close at once.
    Buckets of a shop-wide closure (``activity``) are imputed and not scored; a surge's
    spikes are not alerts."""
    queues: dict[str, list[tuple[Due, int]]] = {}
    for d in dues:
        queues.setdefault(d.st.series, []).extend((d, i) for i in range(len(d.buckets)))
    states = [q[0][0].st for q in queues.values()]
    scored: list[tuple[int, Due, int, Expected, Finding | None, str]] = []
    verdict = activity.verdict if activity is not None else (lambda start: None)
    for bank, local, pos in res.segments([res.row(st) for st in states]):
        rows = {states[p].series: r for p, r in zip(pos.tolist(), local.tolist(), strict=True)}
        scored.extend(_rounds(bank, rows, queues, verdict))
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


def _rounds(bank: ForecasterBank, rows: dict[str, int],
            queues: dict[str, list[tuple[Due, int]]], verdict: Callable[[int], str | None],
            ) -> list[tuple[int, Due, int, Expected, Finding | None, str]]:
    """:func:`learn_due` in one bank, of the series of ``rows`` (their rows there): one
    ``bank.close`` per round; each scored bucket (its position among the batch's closed
    buckets, its due, index, expectation, finding and model version)."""
    scored: list[tuple[int, Due, int, Expected, Finding | None, str]] = []
    active, j = list(rows), 0
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
    return scored
