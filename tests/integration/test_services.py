"""The project's own local services: real Kafka and Redis come up, answer, and go down."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from confluent_kafka import Consumer, Producer

from config import Settings, load_settings
from infra import services as svc

pytestmark = pytest.mark.integration


def consume(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{topic}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                got.append(msg.value())
    finally:
        consumer.close()
    return got


def test_kafka_round_trip_and_redis(services: Settings, unique_topics) -> None:
    settings = unique_topics.settings(services)
    extra = unique_topics("extra")
    created = svc.create_topics(settings.kafka, settings, extra=[extra])
    assert sorted(created) == sorted([settings.events_topic, settings.deadletter_topic,
                                      settings.alerts_topic, settings.buckets_topic, extra])
    assert svc.create_topics(settings.kafka, settings, extra=[extra]) == []  # idempotent
    producer = Producer({"bootstrap.servers": settings.kafka})
    producer.produce(extra, key=b"k", value=b"hello")
    assert producer.flush(10) == 0
    assert consume(settings.kafka, extra, 1) == [b"hello"]

    r = redis.Redis.from_url(settings.redis)
    try:
        assert r.ping() and r.set("infra-test", "v") and r.get("infra-test") == b"v"
    finally:
        r.close()
    assert all(line.startswith("healthy") for line in svc.status(settings).values())


def test_aiokafka_the_faust_client_produces_and_consumes(services: Settings,
                                                         unique_topics) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic = unique_topics("aiokafka")
    svc.create_topics(services.kafka, services.model_copy(
        update={"events_topic": topic, "deadletter_topic": unique_topics("dl")}))

    async def round_trip() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=services.kafka, compression_type="lz4",
                                    enable_idempotence=True)
        await producer.start()
        try:
            for i in range(20):
                await producer.send(topic, f"m{i}".encode(), key=str(i).encode())
            await producer.flush()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=services.kafka,
                                    group_id=f"g-{topic}", auto_offset_reset="earliest")
        await consumer.start()
        got: list[bytes] = []
        try:
            deadline = time.monotonic() + 30
            while len(got) < 20 and time.monotonic() < deadline:
                for msgs in (await consumer.getmany(timeout_ms=500)).values():
                    got += [m.value for m in msgs if m.value is not None]
            await consumer.commit()
        finally:
            await consumer.stop()
        return got

    got = asyncio.run(round_trip())
    assert sorted(got) == sorted(f"m{i}".encode() for i in range(20))


def test_external_addresses_start_nothing_for_that_service(services: Settings,
                                                           tmp_path: Path) -> None:
    settings = services.model_copy(update={"home": tmp_path, "redis_url": None})
    state = svc.up(settings, attached=True)
    try:
        assert state.kafka_bootstrap == services.kafka and state.kafka_pid is None
        assert state.redis_pid and state.redis_url != services.redis
        assert "external" in svc.status(settings)["kafka"]
    finally:
        svc.down(settings)
    with pytest.raises(ProcessLookupError):
        os.kill(state.redis_pid, 0)
    bad = settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1"})
    with pytest.raises(svc.ServiceError, match="does not answer"):
        svc.up(bad)


def test_reading_a_topic_that_does_not_exist_does_not_create_it(services: Settings) -> None:
    """The broker creates topics on a metadata request naming them: the monitor, and the
    worker's partition count, must not (a probe's monitor, started before its worker, made the
    events topic with the broker's 8 partitions, and the worker refused it)."""
    import uuid

    from confluent_kafka.admin import AdminClient

    from stream.monitor import LagMonitor
    from stream.offsets import events_partitions

    name = f"absent.{uuid.uuid4().hex[:8]}"
    mon = LagMonitor(services.kafka, services.redis, ["absent-group"], [f"{name}.events"],
                     f"{name}.deadletter", 10_000)
    try:
        mon.poll()
    finally:
        mon.close()
    settings = services.model_copy(update={"events_topic": f"{name}.events2"})
    assert events_partitions(settings) == settings.partitions
    time.sleep(2)  # a topic created by a request shows in the metadata at once; wait anyway
    topics = AdminClient({"bootstrap.servers": services.kafka}).list_topics(timeout=10).topics
    assert not [t for t in topics if t.startswith(name)]


def gone(pid: int | None, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while pid is not None and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


UP_ATTACHED = """
import sys
from pathlib import Path
from config import Settings
from infra import services
state = services.up(Settings(home=Path(sys.argv[1])), attached=True)
print(state.kafka_pid, state.redis_pid, flush=True)
sys.stdin.read()
"""


def test_attached_services_die_with_their_parent_and_up_recovers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "REDIS_URL")}
    settings = load_settings(env).model_copy(update={"home": tmp_path})
    parent = subprocess.Popen([sys.executable, "-c", UP_ATTACHED, str(tmp_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    try:
        assert parent.stdout is not None
        kafka_pid, redis_pid = map(int, parent.stdout.readline().split())
    finally:
        parent.kill()  # SIGKILL: no cleanup runs in the parent
        parent.wait()
    assert gone(kafka_pid) and gone(redis_pid)
    assert all(line.startswith("NOT answering") for line in svc.status(settings).values())

    state = svc.up(settings, attached=True)  # the stale state file is replaced
    try:
        assert state.kafka_pid not in (None, kafka_pid)
        assert state.redis_pid not in (None, redis_pid)
        assert svc.up(settings) == state  # already up: nothing new is started
        assert svc.read_state(settings) == state
        lines = svc.status(settings)
        assert all(line.startswith("healthy") and "local, pid" in line for line in lines.values())
    finally:
        svc.down(settings)
    assert gone(state.kafka_pid, 0.1) and gone(state.redis_pid, 0.1)  # stopped and reaped
    assert not settings.services_file.exists()
    assert svc.status(settings) == {"kafka": "down", "redis": "down"}
    assert (tmp_path / "services" / "kafka" / "kafka.log").exists()  # logs are kept


def test_a_fresh_broker_comes_with_an_empty_redis(tmp_path: Path) -> None:
    """Redis holds the worker's outputs at versions that are Kafka offsets. `down` deleted the
    broker's data but kept Redis's, and every broker starts on empty storage: a second demo's
    writes were all older than the first one's, refused, and its dashboard showed the first
    demo's data. Also when our Redis is still up and only the broker is started again."""
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "REDIS_URL")}
    settings = load_settings(env).model_copy(update={"home": tmp_path})
    state = svc.up(settings, attached=True)
    try:
        r = redis.Redis.from_url(state.redis_url)
        r.set("salescast:series:A", "from the first demo")
        r.execute_command("BGREWRITEAOF")
        time.sleep(1.5)  # appendfsync everysec
        r.close()
    finally:
        svc.down(settings)
    state = svc.up(settings, attached=True)
    try:
        r = redis.Redis.from_url(state.redis_url)
        assert r.dbsize() == 0
        r.set("salescast:series:A", "from the second demo")
        svc.stop_kafka(state.kafka_pid)  # the broker alone goes: `up` starts a fresh one
        again = svc.up(settings, attached=True)
        assert again.redis_pid == state.redis_pid and again.kafka_pid != state.kafka_pid
        assert r.dbsize() == 0
        r.close()
    finally:
        svc.down(settings)


def test_a_redis_that_died_comes_back_on_its_port(tmp_path: Path) -> None:
    """A probe killed the local Redis under a running worker, trainer and gateway, and
    `services up` started one on another port: they kept trying the old one for good. It
    comes back on its own port when that is free (the broker still up: nothing else moves)."""
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "REDIS_URL")}
    settings = load_settings(env).model_copy(update={"home": tmp_path})
    state = svc.up(settings, attached=True)
    try:
        client = redis.Redis.from_url(state.redis_url)
        client.ping()  # a client still connected: its connection lingers on the port
        svc.stop_redis(state.redis_pid)  # (it closes the connection: TIME_WAIT on its port)
        assert gone(state.redis_pid)
        again = svc.up(settings, attached=True)
        client.close()
        assert again.redis_pid != state.redis_pid and again.redis_url == state.redis_url
        assert again.kafka_pid == state.kafka_pid
        assert redis.Redis.from_url(again.redis_url).ping()
    finally:
        svc.down(settings)


def test_the_sink_loads_its_script_again_when_redis_lost_it(services: Settings) -> None:
    """The sink sends plain EVALSHAs (no SCRIPT EXISTS round trip per batch): a Redis that
    lost its scripts (restarted empty, or SCRIPT FLUSH) refuses them, and the sink loads the
    script and writes the whole pipeline again, each series once."""
    import uuid

    from contracts.wire import VERSION_FIELD, SeriesWrite, series_hash
    from stream.sink import RedisSink

    tag = uuid.uuid4().hex[:8]
    r = redis.Redis.from_url(services.redis)

    def writes(version: int) -> list[SeriesWrite]:
        return [SeriesWrite(f"{tag}-{i}", version, 1.0, {"series": f"{tag}-{i}"}, None,
                            {"kind": "live", "series": f"{tag}-{i}"}) for i in range(5)]

    async def run() -> tuple[int, int]:
        sink = RedisSink(services.redis)
        try:
            first = await sink.write(writes(1))
            r.script_flush()
            return first, await sink.write(writes(2))
        finally:
            await sink.close()

    try:
        assert asyncio.run(run()) == (5, 5)
        assert [r.hget(series_hash(f"{tag}-{i}"), VERSION_FIELD) for i in range(5)] == [b"2"] * 5
    finally:
        r.close()


def test_the_sink_writes_a_big_batch_in_several_pipelines_each_write_once(
        services: Settings) -> None:
    """More writes than one pipeline takes (``WRITE_CHUNK``): every series is stored, a
    replay of the same versions changes nothing, newer versions all land."""
    import uuid

    from contracts.wire import VERSION_FIELD, SeriesWrite, series_hash
    from stream.sink import WRITE_CHUNK, RedisSink

    tag, n = uuid.uuid4().hex[:8], 2 * WRITE_CHUNK + 3

    def writes(version: int) -> list[SeriesWrite]:
        return [SeriesWrite(f"{tag}-{i}", version, 1.0, {"series": f"{tag}-{i}"}, None,
                            {"kind": "live", "series": f"{tag}-{i}"}) for i in range(n)]

    async def run() -> tuple[int, int, int]:
        sink = RedisSink(services.redis)
        try:
            return (await sink.write(writes(5)), await sink.write(writes(5)),
                    await sink.write(writes(6)))
        finally:
            await sink.close()

    assert asyncio.run(run()) == (n, 0, n)
    r = redis.Redis.from_url(services.redis)
    try:
        stored = [r.hget(series_hash(f"{tag}-{i}"), VERSION_FIELD) for i in range(n)]
    finally:
        r.close()
    assert stored == [b"6"] * n
