"""Aggregates in the processor: partitions report their sums, total's partition closes and
reconciles them; counts add up, children's forecasts sum to the total's, replays change nothing."""

from __future__ import annotations

import copy
import pickle
import random

import numpy as np
import pytest

from contracts.events import SaleEvent
from stream.aggregate_rows import LEDGER_KEY
from stream.aggregates import ROOT, Grouping
from stream.partitioning import partition_for
from stream.processor import Message, Processor

DAY = 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY
PARTS = 3
COUNTRIES = ["United Kingdom", "EIRE", "France", None]


def _events(days: int = 40, per_day: int = 60, seed: int = 0) -> list[SaleEvent]:
    rng = random.Random(seed)
    out = []
    for day in range(days):
        for i in range(per_day):
            country = rng.choices(COUNTRIES, weights=[8, 2, 1, 1])[0]
            out.append(SaleEvent(f"S{rng.randrange(12)}", T0 + day * DAY + i * (DAY // per_day),
                                 rng.randint(1, 6), 2.0, f"{day}:{i}", country))
    return out


class Cluster:
    """PARTS partitions of one topic, each with its queue; reports go to total's partition."""

    def __init__(self, proc: Processor) -> None:
        self.proc, self.store = proc, {}
        self.queues: list[list[Message]] = [[] for _ in range(PARTS)]
        self.next = [0] * PARTS
        self.published: list[dict[str, list[float]]] = []  # per batch of total's partition

    def send(self, partition: int, value: bytes) -> None:
        self.queues[partition].append(Message(self.next[partition], 0.0, value))
        self.next[partition] += 1

    def step(self, batch: int, redeliver: bool = False) -> None:
        for p in range(PARTS):
            msgs, self.queues[p] = self.queues[p][:batch], self.queues[p][batch:]
            if not msgs:
                continue
            if redeliver:  # sent, then a crash before the states were written: once more
                ghost = copy.deepcopy(self.store)
                for report in self.proc.process(p, msgs, ghost.get).reports:
                    self.send(partition_for(ROOT, PARTS), report)
            out = self.proc.process(p, msgs, self.store.get)
            self.store.update({k: pickle.loads(pickle.dumps(v)) for k, v in out.states.items()})
            for report in out.reports:
                self.send(partition_for(ROOT, PARTS), report)
            forecasts = {w.series: w.forecast["forecast"] for w in out.writes
                         if w.forecast is not None and w.forecast["forecast"] is not None
                         and (w.series == ROOT or w.series.startswith("country:"))}
            if forecasts:
                self.published.append(forecasts)

    def run(self, events: list[SaleEvent], batch: int = 25, redeliver: bool = False) -> None:
        for ev in events:
            self.send(partition_for(ev.series, PARTS), ev.to_json())
        while any(self.queues):
            self.step(batch, redeliver)


def _processor() -> Processor:
    return Processor("t", horizon=7, partitions=PARTS, event_time="replay",
                     aggregates=Grouping("country"))


def test_counts_of_the_aggregates_equal_the_sums_of_their_events() -> None:
    events = _events()
    c = Cluster(_processor())
    c.run(events)
    skus = [v for k, v in c.store.items() if k.startswith("s:S")]
    total = c.store[f"s:{ROOT}"]
    assert c.proc.aggregation is not None
    led = c.store[LEDGER_KEY]
    assert led.events(ROOT) == sum(st.events for st in skus) == len(events)
    for country in COUNTRIES:
        name = f"country:{country or '(none)'}"
        assert led.events(name) == sum(1 for e in events if e.country == country)
    # the closed days: the total's actuals are the sums of the events of each day
    by_day = {}
    for e in events:
        by_day[int(e.ts - T0) // DAY] = by_day.get(int(e.ts - T0) // DAY, 0.0) + e.qty
    for t, v in total.actuals(DAY):
        assert v == by_day[(t - T0) // DAY]
    assert total.live_open is not None and total.live_open["qty"] > 0
    # its event time is its open bucket's start: at 0 it sorted last in `list` (a probe)
    assert total.last_ts == total.live_open["t"] > 0


def test_children_forecasts_sum_to_the_total_at_every_published_origin() -> None:
    c = Cluster(_processor())
    c.run(_events())
    assert len(c.published) > 10
    for fs in c.published:
        kids = [f for s, f in fs.items() if s != ROOT]
        assert ROOT in fs and len(kids) == len(COUNTRIES)
        assert {tuple(f["t"]) for f in fs.values()} == {tuple(fs[ROOT]["t"])}
        total = np.array(fs[ROOT]["yhat"])
        np.testing.assert_allclose(np.sum([k["yhat"] for k in kids], axis=0), total,
                                   rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(np.sum([k["mean"] for k in kids], axis=0),  # the means too
                                   fs[ROOT]["mean"], rtol=1e-9, atol=1e-9)
        assert sum(k["lead"]["mean"] for k in kids) == pytest.approx(fs[ROOT]["lead"]["mean"])
        assert fs[ROOT]["model"]["hierarchy"]["children"] == sorted(
            s for s in fs if s != ROOT)


def test_a_redelivered_batch_changes_nothing() -> None:
    events = _events(days=20)
    once, twice = Cluster(_processor()), Cluster(_processor())
    once.run(events)
    twice.run(events, redeliver=True)
    for key in (f"s:{ROOT}", "s:country:EIRE"):
        assert once.store[key].actuals(DAY) == twice.store[key].actuals(DAY)
        assert once.store[key].events == twice.store[key].events


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_counts_stay_exact_through_crashes_and_a_partition_that_starts_late(seed: int) -> None:
    """Partitions take turns at random with batches of random size; one is not read at all
    for its first 150 turns (the others close days without it); a tenth of the batches
    crash: their reports may or may not have been sent, a prefix of their states written,
    and every partition restarts from its committed offset with a new processor."""
    rng = random.Random(seed)
    events = _events(days=8, per_day=30, seed=seed)
    home, late = partition_for(ROOT, PARTS), (partition_for(ROOT, PARTS) + 1) % PARTS
    logs: list[list[Message]] = [[] for _ in range(PARTS)]
    for ev in events:
        log = logs[partition_for(ev.series, PARTS)]
        log.append(Message(len(log), 0.0, ev.to_json()))
    saved: dict[str, bytes] = {}  # what survives a crash
    store: dict = {}
    committed, pos, proc, turn = [0] * PARTS, [0] * PARTS, _processor(), 0
    while any(pos[p] < len(logs[p]) for p in range(PARTS)):
        turn += 1
        p = rng.randrange(PARTS)
        msgs = logs[p][pos[p]:pos[p] + rng.randint(1, 40)]
        if not msgs or (p == late and turn < 150):
            continue
        out = proc.process(p, msgs, store.get)
        crash = rng.random() < 0.1
        sent = not crash or rng.random() < 0.5
        if sent:
            for report in out.reports:
                logs[home].append(Message(len(logs[home]), 0.0, report))
        items = list(out.states.items())
        written = items if not crash else items[:rng.randint(0, len(items))] if sent else []
        saved.update({k: pickle.dumps(v) for k, v in written})
        store.update({k: pickle.loads(saved[k]) for k, _ in written})
        if crash:
            store = {k: pickle.loads(v) for k, v in saved.items()}
            proc, pos = _processor(), committed[:]
        else:
            pos[p] = committed[p] = pos[p] + len(msgs)
    led = store[LEDGER_KEY]
    assert led.late > 0  # days did close without the late partition
    agg = _processor().aggregation
    assert agg is not None and agg.figures(range(PARTS)) == {}  # its ledger not read yet
    agg.ledger(store.get)  # the ops snapshot shows it while the worker holds that partition
    assert agg.figures([home]) == {"aggregate_late": led.late}
    assert agg.figures(p for p in range(PARTS) if p != home) == {}
    assert led.events(ROOT) == store[f"s:{ROOT}"].events == len(events)
    for country in COUNTRIES:
        assert led.events(f"country:{country or '(none)'}") == sum(
            1 for e in events if e.country == country)


def test_a_sku_named_like_an_aggregate_is_a_dead_letter() -> None:
    proc = _processor()
    ev = SaleEvent(ROOT, T0, 1.0, 1.0)
    out = proc.process(partition_for(ROOT, PARTS), [Message(0, 0.0, ev.to_json())], {}.get)
    assert [d.code for d in out.dead] == ["reserved"] and out.accepted == 0


def test_aggregates_off() -> None:
    proc = Processor("t", horizon=7, partitions=PARTS)
    out = proc.process(0, [Message(0, 0.0, SaleEvent("S1", T0, 1.0, 1.0).to_json())], {}.get)
    assert proc.aggregation is None and out.reports == []


@pytest.mark.parametrize(("raw", "why"), [
    (b'{"aggregate_report":{"partition":1e400,"offset":1,"final_until":null,"sums":{}}}',
     "not an aggregate report: cannot convert float infinity"),
    (b'{"aggregate_report":{"partition":0,"offset":1,"final_until":null,'
     b'"sums":{"1300000000":{"country:X":[1,Infinity]}}}}', "not an aggregate report"),
    (b'{"aggregate_report":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "not an aggregate report"),
    (b'{"aggregate_report":oops}', "not an aggregate report"),
    (b'{"aggregate_report":{"partition":7,"offset":1,"final_until":null,"sums":{}}}',
     "the topic has partitions 0..2"),
    (b'{"aggregate_report":{"partition":0,"offset":1,"final_until":86400000000,"sums":{}}}',
     "final_until 86400000000 is not a bucket start"),
    (b'{"aggregate_report":{"partition":0,"offset":1,"final_until":null,'
     b'"sums":{"1300000001":{"country:X":[1,1]}}}}', "bucket 1300000001 is not a bucket start"),
    (b'{"aggregate_report":{"partition":0,"offset":1,"final_until":null,'
     b'"sums":{"1296000000":{"85123A":[1,1]}}}}', "'85123A' is no child of the total"),
    (b'{"aggregate_report":{"partition":0,"offset":1,"final_until":null,'
     b'"sums":{"1296000000":{"total":[1,1]}}}}', "'total' is no child of the total"),
])
def test_a_report_no_partition_sent_is_a_dead_letter(raw: bytes, why: str) -> None:
    """Anything on total's partition that starts like a report but is none a partition of
    this topic could send: a dead letter with the reason, never an exception (which would
    stop the worker on every restart) nor a ledger closing decades."""
    proc = Processor("t", partitions=PARTS, aggregates=Grouping("country"))
    home = partition_for(ROOT, PARTS)
    store: dict = {}
    out = proc.process(home, [Message(5, float(T0), raw)], store.get)
    assert [(d.stage, d.code, d.offset, d.index) for d in out.dead] == [
        ("aggregate", "invalid", 5, None)]
    assert out.dead[0].reason.startswith(why) or why in out.dead[0].reason, out.dead[0].reason
    assert out.closed == 0 and not out.writes


def test_two_worker_groups_on_one_topic_keep_their_own_totals() -> None:
    """A probe ran an hourly group beside a daily one on the same events topic: the hourly
    ledger took the daily reports as its own (each day's sum in one hour, the total's hourly
    forecast [1470, 0, 0, ...]) and the daily ledger dead-lettered the hourly ones. Reports
    now name their group; a ledger takes its own group's (and those that name none)."""
    from stream.aggregates import REPORT_PREFIX

    class OnOneTopic(Cluster):
        """A cluster whose reports reach another group's ledger too; keeps its dead letters."""

        def __init__(self, proc: Processor) -> None:
            super().__init__(proc)
            self.peer: Cluster | None = None
            self.dead: list = []
            process = proc.process

            def recording(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                out = process(*args, **kwargs)
                self.dead.extend(out.dead)
                return out

            proc.process = recording  # type: ignore[method-assign]

        def send(self, partition: int, value: bytes) -> None:
            super().send(partition, value)
            if self.peer is not None and value.startswith(REPORT_PREFIX):
                Cluster.send(self.peer, partition, value)

    def group(name: str, width: int) -> OnOneTopic:
        return OnOneTopic(Processor("t", width, horizon=7, partitions=PARTS,
                                    event_time="replay",
                                    aggregates=Grouping("country", group=name)))

    events = _events(days=6)
    alone = group("hourly", 3600)
    alone.run(events)
    daily, hourly = group("daily", DAY), group("hourly", 3600)
    daily.peer, hourly.peer = hourly, daily
    for ev in events:
        for c in (daily, hourly):
            c.send(partition_for(ev.series, PARTS), ev.to_json())
    while any(daily.queues) or any(hourly.queues):
        daily.step(25)
        hourly.step(25)
    assert hourly.store[f"s:{ROOT}"].actuals(3600) == alone.store[f"s:{ROOT}"].actuals(3600)
    assert len(alone.store[f"s:{ROOT}"].actuals(3600)) > 100
    assert daily.dead == [] and hourly.dead == []


def test_a_worker_without_aggregates_skips_other_groups_reports() -> None:
    from stream.aggregates import encode_report

    report = encode_report(1, 7, None, {T0: {"country:EIRE": [3.0, 2]}}, group="daily")
    for proc in (Processor("t", partitions=PARTS),  # no aggregates
                 Processor("t", partitions=PARTS, aggregates=Grouping("country"))):
        for p in range(PARTS):
            if proc.aggregation is not None and p == proc.aggregation.home:
                continue  # (its ledger's: tests above)
            out = proc.process(p, [Message(3, float(T0), report)], {}.get)
            assert out.dead == [] and out.accepted == 0 and not out.writes, (p, out.dead)
        bad = proc.process(0, [Message(4, float(T0), b'{"aggregate_report":oops}')], {}.get)
        assert [d.code for d in bad.dead] == ["invalid"]  # no report: a dead letter as before


def test_a_group_started_later_takes_no_report_of_an_older_worker() -> None:
    """Reports written before reports named their group name none: a ledger of that time
    takes them (its own group's, after an upgrade), a ledger made since does not (a group
    started later on the same topic took an older group's daily sums as its own)."""
    import pickle

    from stream.aggregate_rows import LEDGER_KEY
    from stream.aggregates import Ledger, encode_report

    proc = Processor("t", 3600, partitions=PARTS, aggregates=Grouping("country", group="h"))
    home = proc.aggregation.home  # type: ignore[union-attr]
    old = encode_report((home + 1) % PARTS, 7, None, {T0: {"country:EIRE": [3.0, 2]}})
    fresh: dict = {}
    out = proc.process(home, [Message(3, float(T0), old)], fresh.get)
    assert out.dead == [] and out.states[LEDGER_KEY].seen == {}  # not taken
    legacy = Ledger(PARTS, 3600)
    state = legacy.__dict__.copy()
    del state["named"]  # as pickled by an older worker
    restored = pickle.loads(pickle.dumps(legacy))
    restored.__dict__.clear()
    restored.__setstate__(state)
    assert restored.named is False
    out = proc.process(home, [Message(4, float(T0), old)], {LEDGER_KEY: restored}.get)
    assert out.states[LEDGER_KEY].seen == {(home + 1) % PARTS: 7}  # its own, before the upgrade


@pytest.mark.parametrize("seed", [0, 1])
def test_the_total_waits_for_a_partition_of_few_series_as_it_reports(seed: int) -> None:
    """A fast replay of a file of 3 SKUs: a partition of one or two series has no watermark
    for its first 100 events (stream.clock), so it declares nothing complete. The totals closed
    most days without its sums (a probe); now they wait while it reports, and every closed
    day's total is the sum of its events, whatever pace each partition is read at."""
    rng = random.Random(seed)
    events = [SaleEvent(f"S{rng.randrange(3)}", T0 + day * DAY + i * (DAY // 20),
                        rng.randint(1, 6), 2.0, f"{day}:{i}", rng.choice(COUNTRIES))
              for day in range(30) for i in range(20) if rng.random() < 0.5]
    c = Cluster(_processor())
    wall = [1e9]  # the messages' times: a report's says when its partition last spoke

    def send(partition: int, value: bytes) -> None:
        c.queues[partition].append(Message(c.next[partition], wall[0], value))
        c.next[partition] += 1

    c.send = send  # type: ignore[method-assign]
    for ev in events:
        c.send(partition_for(ev.series, PARTS), ev.to_json())
    pace = [rng.choice([1, 5, 25, 100]) for _ in range(PARTS)]  # batches of uneven sizes
    while any(c.queues):
        wall[0] += 1.0
        p = rng.randrange(PARTS)
        msgs, c.queues[p] = c.queues[p][:pace[p]], c.queues[p][pace[p]:]
        if msgs:
            out = c.proc.process(p, msgs, c.store.get)
            c.store.update({k: pickle.loads(pickle.dumps(v)) for k, v in out.states.items()})
            for report in out.reports:
                c.send(partition_for(ROOT, PARTS), report)
    assert c.proc.aggregation is not None
    home = c.proc.aggregation.home
    for _ in range(8):  # the worker's ticks, 10 s apart, once the replay is over
        wall[0] += 10
        c.send(home, c.proc.aggregation.tick())
        out = c.proc.process(home, c.queues[home], c.store.get)
        c.queues[home] = []
        c.store.update({k: pickle.loads(pickle.dumps(v)) for k, v in out.states.items()})
    by_day: dict[int, float] = {}
    for e in events:
        by_day[int(e.ts - T0) // DAY] = by_day.get(int(e.ts - T0) // DAY, 0.0) + e.qty
    actuals = c.store[f"s:{ROOT}"].actuals(DAY)
    assert len(actuals) >= 25
    assert [v for _, v in actuals] == [by_day.get((t - T0) // DAY, 0.0) for t, _ in actuals]


def test_partitions_read_late_in_a_fast_replay_count_in_the_total() -> None:
    """A fast replay of a small file (a probe, end to end: 48 of total's 59 days short): the
    first partition read reported all its days before the others reported at all, and total
    closed them without those. The ledger now waits PATIENCE_S of message time after its first
    report for partitions that have not reported; the worker holding total's partition sends
    ticks (reports of nothing) so that its clock runs when no report comes."""
    rng = random.Random(4)
    events = [SaleEvent(s, T0 + day * DAY + 3600 * rng.randint(8, 20), rng.randint(1, 5),
                        2.0, f"{s}{day}:{k}", rng.choice(COUNTRIES))
              for day in range(30) for s in ("A", "B", "C") for k in range(rng.randint(0, 3))]
    proc = Processor("t", horizon=7, partitions=PARTS, aggregates=Grouping("country"))
    assert proc.aggregation is not None
    home, store = proc.aggregation.home, {}
    logs: list[list[Message]] = [[] for _ in range(PARTS)]

    def send(partition: int, value: bytes, at: float) -> None:
        logs[partition].append(Message(len(logs[partition]), at, value))

    def read(p: int, at: float) -> None:
        out = proc.process(p, logs[p], store.get)
        logs[p] = []
        store.update({k: pickle.loads(pickle.dumps(v)) for k, v in out.states.items()})
        for report in out.reports:
            send(home, report, at)

    t = 2e9  # (live: the messages' times come after the events')
    for ev in events:
        send(partition_for(ev.series, PARTS), ev.to_json(), t)
    for p in sorted(range(PARTS), key=lambda p: p != home):  # one partition at a time
        read(p, t)
        read(home, t)  # total's partition reads each report as it comes
    assert store[f"s:{ROOT}"].actuals(DAY) == []  # within PATIENCE_S: nothing closed yet
    for k in range(1, 8):  # the worker's ticks, 10 s apart: the ledger's clock runs
        send(home, proc.aggregation.tick(), t + 10 * k)
        read(home, t + 10 * k)
    by_day: dict[int, float] = {}
    for e in events:
        by_day[int(e.ts - T0) // DAY] = by_day.get(int(e.ts - T0) // DAY, 0.0) + e.qty
    actuals = store[f"s:{ROOT}"].actuals(DAY)
    assert len(actuals) >= 25 and store[LEDGER_KEY].late == 0
    assert [v for _, v in actuals] == [by_day.get((t - T0) // DAY, 0.0) for t, _ in actuals]
