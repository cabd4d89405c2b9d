"""The worker's processor on the bank gives exactly what the per-object processor gave.

The reference is the per-object processor as it was before the bank
(tests/unit/stream/per_object_processor.py, verbatim but for one change it names). Both get the
same messages of two partitions in the same batches: single events and envelopes, UK bank
holidays (Christmas to May 2011), intermittent series (several buckets closing at once, each
scored one step ahead), spikes and a level shift (alerts), a gap longer than ``MAX_FILL``
(history restart), bad records, late events, duplicate ids, a re-routed event, and a crash with
a restart from pickled states (a partial flush, the lost batches delivered again). After every
batch the writes, alerts, movers (and their order), dead letters, closed buckets, counters and
every state (counts, history, origin, alerts, forecast) must be equal: every float to 1e-9
(relative and absolute), everything else exactly. On most machines the floats are bit for bit
equal; on some CPUs (seen on an AVX-512 Zen 5) numpy's vectorised ``expm1`` rounds an ulp away
from ``math.expm1``, as ``tests/unit/models/test_bank.py`` allows too.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import pickle
import random
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from contracts.events import SaleEvent
from models.calendar import HolidayAdjusted
from models.factory import Forecast, LstmBlend, default_model
from stream.bucketing import MAX_FILL
from stream.partitioning import partition_for
from stream.processor import Message, Processor


def _reference() -> Any:
    """tests/unit/stream/per_object_processor.py as a module (pickled states name it)."""
    name = "per_object_processor"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name(f"{name}.py"))
        assert spec is not None and spec.loader is not None
        module = sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


PerObjectProcessor = _reference().Processor
DAY = 86400
T0 = int(datetime(2010, 12, 1, tzinfo=UTC).timestamp())
DAYS = 160
PARTS = 2


def _events(seed: int, jump: bool) -> list[SaleEvent]:
    rng = random.Random(seed)
    events: list[SaleEvent] = []
    series = [f"S{i:02d}" for i in range(24)]
    rate = {s: rng.choice([0.2, 0.5, 1.0, 3.0, 8.0, 20.0]) for s in series}
    week = [1.0, 1.2, 1.1, 0.9, 1.4, 0.6, 0.3]
    holidays = {24, 25, 26, 27, 33, 142, 145, 149, 152}  # days after T0 (25 Dec 2010, ...)
    for day in range(DAYS):
        for s in series:
            lam = rate[s] * week[day % 7] * (2.5 if s == "S03" and day >= 80 else 1.0)
            if day in holidays:
                lam *= 0.2 if int(s[1:]) % 2 else 3.0
            if s == "S05" and 40 <= day < 52:
                continue  # silent for 12 days
            qty = int(np.random.default_rng(seed * 1000 + day * 31 + int(s[1:])).poisson(lam))
            if rng.random() < 0.015:
                qty = qty * 10 + 30  # a spike
            if qty == 0:
                continue
            n = rng.randint(1, 3)
            for k in range(n):
                q = qty // n + (qty % n if k == 0 else 0)
                if rng.random() < 0.02:
                    q = -q  # a cancellation
                ts = T0 + day * DAY + rng.randrange(DAY - 60)
                eid = f"{s}:{day}:{k}" if rng.random() < 0.5 else None
                events.append(SaleEvent(s, float(ts), q, 2.5, eid))
    if jump:  # most series walk the clock on by 20 days a step (several buckets closing at
        # once, some beyond the horizon); the others come back after more than MAX_FILL days
        end = DAYS + MAX_FILL + 60
        for d in range(DAYS + 20, end + 1, 20):
            for s in series[:16] if d < end - 20 else series:
                events.append(SaleEvent(s, float(T0 + d * DAY + 3600), 4 + d % 7, 2.5))
    events.sort(key=lambda e: e.ts)
    return events


def _messages(events: list[SaleEvent], seed: int) -> dict[int, list[Message]]:
    """Per partition: singles and envelopes, with bad records, late and duplicate events."""
    rng = random.Random(seed)
    values: dict[int, list[bytes]] = {p: [] for p in range(PARTS)}
    pending: dict[int, list[bytes]] = {p: [] for p in range(PARTS)}

    def flush(p: int) -> None:
        if pending[p]:
            values[p].append(b'{"events":[' + b",".join(pending[p]) + b"]}")
            pending[p] = []

    for i, e in enumerate(events):
        p = partition_for(e.series, PARTS)
        raw = e.to_json()
        if rng.random() < 0.4:
            flush(p)
            values[p].append(raw)
        else:
            pending[p].append(raw)
            if len(pending[p]) >= rng.randint(2, 30):
                flush(p)
        if i % 997 == 0:
            values[p].append(b"{bad")
            late = SaleEvent(e.series, e.ts - 20 * DAY, 1, 2.5)
            values[p].append(late.to_json())
            if e.id is not None:  # the same event id again
                values[p].append(e.to_json())
            pending[p].append(b'{"series":"X","ts":"never","qty":1,"price":1}')
        if i % 1999 == 0:  # an event on the wrong partition: re-routed
            values[1 - p].append(e.to_json())
    for p in range(PARTS):
        flush(p)
    return {p: [Message(o, 0.0, v) for o, v in enumerate(vs)] for p, vs in values.items()}


def _batches(msgs: dict[int, list[Message]], seed: int) -> list[tuple[int, list[Message]]]:
    rng = random.Random(seed)
    pos = {p: 0 for p in msgs}
    out = []
    while any(pos[p] < len(msgs[p]) for p in msgs):
        p = rng.choice([q for q in msgs if pos[q] < len(msgs[q])])
        n = rng.choice([1, 3, 10, 40, 120])
        out.append((p, msgs[p][pos[p] : pos[p] + n]))
        pos[p] += n
    return out


class _Paths:
    """Stand-in LSTM paths from each series' history; the same for both processors."""

    def __init__(self) -> None:
        self.calls = 0

    def _paths(self, states: list[Any]) -> tuple[list[int], list[list[float]], str]:
        self.calls += 1
        length, version = 3 + self.calls % 12, "v1" if self.calls < 150 else "v2"
        which = [i for i, st in enumerate(states)
                 if st.origin is not None and len(st.history) >= 14]
        paths = [[max(0.0, float(np.mean(states[i].history[-7:])) * (1 + 0.05 * j))
                  for j in range(length)] for i in which]
        return which, paths, version

    def old(self, states: list[Any]) -> None:
        which, paths, version = self._paths(states)
        for i, path in zip(which, paths, strict=True):
            fc = states[i].model.forecaster
            blend = fc.member if isinstance(fc, HolidayAdjusted) else fc
            assert isinstance(blend, LstmBlend)
            blend.set_lstm_path(path, version)
            states[i].forecast = states[i].model.forecast()

    def new(self, states: list[Any]) -> tuple[list[int], np.ndarray, str] | None:
        which, paths, version = self._paths(states)
        if not which:  # as LstmRunner.provide
            return None
        return which, np.array(paths, dtype=np.float64), version


def _pair(lstm: bool) -> tuple[Any, Any]:
    old = PerObjectProcessor("t", DAY, model_factory=lambda h: default_model(
        h, lstm=lstm, holidays=True), path_provider=_Paths().old if lstm else None,
        partitions=PARTS)
    new = Processor("t", DAY, holidays="GB-ENG", lstm=lstm,
                    path_provider=_Paths().new if lstm else None, partitions=PARTS)
    return old, new


PER_HORIZON = ("weights_by_horizon", "winners")


def _close(x: Any, y: Any) -> bool:
    """Equal, but for floats within 1e-9 (relative and absolute), in any nesting; ``x``'s mean
    forecast and lead-time total are left out (only the bank has them:
    tests/unit/models/test_bank_mean.py), and so are the per-horizon weights and winners of
    a model description on the side that has them when the other has not (the worker
    publishes the horizon-1 summary: models.bank_ops.describe_rows)."""
    if isinstance(x, Forecast):
        x = dataclasses.replace(x, mean=None, lead=None)
    if isinstance(x, dict) and isinstance(y, dict):
        x = {k: v for k, v in x.items() if k not in ("mean", "lead") or k in y}
        x = {k: v for k, v in x.items() if k not in PER_HORIZON or k in y}
        y = {k: v for k, v in y.items() if k not in PER_HORIZON or k in x}
    if isinstance(x, float) and isinstance(y, float):
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
    if dataclasses.is_dataclass(x) and not isinstance(x, type) and type(x) is type(y):
        return _close(dataclasses.asdict(x), dataclasses.asdict(y))  # type: ignore[arg-type]
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_close(x[k], y[k]) for k in x)
    if isinstance(x, list | tuple) and type(x) is type(y):
        return len(x) == len(y) and all(_close(a, b) for a, b in zip(x, y, strict=True))
    return bool(x == y)


def _same_state(old: Any, new: Any, proc: Processor) -> None:
    for name in ("series", "positions", "events", "last_ts", "origin", "history", "alerts",
                 "mover"):
        assert _close(getattr(new, name), getattr(old, name)), name
    assert pickle.dumps(new.buckets) == pickle.dumps(old.buckets)
    if old.origin is None:  # no model yet (the per-object one forecasts zeros, never used)
        assert old.model.n_seen == 0 and not new.modelled() and proc.forecast_of(new) is None
        return
    assert _close(proc.forecast_of(new), old.model.forecast())
    # the bytes alone give the same forecast (what a restarted worker computes)
    restarted = Processor("t", DAY, lstm=proc.lstm)
    assert _close(restarted.forecast_of(pickle.loads(pickle.dumps(new))), old.model.forecast())


def _compare(lstm: bool, jump: bool, seed: int) -> dict[str, int]:
    batches = _batches(_messages(_events(seed, jump), seed), seed)
    old, new = _pair(lstm)
    stores: list[dict[str, Any]] = [{}, {}]
    durable: list[dict[str, Any]] = [{}, {}]
    crash, commit = len(batches) * 3 // 5, len(batches) // 2
    seen = {"alerts": 0, "multi": 0, "dead": 0, "duplicates": 0, "reroute": 0, "resets": 0}
    last_end: dict[str, int] = {}
    i = 0
    while i < len(batches):
        if i == commit:
            durable = [{k: pickle.loads(pickle.dumps(v)) for k, v in s.items()} for s in stores]
        if i == crash:  # part of the last flush reached the changelog; replay from the commit
            keys = sorted(stores[0], key=lambda k: (k.startswith("p:"), k))
            assert keys == sorted(stores[1], key=lambda k: (k.startswith("p:"), k))
            cut = random.Random(seed).randrange(len(keys))
            for d, s in zip(durable, stores, strict=True):
                d.update({k: pickle.loads(pickle.dumps(s[k])) for k in keys[:cut]})
            stores = [dict(d) for d in durable]
            old, new = _pair(lstm)
            i, crash = commit, -1
            continue
        partition, msgs = batches[i]
        a = old.process(partition, msgs, stores[0].get)
        b = new.process(partition, msgs, stores[1].get)
        assert _close(b.writes, a.writes), i
        assert _close(b.alerts, a.alerts), i
        assert _close(list(b.movers.items()), list(a.movers.items())), i
        assert b.dead == a.dead and b.reroute == a.reroute and b.buckets == a.buckets, i
        assert (b.accepted, b.duplicates, b.duplicate_ids, b.closed) == \
            (a.accepted, a.duplicates, a.duplicate_ids, a.closed), i
        assert list(b.states) == list(a.states), i
        for key, st in b.states.items():
            if key.startswith("s:"):
                _same_state(a.states[key], st, new)
            else:
                pa = a.states[key]
                assert (st.due, st.queued, st.position, st.clock.watermark) == \
                    (pa.due, pa.queued, pa.position, pa.clock.watermark)
        stores[0].update(a.states)
        stores[1].update(b.states)
        per_series: dict[str, int] = {}
        for sid, bucket in a.buckets:
            per_series[sid] = per_series.get(sid, 0) + 1
            if bucket.start > last_end.get(sid, bucket.start):
                seen["resets"] += 1  # a gap longer than MAX_FILL: the history restarts
            last_end[sid] = bucket.end
        seen["multi"] += sum(n > 1 for n in per_series.values())
        seen["alerts"] += len(a.alerts)
        seen["dead"] += len(a.dead)
        seen["duplicates"] += a.duplicates
        seen["reroute"] += len(a.reroute)
        i += 1
    return seen


@pytest.mark.parametrize("lstm", [False, True], ids=["worker", "worker-lstm"])
def test_the_bank_processor_equals_the_per_object_one(lstm: bool) -> None:
    seen = _compare(lstm, jump=not lstm, seed=7)
    # the scenarios the test is about did happen
    assert seen["alerts"] >= 3 and seen["multi"] >= 50 and seen["dead"] >= 20
    assert seen["duplicates"] >= 50 and seen["reroute"] >= 1
    if not lstm:
        assert seen["resets"] == 8  # the eight series that came back


def test_rows_in_many_small_bank_segments_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same comparison with the partition's rows spread over banks of 7 rows (the
    worker's have 4,096): every step of a close runs once per bank, to the same result."""
    monkeypatch.setattr("stream.resident.SEGMENT", 7)
    seen = _compare(lstm=True, jump=True, seed=11)
    assert seen["alerts"] >= 3 and seen["multi"] >= 50


def test_a_row_this_version_cannot_read_starts_a_fresh_model(
        caplog: pytest.LogCaptureFixture) -> None:
    """A state whose row bytes are of no layout the bank knows (a worker downgraded, or a
    layout without an upgrade path) gets a fresh model and a warning, not a crashed agent."""
    from stream.bucketing import SeriesBuckets
    from stream.resident import Resident
    from stream.series_state import SeriesState

    res = Resident(horizon=14, lstm=False)
    st = SeriesState("SKU-1", SeriesBuckets(86400), row=b"\x00" * 100, events=7)
    with caplog.at_level("WARNING", logger="stream.resident"):
        row = res.row(st)
    assert res.bank.n[row] == 0 and st.row == b"" and st.events == 7
    assert "SKU-1" in caplog.text and "cannot be loaded" in caplog.text
    assert res.row(st) == row  # that row is now the state's


def test_a_row_of_other_settings_but_the_bank_s_length_starts_a_fresh_model(
        caplog: pytest.LogCaptureFixture) -> None:
    """A state whose row has the bank's length but not its settings (a worker restarted with
    another horizon or LSTM setting can find such rows: models.bank_check) is not batch-loaded
    and gets a fresh model and a warning from :meth:`Resident.row`, beside a good state."""
    from stream.bucketing import SeriesBuckets
    from stream.resident import Resident
    from stream.series_state import SeriesState

    res = Resident(horizon=14, lstm=False)
    src = Resident(horizon=14, lstm=False).bank
    rows = src.add_rows(2)
    for y in [3.0, 0.0, 5.0]:
        src.learn(rows, np.array([y, 2 * y]))
    good, bad = src.export_rows(rows)
    bad = (-1).to_bytes(8, "little", signed=True) + bad[8:]  # n < 0: no row of this bank
    sts = [SeriesState(sid, SeriesBuckets(86400), row=raw, events=3)
           for sid, raw in (("SKU-1", good), ("SKU-2", bad))]
    assert len(bad) == res.row_size
    res.load(sts)  # the good one only
    assert res.holds(sts[0]) and not res.holds(sts[1]) and sts[1].row == bad
    with caplog.at_level("WARNING", logger="stream.resident"):
        row = res.row(sts[1])
    assert res.bank.n[row] == 0 and "SKU-2" in caplog.text and "settings" in caplog.text
    assert res.bank.n[res.row(sts[0])] == 3


@pytest.mark.parametrize("lstm", [False, True], ids=["worker", "worker-lstm"])
def test_a_packed_state_reuses_its_row_only_while_the_row_is_unchanged(lstm: bool) -> None:
    """:func:`stream.state.pack` takes a series' row block from the bytes it packed last,
    until the row changes: after every batch, each state (every one, every 10 batches)
    packed against its previous bytes unpacks to the row its bank holds now."""
    from stream.state import pack, unpack

    batches = _batches(_messages(_events(5, jump=True), 5), 5)
    _, proc = _pair(lstm)
    store: dict[str, Any] = {}
    raws: dict[str, bytes] = {}
    reused = packed = 0
    for i, (partition, msgs) in enumerate(batches):
        out = proc.process(partition, msgs, store.get)
        store.update(out.states)
        for key, st in (store if i % 10 == 0 else out.states).items():
            if not key.startswith("s:"):
                continue
            reused += st.packed_row is not None
            packed += 1
            raw = raws[key] = pack(st, raws.get(key))
            assert unpack(raw).row == st.model_bytes(), (i, key)
    assert packed > 1000 and reused > packed // 5  # both ways were taken, often
