"""The fault suite: nothing valid is lost, nothing is counted twice (real Kafka and Redis).

Each test reproduces one way the pipeline lost or rejected valid events and asserts exact
reconciliation: every valid event counted once in its series, every rejected one
dead-lettered once (by key) with its code.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
import redis

from contracts.events import SaleEvent
from infra.procs import stop
from stream.app import state_changelog
from stream.partitioning import partition_for
from stream.records import DeadLetter
from tests.integration.clients import Subscriber, latest_versions

pytestmark = pytest.mark.integration

DAY = 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY


def _dead_letters(pipeline, at_least: int, timeout: float = 60.0) -> dict[bytes, DeadLetter]:
    """The distinct dead letters (by key) on the test's dead-letter topic."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": pipeline.settings.kafka,
                         "group.id": f"faults-{time.monotonic_ns()}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([pipeline.settings.deadletter_topic])
    dead: dict[bytes, DeadLetter] = {}
    deadline = time.monotonic() + timeout
    while len(dead) < at_least and time.monotonic() < deadline:
        for msg in consumer.consume(500, timeout=1.0):
            if not msg.error():
                dl = DeadLetter.from_json(msg.value())
                dead[dl.key] = dl
    consumer.close()
    return dead


def _truth(events: list[SaleEvent]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in events:
        out[e.series] = out.get(e.series, 0) + 1
    return out


def _reasons(report: dict) -> dict[str, int]:
    """The dead-letter reasons an audit report counted, without the zeros."""
    return {code: n for code, n in report["total"]["dead_letters"].items() if n}


def _counted(pipeline, truth: dict[str, int]) -> bool:
    return all((pipeline.snapshot(sid) or {}).get("events") == n for sid, n in truth.items())


def _miscounted(pipeline, truth: dict[str, int], most: int = 10) -> str:
    """The first series whose Redis count is off: ``series (partition): counted/true``."""
    from stream.partitioning import partition_for

    wrong = [(sid, (pipeline.snapshot(sid) or {}).get("events"), n) for sid, n in truth.items()]
    wrong = [w for w in wrong if w[1] != w[2]]
    parts = pipeline.settings.partitions
    return f"{len(wrong)} series miscounted: " + ", ".join(
        f"{sid} (p{partition_for(sid, parts)}): {got}/{n}" for sid, got, n in wrong[:most]) \
        + "\n" + _offsets(pipeline) + "\n" + _versions(pipeline, [w[0] for w in wrong[:3]]) \
        + "\n--- salescast audit\n" + pipeline.audit().stdout[-3000:] \
        + "\n--- the workers' warnings\n" + _warnings(pipeline)


def _warnings(pipeline) -> str:
    """Every warning, error and seek back of every worker's log, a line each."""
    return "\n".join(
        f"{log.name}: {line[:240]}" for log in sorted(pipeline.logs.glob("worker-*.log"))
        for line in log.read_text(errors="replace").splitlines()
        if "[WARNING]" in line or "[ERROR]" in line or "seeking back" in line)


def _versions(pipeline, series: list[str]) -> str:
    """The Redis snapshot of each of ``series``, its plain fields (its version: whose write won)."""
    return "\n".join(f"{sid}: " + repr({k: v for k, v in (pipeline.snapshot(sid) or {}).items()
                                        if not isinstance(v, (list, dict))}) for sid in series)


def _offsets(pipeline) -> str:
    """Per partition: the group's committed offset, the events topic's end, the changelog's end."""
    from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient

    s = pipeline.settings
    admin = AdminClient({"bootstrap.servers": s.kafka})
    tps = [TopicPartition(s.events_topic, p) for p in range(s.partitions)]
    req = [ConsumerGroupTopicPartitions(s.worker_id, tps)]
    committed = {tp.partition: tp.offset for tp in
                 admin.list_consumer_group_offsets(req)[s.worker_id].result(10).topic_partitions}
    c = Consumer({"bootstrap.servers": s.kafka, "group.id": "test-offsets"})
    try:
        changelog = state_changelog(s.worker_id)
        return "\n".join(
            f"p{p}: committed {committed.get(p)}, events end "
            f"{c.get_watermark_offsets(TopicPartition(s.events_topic, p), 10)[1]}, changelog end "
            f"{c.get_watermark_offsets(TopicPartition(changelog, p), 10)[1]}"
            for p in range(s.partitions))
    finally:
        c.close()


def test_an_oversized_bad_record_loses_nothing(pipeline) -> None:
    good = [SaleEvent(f"K{i % 30}", T0 + i * 60, 1, 1.0) for i in range(1000)]
    huge = b'{"series": "K1", "ts": "' + b"9" * 900_000 + b'"}'  # ~900 KB, invalid
    records = [(e.series.encode(), e.to_json()) for e in good[:500]]
    records += [(b"K1", huge)] + [(e.series.encode(), e.to_json()) for e in good[500:]]
    pipeline.produce(records)
    pipeline.start_worker()
    truth = _truth(good)
    pipeline.wait_for(lambda: _counted(pipeline, truth), 120, "every good event counted")
    dead = _dead_letters(pipeline, 1)
    assert len(dead) == 1
    (dl,) = dead.values()
    assert dl.code == "invalid" and dl.raw_size == len(huge) and dl.truncated
    assert len(dl.to_json()) < 64_000
    assert int(pipeline.ops()["accepted"]) == len(good)
    report = pipeline.reconciled()
    assert report["total"]["accepted"] == len(good)
    assert _reasons(report) == {"invalid": 1}


def test_one_producer_cannot_move_the_clock_for_everyone(pipeline) -> None:
    """Live mode: 100 events dated 2099 are rejected as in the future; a series stepping 29
    days at a time does not close the other series' buckets."""
    n = pipeline.settings.partitions
    home = partition_for("VICTIM0", n)
    victims = [s for s in (f"VICTIM{i}" for i in range(400)) if partition_for(s, n) == home][:6]
    bad = victims.pop()
    good = [SaleEvent(victims[i % 5], T0 + i * 600, 1, 1.0) for i in range(60)]
    hijack = [SaleEvent(bad, T0 + 6000 + k * 29 * DAY, 1, 1.0) for k in range(1, 6)]
    future = [SaleEvent(bad, 4_102_000_000.0 + i, 1, 1.0) for i in range(100)]  # 2099
    later = [SaleEvent(victims[i % 5], T0 + 36000 + i * 60, 1, 1.0) for i in range(40)]
    records = [(e.series.encode(), e.to_json()) for e in good + hijack + future + later]
    pipeline.produce(records)
    pipeline.start_worker()
    truth = _truth(good + later)
    truth[bad] = len(hijack)  # its own events count, they just do not move the clock
    pipeline.wait_for(lambda: _counted(pipeline, truth), 120, "the victims' events counted")
    dead = _dead_letters(pipeline, len(future))
    assert sorted(d.code for d in dead.values()) == ["in_future"] * len(future)
    assert _reasons(pipeline.reconciled()) == {"in_future": len(future)}


def test_duplicate_ids_count_once(pipeline) -> None:
    retried = SaleEvent("DUP", T0 + 60, 3, 1.0, id="489434:0")
    others = [SaleEvent("DUP", T0 + 120 + i, 1, 1.0, id=f"489435:{i}") for i in range(5)]
    pipeline.produce([(b"DUP", retried.to_json())] * 20 +
                     [(b"DUP", e.to_json()) for e in others])
    pipeline.start_worker()
    pipeline.wait_for(lambda: _counted(pipeline, {"DUP": 6}), 90, "DUP counted 6 times")
    dead = _dead_letters(pipeline, 19)
    assert sorted(d.code for d in dead.values()) == ["duplicate_id"] * 19
    time.sleep(2)
    assert pipeline.snapshot("DUP")["events"] == 6
    assert _reasons(pipeline.reconciled()) == {"duplicate_id": 19}


def test_mixed_envelopes_and_empty_keys_are_re_routed(pipeline) -> None:
    rng = random.Random(3)
    events = [SaleEvent(f"M{rng.randrange(50)}", T0 + i * 30, 1, 1.0) for i in range(3000)]
    records: list[tuple[bytes | None, bytes]] = []
    for i in range(0, 2980, 100):  # mixed-series envelopes, all with one key: one partition
        body = b",".join(e.to_json() for e in events[i : min(i + 100, 2980)])
        records.append((b"env", b'{"events": [' + body + b"]}"))
    records += [(b"", e.to_json()) for e in events[2980:]]  # empty keys
    pipeline.produce(records)
    pipeline.start_worker()
    truth = _truth(events)
    pipeline.wait_for(lambda: _counted(pipeline, truth), 180, "every event counted once")
    pipeline.wait_for(lambda: int(pipeline.ops().get("rerouted", 0)) > 0, 10,
                      "the ops snapshot to count the re-routed events")
    dead = _dead_letters(pipeline, 1, timeout=5)
    assert dead == {}
    report = pipeline.reconciled()
    assert report["total"]["accepted"] == len(events) and report["total"]["rerouted"] > 0


def _redis_on(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    from infra.redis_server import ensure_redis_server, redis_args, redis_healthy

    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(redis_args(ensure_redis_server(), port, workdir),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 20
    while not redis_healthy(f"redis://127.0.0.1:{port}/0", timeout=0.5):
        assert time.monotonic() < deadline and proc.poll() is None, "redis did not start"
        time.sleep(0.1)
    return proc


def _first_half_counted(pipeline, prefix: str, seed: int,
                        ) -> tuple[list[SaleEvent], list[tuple[bytes, bytes]], subprocess.Popen]:
    """6,000 events of 60 series; the first half produced, a worker started and the first
    half counted in Redis. Returns the events, their records and the worker."""
    rng = random.Random(seed)
    events = [SaleEvent(f"{prefix}{rng.randrange(60)}", T0 + i * 120, 1, 1.0)
              for i in range(6000)]
    records = [(e.series.encode(), e.to_json()) for e in events]
    pipeline.produce(records[:3000])
    worker = pipeline.start_worker()
    pipeline.wait_for(lambda: _counted(pipeline, _truth(events[:3000])), 120,
                      "the first half counted")
    return events, records, worker


@pytest.mark.parametrize("keep_data", [True, False], ids=["aof", "emptied"])
def test_redis_kill_and_restart(pipeline, tmp_path: Path, keep_data: bool) -> None:
    """kill -9 of Redis: the worker goes on without it and republishes when it is back,
    whether Redis restarts from its append-only file or empty."""
    from infra.kafka import free_ports

    port = free_ports(1)[0]
    workdir = tmp_path / "redis"
    server = _redis_on(port, workdir)
    url = f"redis://127.0.0.1:{port}/0"
    pipeline.settings = pipeline.settings.model_copy(update={"redis_url": url})
    pipeline.redis = redis.Redis.from_url(url)
    try:
        events, records, worker = _first_half_counted(pipeline, "R", 5)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        pipeline.produce(records[3000:])  # processed while Redis is down
        time.sleep(5)
        assert worker.poll() is None, "the worker died with Redis"
        if not keep_data:
            for f in workdir.glob("appendonly*"):
                if f.is_dir():
                    for g in f.iterdir():
                        g.unlink()
                else:
                    f.unlink()
        server = _redis_on(port, workdir)
        pipeline.wait_for(lambda: _counted(pipeline, _truth(events)), 120,
                          "Redis to hold every series' true count again")
        assert worker.poll() is None
        assert int(pipeline.ops().get("republished", 0)) > 0
        assert pipeline.reconciled()["total"]["accepted"] == len(events)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(10)


def test_kill_9_during_a_real_data_replay_recovers_exactly(pipeline, retail_csv: Path) -> None:
    """``salescast replay`` publishes real sales while the worker is killed with SIGKILL five
    times, each at a seeded number of events into its run, and restarted; at the end every
    series' count is exact, nothing was dead-lettered and ``salescast audit`` reconciles."""
    from infra.procs import salescast_cmd, spawn
    from sources.online_retail import iter_events

    n = 20_000
    real = list(iter_events(retail_csv, limit=n))
    truth = _truth(real)
    # the aggregates: total and each country; the audit checks their counts like a SKU's
    aggregates = {"total": n} | {f"country:{c}": k
                                 for c, k in _truth([SaleEvent(e.country or "(none)", 0, 1, 1)
                                                     for e in real]).items()}
    replay = spawn(salescast_cmd("replay", "--max", "--limit", str(n)), pipeline.env(),
                   pipeline.logs / "replay.log")
    rng = random.Random(2024)
    try:
        for _ in range(5):
            point = rng.randrange(300, 2500)  # events accepted by this run before its kill
            worker = pipeline.start_worker()
            pipeline.wait_for(lambda p=point: int(pipeline.ops().get("accepted", 0)) >= p
                              or _counted(pipeline, truth), 180,
                              f"the worker to accept {point} events")
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        assert replay.wait(180) == 0, "\n".join(pipeline.log_tail())
        pipeline.start_worker()
        try:
            pipeline.wait_for(lambda: _counted(pipeline, truth), 150, "every series' exact count")
        except AssertionError as exc:
            raise AssertionError(f"{_miscounted(pipeline, truth)}\n{exc}") from None
    finally:
        if replay.poll() is None:
            replay.kill()
    assert _dead_letters(pipeline, 1, timeout=5) == {}
    report = pipeline.reconciled()
    assert report["total"]["accepted"] == n and report["total"]["rejected"] == 0
    assert report["series_checked"] == len(truth) + len(aggregates)
    for name, count in aggregates.items():  # exact after five kills
        assert (pipeline.snapshot(name) or {}).get("events") == count, name


def test_gateway_kill_and_restart_subscribers_resume(pipeline) -> None:
    """kill -9 of the gateway while events flow: 40 subscribers (forecasts and actuals of ten
    series) reconnect to the restarted gateway with ``since`` and end on the versions a fresh
    client is given; none is left behind on either channel."""
    from infra.kafka import free_port
    from infra.procs import salescast_cmd, spawn

    port = free_port()
    env = dict(pipeline.env(), SALESCAST_MAX_CONNECTIONS_PER_ADDRESS="200",
               SALESCAST_HANDSHAKE_BURST="200")
    gateway_cmd = salescast_cmd("gateway", "--host", "127.0.0.1", "--port", str(port))
    url, health = f"ws://127.0.0.1:{port}/ws", f"http://127.0.0.1:{port}/healthz"
    series = [f"G{i}" for i in range(10)]
    rng = random.Random(11)
    events = [SaleEvent(series[rng.randrange(10)], T0 + i * 900, 1, 1.0) for i in range(3000)]
    phases = [events[:1000], events[1000:2000], events[2000:]]

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(health, timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    async def scenario() -> tuple[list[Subscriber], dict[tuple[str, str], int]]:
        pipeline.start_worker()
        gw = spawn(gateway_cmd, env, pipeline.logs / "gateway-0.log")
        try:
            await asyncio.to_thread(pipeline.wait_for, healthy, 60, "the gateway")
            stop = asyncio.Event()
            clients = [Subscriber([url], series[i % 10]) for i in range(40)]
            tasks = [asyncio.create_task(c.run(stop)) for c in clients]
            for i, phase in enumerate(phases):
                await asyncio.to_thread(pipeline.produce,
                                        [(e.series.encode(), e.to_json()) for e in phase])
                upto = _truth([e for p in phases[: i + 1] for e in p])
                await asyncio.to_thread(pipeline.wait_for, lambda t=upto: _counted(pipeline, t),
                                        120, f"phase {i} counted")
                if i == 0:  # the gateway dies; phase 1 is written while it is down
                    gw.send_signal(signal.SIGKILL)
                    await asyncio.to_thread(gw.wait, 10)
                if i == 1:
                    gw = spawn(gateway_cmd, env, pipeline.logs / "gateway-1.log")
                    await asyncio.to_thread(pipeline.wait_for, healthy, 60, "the restart")
            latest = await latest_versions(url, series)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(
                    c.seen.get(ch) != latest[(c.series, ch)]
                    for c in clients for ch in ("forecasts", "actuals")):
                await asyncio.sleep(0.25)
            stop.set()
            await asyncio.gather(*tasks)
            return clients, latest
        finally:
            if gw.poll() is None:
                gw.send_signal(signal.SIGTERM)
                gw.wait(10)

    clients, latest = asyncio.run(scenario())
    behind = [(c.series, ch, c.seen.get(ch), latest[(c.series, ch)])
              for c in clients for ch in ("forecasts", "actuals")
              if c.seen.get(ch) != latest[(c.series, ch)]]
    assert behind == []
    assert all(c.connects >= 2 for c in clients)  # every client lived through the restart
    assert pipeline.reconciled()["total"]["accepted"] == len(events)


def test_broker_kill_and_restart(pipeline, tmp_path: Path) -> None:
    """kill -9 of the Kafka broker mid-stream, then the broker restarted on its storage: the
    worker rides it out (no restart of its own) and every event is counted exactly once."""
    from infra.kafka import restart_kafka, start_kafka, stop_kafka
    from infra.services import create_topics

    broker = start_kafka(tmp_path / "kafka", attached=True)
    try:
        pipeline.settings = pipeline.settings.model_copy(
            update={"kafka_bootstrap": broker.bootstrap})
        create_topics(broker.bootstrap, pipeline.settings)
        events, records, worker = _first_half_counted(pipeline, "K", 9)
        os.kill(broker.pid, signal.SIGKILL)
        psutil.Process(broker.pid).wait(10)
        time.sleep(5)  # the worker finds the broker gone
        assert worker.poll() is None, "the worker died with the broker"
        broker = restart_kafka(broker.workdir, attached=True)
        pipeline.produce(records[3000:])
        pipeline.wait_for(lambda: _counted(pipeline, _truth(events)), 180,
                          "every event counted after the broker came back")
        assert worker.poll() is None, "the worker died after the broker came back"
        assert pipeline.reconciled()["total"]["accepted"] == len(events)
    finally:
        for w in pipeline.workers:
            stop(w, 30)
        pipeline.workers.clear()
        stop_kafka(broker.pid)


def test_a_worker_with_another_partition_count_refuses_to_start(pipeline) -> None:
    """Topics of 8 partitions, ``SALESCAST_PARTITIONS=4``: the worker says so in one line and
    exits before it reads an event (Faust would create the changelog with 4, process, then
    crash at the first state it writes)."""
    assert pipeline.settings.partitions == 8
    pipeline.produce([(b"P1", SaleEvent("P1", T0, 1, 1.0).to_json())])
    pipeline.settings = pipeline.settings.model_copy(update={"partitions": 4})
    worker = pipeline.start_worker()
    assert worker.wait(60) == 2
    log = "\n".join(pipeline.log_tail(5))
    assert f"SALESCAST_PARTITIONS is 4 but topic {pipeline.settings.events_topic} has 8" in log
    assert "Traceback" not in log
    assert pipeline.snapshot("P1") is None


def test_the_events_of_aborted_transactions_are_not_counted(pipeline) -> None:
    """A transactional producer (as Kafka Streams, Flink and Debezium write) aborts some
    transactions: the worker read uncommitted records, Faust's default outside its own
    exactly-once mode, and counted them (a probe: 1,300 events in Redis for 800 committed,
    every series over its audit), and the commit marker that ends a transaction made the
    partition look stalled for good and left the ops lag at 1 until the next record."""
    from confluent_kafka import Producer

    from stream.partitioning import PRODUCER_PARTITIONER

    s = pipeline.settings
    worker = pipeline.start_worker()  # reading while the transactions are written
    pipeline.produce([(b"TX0", SaleEvent("TX0", T0, 1, 1.0).to_json())])
    pipeline.wait_for(lambda: pipeline.snapshot("TX0") is not None, 90, "TX0's snapshot")
    producer = Producer({"bootstrap.servers": s.kafka, "transactional.id": f"tx-{s.worker_id}",
                         "log_level": 0,
                         "partitioner": PRODUCER_PARTITIONER})
    producer.init_transactions(30)
    kept = [SaleEvent("TX0", T0, 1, 1.0)]
    for n, commit in enumerate([True, False, True, False, True]):
        producer.begin_transaction()
        batch = [SaleEvent(f"TX{i % 7}", T0 + n * 3600 + i, 1 + n, 1.0) for i in range(40)]
        for e in batch:
            producer.produce(s.events_topic, key=e.series.encode(), value=e.to_json())
        producer.flush(30)  # in the log before the end: an abort would drop queued ones
        if commit:
            producer.commit_transaction(30)
            kept += batch
        else:
            producer.abort_transaction(30)
    truth = _truth(kept)
    pipeline.wait_for(lambda: _counted(pipeline, truth), 120, "the committed events counted")
    assert pipeline.reconciled()["total"]["accepted"] == len(kept) == 121
    # each partition ends on a commit marker, which no fetch returns: it was sought back
    # every 5 s, forever, with a warning
    pipeline.wait_for(lambda: "hold no record to read" in "\n".join(pipeline.log_tail(200)),
                      60, "the markers at the partitions' ends recognised")
    time.sleep(12)
    log = "\n".join(pipeline.log_tail(400))
    assert "none applied for" not in log, log
    assert worker.poll() is None
    # and the ops lag is 0: the markers after the committed offsets hold no record
    from stream.monitor import LagMonitor

    mon = LagMonitor(s.kafka, s.redis, [s.worker_id], [s.events_topic], s.deadletter_topic,
                     s.lag_alert)
    try:
        first, second = mon.poll(), mon.poll()  # a range is asked about once it holds still
    finally:
        mon.close()
    parts = second["groups"][s.worker_id]["partitions"]
    assert first["groups"][s.worker_id]["lag"] > 0, first  # the markers, before
    assert any(p["committed"] < p["end"] for p in parts) and all(p["lag"] == 0 for p in parts)
    # events after a marker the commits had reached, then after a restart whose committed
    # offsets are markers: a probe's worker sought back to the marker every 5 s, forever, and
    # counted none of them (Faust filed no gap for it)
    plain = [SaleEvent(f"TX{i % 7}", T0 + 6 * 3600 + i, 1, 1.0) for i in range(21)]
    pipeline.produce([(e.series.encode(), e.to_json()) for e in plain])
    kept += plain
    producer.begin_transaction()
    last = [SaleEvent(f"TX{i % 7}", T0 + 7 * 3600 + i, 1, 1.0) for i in range(21)]
    for e in last:
        producer.produce(s.events_topic, key=e.series.encode(), value=e.to_json())
    producer.commit_transaction(30)
    kept += last
    pipeline.wait_for(lambda: _counted(pipeline, _truth(kept)), 90, "the events after markers")
    assert pipeline.stop_worker(worker) == 0  # it commits up to the markers as it stops
    worker = pipeline.start_worker()
    after = [SaleEvent(f"TX{i % 7}", T0 + 8 * 3600 + i, 1, 1.0) for i in range(21)]
    pipeline.produce([(e.series.encode(), e.to_json()) for e in after])
    kept += after
    pipeline.wait_for(lambda: _counted(pipeline, _truth(kept)), 90, "the events after a restart")
    assert "none applied for" not in "\n".join(pipeline.log_tail(400))
    assert pipeline.reconciled()["total"]["accepted"] == len(kept) == 184


def test_a_live_worker_on_a_topic_of_producer_timestamps_says_so(pipeline) -> None:
    """Live mode bounds events by their message timestamps: on a topic made by hand
    (CreateTime) those are the producers' clocks, and a probe's stale ones sent correct
    events to the dead letters. The worker now says so when it starts."""
    from confluent_kafka.admin import (
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        ResourceType,
    )

    s = pipeline.settings
    assert s.event_time == "live"
    entry = ConfigEntry("message.timestamp.type", "CreateTime",
                        incremental_operation=AlterConfigOpType.SET)
    topic = ConfigResource(ResourceType.TOPIC, s.events_topic, incremental_configs=[entry])
    admin = AdminClient({"bootstrap.servers": s.kafka})  # kept: its futures need it alive
    admin.incremental_alter_configs([topic])[topic].result(30)
    pipeline.start_worker()
    pipeline.produce([(b"P1", SaleEvent("P1", T0, 1, 1.0).to_json())])
    pipeline.wait_for(lambda: pipeline.snapshot("P1") is not None, 90, "P1's snapshot")
    assert (f"topic {s.events_topic} keeps the producers' timestamps (CreateTime)"
            in "\n".join(pipeline.log_tail(2000)))


def test_an_events_topic_deleted_under_the_worker_stops_it_in_one_line(pipeline) -> None:
    """Deleted under a running worker, the events topic was made again at once by a broker
    that creates topics on demand, with the same count and offsets from 0: the worker went
    deaf (a probe: 3,000 events never read, the audit 1,071 differences). It now stops within
    a watch interval, saying why."""
    from confluent_kafka.admin import AdminClient

    from stream.partition_watch import WATCH_EVERY

    s = pipeline.settings
    worker = pipeline.start_worker()
    pipeline.produce([(b"P1", SaleEvent("P1", T0, 1, 1.0).to_json())])
    pipeline.wait_for(lambda: pipeline.snapshot("P1") is not None, 90, "P1's snapshot")
    admin = AdminClient({"bootstrap.servers": s.kafka})
    admin.delete_topics([s.events_topic])[s.events_topic].result(30)
    assert worker.wait(WATCH_EVERY + 70) == 2
    pipeline.workers.remove(worker)
    log = "\n".join(pipeline.log_tail(2000))
    assert f"topic {s.events_topic} was deleted" in log
    assert "Traceback" not in log


def test_a_worker_whose_changelog_was_deleted_refuses_to_start(pipeline) -> None:
    """The changelog of a stopped worker deleted: Faust made a new, empty one, every series
    restarted from zero past events never read again, and nothing said so (a probe: 1,006
    series undercounted for good). The worker now refuses to start, in one line."""
    from confluent_kafka.admin import AdminClient

    s = pipeline.settings
    worker = pipeline.start_worker()
    pipeline.produce([(b"P1", SaleEvent("P1", T0, 1, 1.0).to_json())])
    pipeline.wait_for(lambda: pipeline.snapshot("P1") is not None, 90, "P1's snapshot")
    assert pipeline.stop_worker(worker, 70) == 0  # a clean stop commits what it applied
    admin = AdminClient({"bootstrap.servers": s.kafka})
    changelog = state_changelog(s.worker_id)
    admin.delete_topics([changelog])[changelog].result(30)
    pipeline.wait_for(lambda: changelog not in admin.list_topics(timeout=10).topics, 60,
                      "the changelog gone from the metadata")
    worker = pipeline.start_worker()
    assert worker.wait(60) == 2
    pipeline.workers.remove(worker)
    log = "\n".join(pipeline.log_tail(20))
    assert f"the state changelog {changelog} is gone but group {s.worker_id} has committed " \
           f"offsets on {s.events_topic}" in log
    assert "Traceback" not in log


def test_partitions_added_while_the_worker_runs_stop_it_in_one_line(pipeline) -> None:
    """``kafka-topics --alter --partitions`` under a running worker: the events on the new
    partitions went unread, and the worker crashed with a traceback about five minutes later.
    It now stops within a watch interval, saying what a restart would say."""
    from confluent_kafka.admin import AdminClient, NewPartitions

    from stream.partition_watch import WATCH_EVERY

    s = pipeline.settings
    worker = pipeline.start_worker()
    pipeline.produce([(b"P1", SaleEvent("P1", T0, 1, 1.0).to_json())])
    pipeline.wait_for(lambda: pipeline.snapshot("P1") is not None, 90, "P1's snapshot")
    admin = AdminClient({"bootstrap.servers": s.kafka})
    admin.create_partitions([NewPartitions(s.events_topic, s.partitions + 4)])[
        s.events_topic].result(30)
    assert worker.wait(WATCH_EVERY + 70) == 2
    pipeline.workers.remove(worker)
    log = "\n".join(pipeline.log_tail(2000))  # the stop logs a hundred lines after it
    assert f"SALESCAST_PARTITIONS is {s.partitions} but topic {s.events_topic} has " \
           f"{s.partitions + 4}" in log
    assert "Traceback" not in log
