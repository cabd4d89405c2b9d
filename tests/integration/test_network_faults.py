"""The network between the worker and the broker goes quiet: a real broker behind a TCP proxy
(:mod:`tests.integration.tcp_proxy`) that advertises the proxy, so every connection of the
worker, the producer and the audit goes through it."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

from contracts.events import SaleEvent
from infra.procs import stop
from stream.partitioning import PRODUCER_PARTITIONER
from tests.integration.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

DAY = 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY


def test_a_broker_out_of_reach_past_the_session_timeout_loses_nothing(
        pipeline, tmp_path: Path) -> None:
    """A probe blackholed the broker for 15 s (past the worker's 10 s session) while events
    flowed: after the rejoin, records fetched before the assignment's seek were handed out
    after it, Faust filed the offsets between as a gap, and the worker committed over them;
    31-166 of 4,000 events were lost for good in 3 of 4 runs (fixed in stream/transport.py
    and stream/committed.py). That loss needed a worker short of CPU, with records fetched
    well ahead of the agent (the probe pinned the worker, the brokers and the proxy to one
    core): this test, with the worker on both cores, passed on the code before the fix in 3
    of 3 runs. What it checks is that a blackhole past the session is ridden out, exactly."""
    from infra.kafka import free_port, restart_kafka, start_kafka, stop_kafka
    from infra.services import create_topics

    workdir = tmp_path / "kafka"
    broker = start_kafka(workdir, attached=True)
    real = broker.bootstrap.rsplit(":", 1)[1]
    stop_kafka(broker.pid)
    port = free_port()
    props = workdir / "server.properties"
    props.write_text(props.read_text().replace(
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{real}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}"))
    proxy = TcpProxy(port, int(real))
    try:
        broker = restart_kafka(workdir, attached=True)
        assert broker.bootstrap.endswith(f":{port}")  # everyone goes through the proxy
        pipeline.settings = pipeline.settings.model_copy(
            update={"kafka_bootstrap": broker.bootstrap})
        create_topics(broker.bootstrap, pipeline.settings)
        rng = random.Random(7)
        events = [SaleEvent(f"N{rng.randrange(100)}", T0 + i * 60, 1, 1.0) for i in range(4000)]
        records = [(e.series.encode(), e.to_json()) for e in events]
        pipeline.produce(records[:500])
        pipeline.start_worker()
        time.sleep(15)  # the worker joins and applies the first ones

        def flow() -> None:  # ~100 events a second, buffered by the producer while quiet
            producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 10,
                                 "enable.idempotence": True,
                                 "partitioner": PRODUCER_PARTITIONER})
            for i, (key, value) in enumerate(records[500:]):
                producer.produce(pipeline.settings.events_topic, key=key, value=value)
                producer.poll(0)
                if i % 50 == 49:
                    time.sleep(0.5)
            left.append(producer.flush(120))

        left: list[int] = []

        producer = threading.Thread(target=flow)
        producer.start()
        time.sleep(8)
        proxy.blackhole(15)
        producer.join(180)
        assert left == [0], "events not delivered to the broker"
        report = pipeline.reconciled(wait=150)
        assert report["total"]["accepted"] == len(events)
        assert all(w.poll() is None for w in pipeline.workers), "a worker died"
    finally:
        for w in pipeline.workers:
            stop(w, 30)
        pipeline.workers.clear()
        stop_kafka(broker.pid)
        proxy.close()
