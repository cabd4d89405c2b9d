"""The worker's pure core: exact aggregates, dedup of redelivered offsets, dead letters."""

from __future__ import annotations

import calendar
import json
import pickle
import random
import time

from contracts.events import SaleEvent
from models.grid import MONTH, shift
from stream.processor import Message, Processor

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


def _forecast(st):
    """The forecast of a stored state, recomputed from its row by a fresh processor."""
    return Processor("t").forecast_of(pickle.loads(pickle.dumps(st)))


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
            assert a[key].row == b[key].row  # the model's bytes
            assert _forecast(a[key]) == _forecast(b[key])
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
            assert store[key].row == once[key].row
            assert _forecast(store[key]) == _forecast(once[key])


def test_bad_and_late_records_become_dead_letters_with_reasons() -> None:
    proc = Processor("sales.events", event_time="replay")
    good = SaleEvent("A", T0 + 5 * DAY, 1, 1.0).to_json()
    late = SaleEvent("A", T0 + 1 * DAY, 1, 1.0).to_json()
    ahead = SaleEvent("A", T0 + 60 * DAY, 1, 1.0).to_json()
    others = [Message(10 + i, 0, SaleEvent(sid, T0 + 5 * DAY, 1, 1.0).to_json())
              for i, sid in enumerate("BC")]
    msgs = [Message(0, 0, good), *others, Message(11, 0, b"{oops"), Message(12, 0, late),
            Message(13, 0, ahead)]
    out = proc.process(2, msgs, {}.get)
    assert out.accepted == 3
    assert [(d.stage, d.code, d.offset, d.partition, d.series) for d in out.dead] == [
        ("validation", "invalid", 11, 2, None),
        ("bucketing", "too_late", 12, 2, "A"),
        ("bucketing", "too_far_ahead", 13, 2, "A"),
    ]
    assert all(d.reason and d.topic == "sales.events" for d in out.dead)
    assert out.dead[0].raw == b"{oops"


def test_live_mode_bounds_event_time_by_the_message_timestamp() -> None:
    proc = Processor("t", max_skew=300)
    now = T0 + 10 * DAY
    msgs = [Message(0, now, SaleEvent("A", now + 299, 1, 1.0).to_json()),
            Message(1, now, SaleEvent("A", now + 301, 1, 1.0).to_json()),
            Message(2, now, SaleEvent("B", 4_000_000_000.0, 1, 1.0).to_json())]  # 2096
    out = proc.process(0, msgs, {}.get)
    assert out.accepted == 1
    assert [(d.code, d.offset) for d in out.dead] == [("in_future", 1), ("in_future", 2)]
    assert "after its message's timestamp" in out.dead[0].reason
    assert out.states["p:0"].clock.watermark == now  # a vote is at most the message's time


def test_a_producer_clock_ahead_does_not_make_the_others_events_late() -> None:
    """A live probe: 4 of a partition's 6 series came from a producer 120 s fast (within the
    300 s skew), their votes moved the watermark 2 minutes ahead of the broker's clock, and
    364 correctly timed events of the other producer were dead-lettered as too late (lateness
    10 s, minute buckets). A vote now counts at most its message's timestamp."""
    proc = Processor("t", width=60, lateness=10, max_skew=300)
    now = T0 + 10 * DAY + 30
    fast = [Message(i, now, SaleEvent(f"F{i}", now + 120, 1, 1.0).to_json()) for i in range(4)]
    right = [Message(4 + i, now, SaleEvent(f"R{i}", now, 1, 1.0).to_json()) for i in range(2)]
    store: dict = {}
    out = proc.process(0, fast + right, store.get)
    store.update(out.states)
    late = proc.process(0, [Message(6, now + 5, SaleEvent("R0", now - 5, 2, 1.0).to_json())],
                        store.get)
    assert late.accepted == 1 and late.dead == [], [d.reason for d in late.dead]


def test_duplicate_ids_are_dead_lettered_as_skips() -> None:
    e = SaleEvent("A", T0 + 60, 2, 1.0, id="inv-7:0")
    envelope = b'{"events": [' + e.to_json() + b", " + e.to_json() + b"]}"
    out = Processor("t").process(0, [Message(0, 0, e.to_json()), Message(1, 0, envelope)],
                                 {}.get)
    assert out.accepted == 1 and out.duplicate_ids == 2
    assert [(d.code, d.stage, d.offset, d.index) for d in out.dead] == [
        ("duplicate_id", "duplicate", 1, 0), ("duplicate_id", "duplicate", 1, 1)]
    assert out.states["s:A"].events == 1


def test_events_on_the_wrong_partition_are_re_routed_with_an_id() -> None:
    from stream.partitioning import partition_for

    home = partition_for("A", 4)
    wrong = (home + 1) % 4
    envelope = (b'{"events": [' + SaleEvent("A", T0, 1, 1.0).to_json() + b", "
                + SaleEvent("A", T0 + 1, 1, 1.0, id="x").to_json() + b"]}")
    out = Processor("t", partitions=4).process(wrong, [Message(5, 0, envelope)], {}.get)
    assert out.accepted == 0 and out.dead == [] and "s:A" not in out.states
    assert [series for series, _ in out.reroute] == ["A", "A"]
    first = json.loads(out.reroute[0][1])
    assert first["rerouted_from"] == f"{wrong}/5/0" and first["id"] == f"@{wrong}/5/0"
    assert json.loads(out.reroute[1][1])["id"] == "x"
    # on its home partition the copy counts, and a second copy of it (sent twice) does not
    copies = [Message(i, 0, out.reroute[0][1]) for i in range(2)]
    again = Processor("t", partitions=4).process(home, copies, {}.get)
    assert again.accepted == 1 and again.duplicate_ids == 1


def test_a_crash_between_any_two_state_writes_recovers_exactly() -> None:
    """Kill the worker at many points: the changelog holds a prefix of the flush (states
    in put order, the partition clock last); replaying from the committed offset gives the
    same counts, closes and dead letters as a run without a crash."""
    msgs, _ = _messages(days=20, per_day=60, n_series=12, seed=5)
    msgs.insert(300, Message(300, 0, b"{bad"))
    msgs = [Message(i, 0.0, m.value) for i, m in enumerate(msgs)]
    reference = _run(Processor("t"), msgs, batch=50)
    rng = random.Random(11)
    for _ in range(8):
        proc, durable, live = Processor("t"), {}, {}
        commit = 0
        cut = rng.randrange(100, len(msgs) - 100)
        for i in range(0, cut, 50):  # batches; a flush + commit every other batch
            out = proc.process(0, msgs[i : i + 50], live.get)
            live.update(out.states)
            if (i // 50) % 2 == 1:
                durable.update({k: pickle.loads(pickle.dumps(v)) for k, v in live.items()})
                commit = i + 50
        # the crash: a random prefix of the last flush reached the changelog, which writes
        # the series states first and the partition state last (stream.state.StateStore)
        pending = sorted(live.items(), key=lambda kv: kv[0].startswith("p:"))
        for k, v in pending[: rng.randrange(len(pending) + 1)]:
            durable[k] = pickle.loads(pickle.dumps(v))
        recovered = _run(Processor("t"), msgs[commit:], batch=50, store=durable)
        for key, ref in reference.items():
            if key.startswith("s:"):
                got = recovered[key]
                assert got.events == ref.events, key
                assert got.actuals(DAY) == ref.actuals(DAY), key
                assert _forecast(got) == _forecast(ref), key


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
    assert len(fc["mean"]) == 7 and min(fc["mean"]) >= 0  # the mean forecast, to sum
    assert fc["t"][0] == write.live["open"]["t"]
    assert write.update["kind"] == "forecast" and len(write.update["actuals"]) == 28
    assert fc["model"]["winner"] in fc["model"]["weights"]
    last_s0 = max(m.offset for m in msgs if b'"S0"' in m.value)
    assert write.version == last_s0


def test_the_worker_model_is_dated_for_the_holiday_factor() -> None:
    from config import Settings

    proc = Processor.from_settings(Settings())
    msgs, _ = _messages(days=20)
    store = _run(proc, msgs, batch=50)
    st = store["s:S1"]
    res = proc.banks[0]
    # the next value to learn is the bucket at the origin
    assert res.bank.day[res.row(st)] == st.origin // DAY
    assert "holiday_factor" in proc.forecast_of(st).model


def test_a_shop_s_days_run_from_its_own_midnight_with_its_utc_offset() -> None:
    """A New York shop (SALESCAST_UTC_OFFSET=-05:00) sells at 01:00 and at 23:30 local each
    day: its buckets are its own days (the evening sale is 04:30 UTC the next day), dated by
    its midnight, and the holiday factor reads its local days. In UTC days each bucket held
    one day's morning and the evening before."""
    from config import load_settings
    from models import grid

    midnight = calendar.timegm((2024, 6, 20, 5, 0, 0))  # 2024-06-20 00:00 at UTC-05:00
    events = []
    for day in range(20):
        events += [SaleEvent("A", midnight + day * DAY + 3600, 10, 1.0),
                   SaleEvent("A", midnight + day * DAY + 84_600, day + 1, 1.0)]
    msgs = [Message(i, 0.0, e.to_json()) for i, e in enumerate(events)]
    try:
        proc = Processor.from_settings(load_settings({
            "SALESCAST_UTC_OFFSET": "-05:00",
            "SALESCAST_LATENESS_SECONDS": "0", "SALESCAST_AGGREGATE_BY": "none"}))
        st = _run(proc, msgs, batch=7)["s:A"]
        got = st.actuals(DAY)
        assert got[0] == [midnight, 11.0] and [v for _, v in got] == [
            10.0 + d + 1 for d in range(len(got))]
        res = proc.banks[0]
        june_20 = calendar.timegm((2024, 6, 20, 0, 0, 0)) // DAY  # the local date, as a day
        assert res.bank.day[res.row(st)] == june_20 + (st.origin - midnight) // DAY
    finally:
        grid.use_offset(0)
    utc = _run(Processor.from_settings(load_settings({
        "SALESCAST_LATENESS_SECONDS": "0",
        "SALESCAST_AGGREGATE_BY": "none"})), msgs, batch=7)["s:A"]
    assert [v for _, v in utc.actuals(DAY)][1:4] == [11.0, 12.0, 13.0]  # morning + evening before


def test_the_worker_takes_its_holiday_calendar_from_the_settings() -> None:
    """SALESCAST_HOLIDAYS names the calendar of daily buckets (England's by default);
    other widths have no holiday factor and leave the calendar alone."""
    from config import load_settings
    from models.calendar import DEFAULT_HOLIDAYS, holidays_in_use

    try:
        Processor.from_settings(load_settings({"SALESCAST_HOLIDAYS": "us-ny"}))
        assert holidays_in_use() == "US-NY"
        hourly = Processor.from_settings(load_settings({"SALESCAST_HOLIDAYS": "none",
                                                        "SALESCAST_BUCKET_SECONDS": "3600"}))
        assert holidays_in_use() == "US-NY" and not hourly.holidays
        Processor.from_settings(load_settings({}))
        assert holidays_in_use() == DEFAULT_HOLIDAYS
    finally:
        from models.calendar import use_holidays

        use_holidays(DEFAULT_HOLIDAYS)


def test_a_replayed_series_whose_buckets_are_all_closed_is_not_zero_filled() -> None:
    """A restored series state can be ahead of its partition's clock (it reached the
    changelog, the clock did not). When its events come again they are skipped, and it must
    not be queued for closing: with no open bucket it would be zero-filled up to the
    watermark, closes a single worker never makes (seen with several workers and rebalances)."""
    rng = random.Random(7)
    events = [SaleEvent("A", T0 + 100, 2, 1.0)]  # A sells once, on day 0
    for day in range(6):
        for i in range(40):
            events.append(SaleEvent(f"B{rng.randrange(11)}", T0 + day * DAY + i * 2000, 1, 1.0))
    msgs = [Message(i, 0.0, e.to_json()) for i, e in enumerate(events)]
    reference = _run(Processor("t"), msgs, batch=50)
    assert reference["s:A"].actuals(DAY) == [[T0, 2.0]]
    # the crash: A's state (its day closed) reached the changelog, nothing else did
    durable = {"s:A": pickle.loads(pickle.dumps(reference["s:A"]))}
    recovered = _run(Processor("t"), msgs, batch=50, store=durable)
    assert recovered["s:A"].actuals(DAY) == [[T0, 2.0]]
    assert _forecast(recovered["s:A"]) == _forecast(reference["s:A"])


def test_the_worker_core_forecasts_months_dated_by_the_calendar() -> None:
    def utc(*fields: int) -> int:
        return calendar.timegm((*fields, *([0] * (6 - len(fields)))))

    rng = random.Random(3)
    truth: dict[tuple[str, int], float] = {}
    msgs = []
    for m in range(30):  # 2021-01 .. 2023-06, a seasonal level per series, days at random
        first = shift(utc(2021, 1, 1), m, MONTH)
        days = (shift(first, 1, MONTH) - first) // 86400
        for day in sorted(rng.randrange(days) for _ in range(40)):
            sid = f"S{rng.randrange(6)}"
            q = rng.randint(0, 3) + (5 if m % 12 == 11 else 0)
            truth[sid, first] = truth.get((sid, first), 0.0) + q
            ev = SaleEvent(sid, first + day * 86400 + rng.randrange(86400), q, 2.0)
            msgs.append(Message(len(msgs), 0.0, ev.to_json()))
    proc = Processor("t", width=MONTH, event_time="replay", horizon=6)
    store: dict = {}
    dated = []
    for i in range(0, len(msgs), 50):
        out = proc.process(0, msgs[i:i + 50], store.get)
        assert not out.dead, out.dead[:1]
        store.update({k: pickle.loads(pickle.dumps(v)) for k, v in out.states.items()})
        dated += [w.forecast["forecast"]["t"] for w in out.writes
                  if w.forecast is not None and w.forecast["forecast"] is not None]
    assert proc.resident(0).season == 12
    st = store["s:S0"]
    actuals = st.actuals(MONTH)
    assert len(actuals) >= 20
    for t, v in actuals:
        assert time.gmtime(t)[2:6] == (1, 0, 0, 0)  # the first of a month, midnight UTC
        assert v == truth.get(("S0", t), 0.0)
    assert st.origin == shift(actuals[-1][0], 1, MONTH)
    assert len(dated) > 50
    for ts in dated:
        assert len(ts) == 6 and ts == [shift(ts[0], i, MONTH) for i in range(6)]


def test_an_hourly_worker_forecasts_with_the_weekly_second_season() -> None:
    """Hourly buckets: the rows get the weekly members (models.seasons.season2_for), and a
    worker restarted on the saved states forecasts what the first, which never reloaded its
    rows, goes on to forecast, with rows equal byte for byte."""
    t0 = calendar.timegm((2021, 1, 4, 0, 0, 0))  # a Monday
    rng = random.Random(5)
    msgs = []
    for hour in range(3 * 168):
        if hour % 24 in range(9, 17) and (hour // 24) % 7 != 5:  # no sales on Saturdays
            for sid in ("A", "B"):
                ev = SaleEvent(sid, t0 + hour * 3600 + rng.randrange(3600), rng.randint(1, 4),
                               2.0)
                msgs.append(Message(len(msgs), 0.0, ev.to_json()))
    cut = len(msgs) - 60
    first, live = Processor("t", width=3600, event_time="replay", horizon=24), {}
    for i in range(0, cut, 40):
        out = first.process(0, msgs[i:min(i + 40, cut)], live.get)
        assert not out.dead, out.dead[:1]
        live.update(out.states)
    assert first.resident(0).season2 == 168
    members = [w.forecast["forecast"]["model"]["members"] for w in out.writes
               if w.forecast is not None and w.forecast["forecast"] is not None]
    assert members and all("seasonal_median_168" in m for m in members)
    saved = {k: pickle.loads(pickle.dumps(v)) for k, v in live.items()}
    restarted = Processor("t", width=3600, event_time="replay", horizon=24)
    want = first.process(0, msgs[cut:], live.get)
    got = restarted.process(0, msgs[cut:], saved.get)
    # the forecasts and actuals; not the versions (a close's version is the offset of the
    # message that closed it, and the cap on closes a step, kept in memory, can move it)
    parts = [[(w.forecast["forecast"], w.forecast["actuals"]) for w in o.writes if w.forecast]
             for o in (want, got)]
    assert parts[0] and parts[0] == parts[1]
    for key in ("s:A", "s:B"):
        assert first.resident(0).export_of(live[key]) == restarted.resident(0).export_of(
            saved[key])


def test_a_state_read_from_another_topic_or_with_other_aggregates_is_refused() -> None:
    """A probe renamed SALESCAST_EVENTS_TOPIC and kept the worker id: the series' offsets were
    the old topic's, so every event of the new one looked like a redelivery and was dropped
    without a word; a grouping changed under kept state mixed both groupings."""
    import pytest

    from stream.aggregates import Grouping
    from stream.errors import SettingsChanged
    from stream.sweep import close_due

    msgs, _ = _messages(days=3)
    store = _run(Processor("sales", partitions=4, aggregates=Grouping("country")), msgs, 50)
    again = Processor("sales", partitions=4, aggregates=Grouping("country"))
    again.process(0, msgs[-5:], store.get)  # the same settings: taken (redeliveries)
    for other, why in ((Processor("sales2", partitions=4, aggregates=Grouping("country")),
                        "from topic 'sales' and this worker reads 'sales2'"),
                       (Processor("sales", partitions=4),
                        "aggregates by 'country' and this worker's are by 'none'"),
                       (Processor("sales"), "by 'none'")):
        with pytest.raises(SettingsChanged, match=why):
            other.process(0, msgs[-5:], store.get)
        with pytest.raises(SettingsChanged, match=why):  # nor does it sweep the partition
            close_due(other, 0, ["S1"], store.get)
        with pytest.raises(SettingsChanged, match=why):  # and the worker's start says it
            other.check(0, store.get, "s:S1")
    again.check(0, store.get, "s:S1")  # the same settings, or no state: nothing to say
    Processor("sales2").check(0, {}.get, None)
    # a state of an older worker (no settings noted) is taken, and noted from then on
    old = store["p:0"]
    old.topic = old.aggregate_by = None
    out = Processor("sales", partitions=4, aggregates=Grouping("country")).process(
        0, msgs[-5:], store.get)
    assert (out.states["p:0"].topic, out.states["p:0"].aggregate_by) == ("sales", "country")


def test_a_state_read_from_a_topic_deleted_and_made_again_is_refused() -> None:
    """A probe deleted the events topic and made it again (the same name and count): its
    events, numbered from 0 again, were below every series' position, and a restarted worker
    dropped all of them as redeliveries, in silence. Partition states keep Kafka's topic id."""
    import pytest

    from stream.errors import SettingsChanged

    msgs, _ = _messages(days=3)
    first = Processor("sales")
    first.topic_id = "id-1"
    store = _run(first, msgs, 50)
    assert store["p:0"].topic_id == "id-1"
    unknown = Processor("sales")  # the watch has not looked yet: nothing to compare
    unknown.process(0, msgs[-5:], store.get)
    again = Processor("sales")
    again.topic_id = "id-2"
    with pytest.raises(SettingsChanged, match=r"partition 0's state was read from a topic "
                       r"'sales' that was deleted and created again since \(Kafka's topic id "
                       r"id-1, now id-2\).*start a new SALESCAST_WORKER_ID"):
        again.process(0, msgs[-5:], store.get)
    store["p:0"].topic_id = None  # a state of an older worker: the id is noted from now on
    assert again.process(0, msgs[-5:], store.get).states["p:0"].topic_id == "id-2"


def test_an_event_applied_after_a_rewind_is_written_newer_than_the_series_last_write() -> None:
    """A probe skipped events (offsets reset to the latest), let the worker go on (a day
    close wrote every series at a later offset), then rewound: the skipped events were
    applied, but their writes carried their own, older offsets, and Redis kept the hash it
    had (its version newer): the counts in Redis stayed short until the next event."""
    proc = Processor("t")
    store: dict = {}
    for off in range(3):
        store.update(proc.process(0, [Message(off, 0.0, SaleEvent(
            "A", T0 + off, 1, 1.0).to_json())], store.get).states)
    st = store["s:A"]
    st.written = 40  # a close written at offset 40 (a later message of another series)
    out = proc.process(0, [Message(7, 0.0, SaleEvent("A", T0 + 7, 1, 1.0).to_json())],
                       store.get)  # the rewound message: not applied before (position 2)
    (write,) = out.writes
    assert out.accepted == 1 and write.live["events"] == 4
    assert write.version == 41 and out.states["s:A"].written == 41
    again = proc.process(0, [Message(8, 0.0, SaleEvent("A", T0 + 8, 1, 1.0).to_json())],
                         {**store, **out.states}.get)
    assert again.writes[0].version == 42  # and so on, until offsets pass it
    redelivered = proc.process(0, [Message(7, 0.0, SaleEvent("A", T0 + 7, 1, 1.0).to_json())],
                               {**store, **out.states}.get)
    assert redelivered.accepted == 0 and redelivered.duplicates == 1  # counted once


def test_a_state_laid_on_another_clock_is_refused_even_a_day_apart() -> None:
    """A probe moved a New Zealand shop from +12:00 to -12:00: every bucket still started
    where it did (the grids are a day apart), so the series' check let it through, and every
    day was labelled a day earlier. The partition's state notes its clock."""
    import pytest

    from models import grid
    from stream.errors import SettingsChanged

    msgs, _ = _messages(days=3)
    try:
        grid.use_offset(12 * 3600)
        store = _run(Processor("sales"), msgs, 50)
        assert store["p:0"].utc_offset == 12 * 3600
        grid.use_offset(-12 * 3600)
        with pytest.raises(SettingsChanged, match=r"partition 0's state was laid on the shop's "
                           r"clock UTC\+12:00 and this worker's is UTC-12:00 "
                           r"\(SALESCAST_UTC_OFFSET\)"):
            Processor("sales").process(0, msgs[-5:], store.get)
        grid.use_offset(12 * 3600)
        Processor("sales").process(0, msgs[-5:], store.get)  # set back: taken
    finally:
        grid.use_offset(0)
    old = pickle.loads(pickle.dumps(store["p:0"]))
    del old.__dict__["utc_offset"]  # a state of a worker before the setting: laid on UTC
    assert pickle.loads(pickle.dumps(old)).utc_offset == 0


def test_a_partition_state_read_back_behind_its_series_still_counts_their_activity() -> None:
    """The partition state is saved after its series, so one read back after a crash or a
    rebalance can be behind them: the events its series applied meanwhile were counted for
    the aggregates but not for the shop-wide activity check, and a probe saw days with 44
    active series instead of 73 (false closures and surges). Each series now counts again,
    at most twice in a bucket."""
    msgs, _ = _messages(days=12, per_day=80, n_series=40, seed=3)
    reference = _run(Processor("t"), msgs, batch=40)
    proc, live = Processor("t"), {}
    for i in range(0, 480, 40):
        live.update(proc.process(0, msgs[i : i + 40], live.get).states)
    behind = pickle.loads(pickle.dumps(live["p:0"]))  # saved at message 480
    for i in range(480, 720, 40):
        live.update(proc.process(0, msgs[i : i + 40], live.get).states)
    durable = {k: pickle.loads(pickle.dumps(v)) for k, v in live.items()} | {"p:0": behind}
    recovered = _run(Processor("t"), msgs[480:], batch=40, store=durable)
    want = reference["p:0"].activity.history | reference["p:0"].activity.active
    got = recovered["p:0"].activity.history | recovered["p:0"].activity.active
    assert want.keys() == got.keys()
    assert all(want[b] <= got[b] <= 2 * want[b] for b in want), (want, got)
    assert any(got[b] > 0 for b in got)
