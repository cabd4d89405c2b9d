"""The worker's pure core: exact aggregates, dedup of redelivered offsets, dead letters."""

from __future__ import annotations

import pickle
import random

from stream.processor import Message, Processor
from stream.records import SaleEvent

DAY = 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY


def _messages(days: int = 30, per_day: int = 50, n_series: int = 10, seed: int = 0):
    rng = random.Random(seed)
    truth: dict[str, dict[int, float]] = {}
    msgs = []
    for day in range(days):
        for i in range(per_day):
            sid = f"S{rng.randrange(n_series)}"
            q = rng.randint(-1, 5)
            truth.setdefault(sid, {}).setdefault(day, 0.0)
            truth[sid][day] += q
            ev = SaleEvent(sid, T0 + day * DAY + i * (DAY // per_day), q, 2.0)
            msgs.append(Message(len(msgs), 0.0, ev.to_json()))
    return msgs, truth


def _run(proc: Processor, msgs: list[Message], batch: int, store: dict | None = None) -> dict:
    store = {} if store is None else store
    for i in range(0, len(msgs), batch):
        out = proc.process(0, msgs[i : i + batch], store.get)
        # the table round-trips through pickle (the changelog)
        store.update({k: pickle.loads(pickle.dumps(v)) for k, v in out.states.items()})
    return store


def _closed(store: dict, sid: str) -> dict[int, float]:
    return {(t - T0) // DAY: v for t, v in store[f"s:{sid}"].actuals(DAY)}


def test_closed_buckets_match_the_truth_including_zero_days() -> None:
    msgs, truth = _messages()
    store = _run(Processor("t"), msgs, batch=97)
    for sid, days in truth.items():
        closed = _closed(store, sid)
        first = min(days)
        for day in range(first, 29):  # day 29 is still open
            assert closed[day] == days.get(day, 0.0), (sid, day)
        assert store[f"s:{sid}"].events == sum(1 for m in msgs if sid.encode() in m.value)


def test_batch_size_does_not_change_the_result() -> None:
    msgs, _ = _messages(seed=3)
    a = _run(Processor("t"), msgs, batch=1)
    b = _run(Processor("t"), msgs, batch=500)
    for key in a:
        if key.startswith("s:"):
            assert a[key].model.forecast() == b[key].model.forecast()
            assert a[key].actuals(DAY) == b[key].actuals(DAY)


def test_redelivered_messages_are_not_counted_twice() -> None:
    msgs, _ = _messages(seed=5)
    once = _run(Processor("t"), msgs, batch=100)
    store = _run(Processor("t"), msgs[:700], batch=100)
    # crash: the last 300 applied messages are delivered again, then the rest
    store = _run(Processor("t"), msgs[400:], batch=100, store=store)
    for key in once:
        if key.startswith("s:"):
            assert store[key].events == once[key].events
            assert store[key].actuals(DAY) == once[key].actuals(DAY)
            assert store[key].model.forecast() == once[key].model.forecast()


def test_bad_and_late_records_become_dead_letters_with_reasons() -> None:
    proc = Processor("sales.events")
    good = SaleEvent("A", T0 + 5 * DAY, 1, 1.0).to_json()
    late = SaleEvent("A", T0 + 1 * DAY, 1, 1.0).to_json()
    ahead = SaleEvent("A", T0 + 60 * DAY, 1, 1.0).to_json()
    msgs = [Message(0, 0, good), Message(1, 0, b"{oops"), Message(2, 0, late), Message(3, 0, ahead)]
    out = proc.process(2, msgs, {}.get)
    assert out.accepted == 1
    assert [(d.stage, d.offset, d.partition) for d in out.dead] == [
        ("validation", 1, 2),
        ("bucketing", 2, 2),
        ("bucketing", 3, 2),
    ]
    assert all(d.reason and d.topic == "sales.events" for d in out.dead)
    assert out.dead[0].raw == b"{oops"


def test_snapshot_carries_forecast_with_interval_and_model() -> None:
    msgs, _ = _messages(days=40, n_series=2)
    proc = Processor("t", horizon=7)
    store: dict = {}
    out = proc.process(0, msgs, store.get)
    write = next(w for w in out.writes if w.series == "S0")
    assert write.forecast is not None
    fc = write.forecast["forecast"]
    assert len(fc["yhat"]) == len(fc["lo"]) == len(fc["hi"]) == len(fc["t"]) == 7
    assert all(lo <= y <= hi for lo, y, hi in zip(fc["lo"], fc["yhat"], fc["hi"], strict=True))
    assert fc["t"][0] == write.live["open"]["t"]
    assert write.update["kind"] == "forecast" and len(write.update["actuals"]) == 28
    assert fc["model"]["winner"] in fc["model"]["weights"]
    last_s0 = max(m.offset for m in msgs if b'"S0"' in m.value)
    assert write.version == last_s0


def test_the_worker_model_is_dated_for_the_holiday_factor() -> None:
    from models.calendar import HolidayAdjusted
    from salescast.config import Settings

    proc = Processor.from_settings(Settings())
    msgs, _ = _messages(days=20)
    store = _run(proc, msgs, batch=50)
    st = store["s:S1"]
    fc = st.model.forecaster
    assert isinstance(fc, HolidayAdjusted)
    assert fc.day == st.origin // DAY  # the next value to learn is the bucket at the origin
    assert "holiday_factor" in st.model.forecast().model
