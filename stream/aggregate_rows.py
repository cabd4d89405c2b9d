"""The processor's aggregate work: count, report, and on ``total``'s partition close and reconcile.

:class:`Aggregation` holds what the processor needs of :mod:`stream.aggregates`:

* on every partition: :meth:`~Aggregation.count` adds an accepted event to the partition's
  :class:`~stream.aggregates.Partials`, and :meth:`~Aggregation.report` turns them into the
  report the agent sends (keyed by ``total``) after the batch;
* on the partition ``total`` hashes to: :meth:`~Aggregation.receive` takes reports into the
  :class:`~stream.aggregates.Ledger` (state key ``a:total``), :meth:`~Aggregation.close`
  turns the buckets it closes into ordinary closed buckets of the aggregate series
  (``total``, ``country:...``, each a row of the partition's bank, learnt with the SKUs), and
  :meth:`~Aggregation.reconcile` makes their new forecasts coherent
  (:func:`models.reconcile.reconcile`) with bands from each one's own reconciled errors
  (:class:`models.reconcile.AdaptiveBands`).

An aggregate's live part (the open bucket so far, its event count) comes from the ledger, so
``total`` shows today's sales as the partitions report them, once per batch of theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from contracts.events import SaleEvent
from models.factory import Forecast
from models.grid import end
from models.reconcile import AdaptiveBands, reconcile, variance_of_band
from stream.aggregates import (
    ROOT,
    Grouping,
    Ledger,
    Partials,
    check_report,
    decode_report,
    encode_report,
)
from stream.bucketing import bucket_start
from stream.outcomes import ClosedBucket
from stream.partitioning import partition_for
from stream.series_state import PartitionState, SeriesState

__all__ = ["Aggregation", "LEDGER_KEY", "receive_report"]

LEDGER_KEY = f"a:{ROOT}"


class Aggregation:
    """Aggregates by ``grouping`` over a topic of ``partitions`` partitions."""

    def __init__(self, grouping: Grouping, partitions: int, width: int, lateness: int,
                 horizon: int) -> None:
        self.grouping, self.partitions = grouping, partitions
        self.width, self.lateness, self.horizon = width, lateness, horizon
        self.home = partition_for(ROOT, partitions)  # where the reports go
        self._last: dict[str, dict[str, float]] = {}  # name -> its last bucket vs reconciled
        self._ledger: Ledger | None = None  # the ledger as last read here (its late count)

    # every partition
    def count(self, pstate: PartitionState, bucket: int, ev: SaleEvent) -> None:
        """Add an accepted event to its child's sums in ``pstate`` (the total is their sum)."""
        partials = pstate.partials = pstate.partials or Partials(self.width)
        if pstate.reported_until is None or bucket >= pstate.reported_until:
            partials.add(bucket, self.grouping.child_of(ev), ev.qty)

    def report(self, pstate: PartitionState, partition: int, offset: int) -> bytes | None:
        """This partition's report after ``offset``, or None when it has nothing new."""
        wm = pstate.clock.watermark
        partials = pstate.partials
        if partials is None:
            return None
        until = None if wm is None else bucket_start(wm - self.lateness, self.width)
        if pstate.reported_until is not None:  # (no watermark: it declares nothing complete)
            until = pstate.reported_until if until is None else max(until, pstate.reported_until)
        if not partials.changed and until == pstate.reported_until:
            return None
        pstate.reported_until = until
        return partials.report(partition, offset, until, self.grouping.group)

    def tick(self) -> bytes:
        """A report of nothing (offset -1: never taken) that ``total``'s partition reads only
        for its message time: the worker holding that partition sends one when the ledger
        wants it (:meth:`Ledger.wants_tick`), so the ledger's clock runs while no report comes
        (a fast replay's reports all come in a second: the ledger then waits PATIENCE_S for
        partitions that have not reported)."""
        return encode_report(self.home, -1, None, {}, self.grouping.group)

    # the home partition of ``total``
    def ledger(self, get: Callable[[str], object]) -> Ledger:
        led = get(LEDGER_KEY)
        self._ledger = led if isinstance(led, Ledger) else Ledger(self.partitions, self.width)
        return self._ledger

    def figures(self, held: Iterable[int]) -> dict[str, int]:
        """For the ops snapshot: ``aggregate_late``, how many partition sums reached the
        ledger for a bucket it had already closed, when this worker holds ``total``'s
        partition (among ``held``) and has read its ledger; else nothing."""
        if self._ledger is None or self.home not in set(held):
            return {}
        return {"aggregate_late": self._ledger.late}

    def receive(self, led: Ledger, raw: bytes, at: float = 0.0) -> list[str]:
        """Apply one report; the aggregates whose live part it changed. ``ValueError`` (the
        reason, for a dead letter) when ``raw`` is no report a partition of this topic sends.
        Another worker group's report (one that reads the same events topic with its own
        settings: a probe's hourly group took a daily group's reports as its own, each day's
        sum in one hour) is not this ledger's: it changes nothing."""
        report = decode_report(raw)
        group = self.grouping.group
        if group and report.group != group and (report.group is not None or led.named):
            return []  # another group's; or, in a ledger made since reports name theirs, an
            # older worker's (a group started later took those as its own too)
        check_report(report, self.partitions, self.width, self.lateness,
                      f"{self.grouping.by}:")
        if not led.apply(report, at):
            return []
        touched = {c for per in report.sums.values() for c in per}
        return [ROOT, *sorted(touched)] if touched else []

    def names(self, led: Ledger) -> list[str]:
        return [ROOT, *led.children]

    def close(self, led: Ledger, load: Callable[[str], SeriesState]
              ) -> list[tuple[SeriesState, list[ClosedBucket]]]:
        """The buckets the ledger closes, per aggregate state (each learns its bands' errors
        first); a state that learnt a bucket before (a replay after a partial write) skips it."""
        due = led.due()
        if not due:
            return []
        out = []
        for name in self.names(led):
            st = load(name)
            closed = []
            for b, per in due:
                if st.origin is not None and b < st.origin:
                    continue
                qty, n = _value(name, per)
                closed.append(ClosedBucket(b, end(b, self.width), qty, 0.0, n, 0.0))
                if st.bands is not None:
                    expected = st.bands.expected(b)
                    if expected is not None:  # what the dashboard showed for it
                        self._last[name] = {"actual": qty, "expected": round(expected, 3),
                                            "bucket": b}
                    st.bands.learn(b, qty)
            if closed:
                out.append((st, closed))
        return out

    def live(self, led: Ledger, st: SeriesState, version: int) -> None:
        """Set ``st``'s live part from the ledger (its open bucket so far, its events) as of
        the home partition's offset ``version`` (its position: what a republish writes)."""
        b, per = led.open_sums()
        st.events = led.events(st.series)
        st.positions[self.home] = max(st.positions.get(self.home, -1), version)
        if b is None:
            st.live_open = None
            return
        qty, n = _value(st.series, per)
        st.live_open = {"t": b, "qty": qty, "events": n}
        # its event time: the open bucket's start (the ledger keeps sums, not event times);
        # at 0 it sorted last in `list` and fell out of large patterns' snapshots (a probe)
        st.last_ts = max(st.last_ts, float(b))

    def reconcile(self, led: Ledger, load: Callable[[str], SeriesState],
                  forecast_of: Callable[[SeriesState], Forecast | None],
                  movers: dict[str, dict[str, float]]) -> list[SeriesState]:
        """Reconcile the aggregates' current forecasts (all made at the same origin); the
        states whose forecast changed. Aggregates leave ``movers`` (the SKUs that moved)."""
        states = [load(n) for n in self.names(led)]
        for st in states:
            movers.pop(st.series, None)
        fs = [forecast_of(st) for st in states]
        origin = states[0].origin
        if len(states) < 2 or any(f is None for f in fs) or any(
                st.origin != origin for st in states) or origin is None:
            return []
        h = min(len(f.yhat) for f in fs if f is not None)
        cols = [np.array([getattr(f, a)[:h] for f in fs if f is not None])
                for a in ("yhat", "lo95", "hi95")]
        var = variance_of_band(cols[1], cols[2])
        rec, scale = reconcile(cols[0], var), np.sqrt(var) + 1.0
        means = None if any(f is None or f.mean is None for f in fs) else reconcile(
            np.array([f.mean[:h] for f in fs if f is not None and f.mean is not None]), var)
        for i, (st, f) in enumerate(zip(states, fs, strict=True)):
            assert f is not None
            bands = st.bands = st.bands or AdaptiveBands(self.horizon, self.width)
            bands.remember(origin, rec[i], scale[i])
            shift = rec[i] - np.asarray(f.yhat[:h])  # young bands: the model's own, moved
            lo, hi, lo95, hi95 = bands.bands(rec[i], scale[i], [
                np.asarray(getattr(f, a)[:h]) + shift for a in ("lo", "hi", "lo95", "hi95")])
            model = dict(f.model, hierarchy={"parent": ROOT} if i else
                         {"children": [s.series for s in states[1:]]})
            model["interval"] = dict(model.get("interval", {}), lo95=lo95, hi95=hi95,
                                     method="adaptive conformal, own reconciled errors")
            mean = None if means is None else means[i].tolist()
            st.forecast = st.reconciled = Forecast(rec[i].tolist(), lo, hi, model, lo95, hi95,
                                                   mean, _moved(f.lead, mean))
            last = self._last.pop(st.series, None)
            if last is not None:  # scored against the coherent forecast, not the bank's own
                half = max((hi[0] - lo[0]) / 2, 1e-9)
                st.mover = dict(last, score=round(abs(last["actual"] - last["expected"]) / half,
                                                  3))
        return states


def _moved(lead: dict[str, Any] | None, mean: list[float] | None) -> dict[str, Any] | None:
    """``lead`` (a forecast's lead-time total and quantiles) moved to the reconciled mean's
    total: the quantiles shift with it."""
    if lead is None or mean is None:
        return None
    shift = sum(mean) - lead["mean"]
    return dict(lead, mean=sum(mean), **{k: None if lead[k] is None else max(lead[k] + shift, 0.0)
                                         for k in ("p10", "p90")})


def _value(name: str, per: dict[str, tuple[float, int]]) -> tuple[float, int]:
    """``(qty, events)`` of aggregate ``name`` in a bucket's sums per child (the total: all)."""
    if name == ROOT:
        return sum(q for q, _ in per.values()), sum(k for _, k in per.values())
    return per.get(name, (0.0, 0))


def receive_report(agg: Aggregation | None, led: Ledger | None, raw: bytes,
                   at: float = 0.0) -> list[str]:
    """:meth:`Aggregation.receive` of a report on the ledger's partition (``led``), sent at
    ``at``; nothing where this worker keeps no ledger (another partition, or no aggregates:
    another group's report, which is no event either)."""
    return agg.receive(led, raw, at) if agg is not None and led is not None else []
