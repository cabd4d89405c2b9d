"""The project's own local services: real Kafka and Redis come up, answer, and go down."""

from __future__ import annotations

import os
import uuid
from dataclasses import replace

import pytest
import redis
from confluent_kafka import Consumer, Producer

from infra import services as svc
from salescast.config import Settings

pytestmark = pytest.mark.integration


def test_kafka_round_trip_and_redis(services: Settings) -> None:
    topic = f"test.services.{uuid.uuid4().hex[:8]}"
    svc.create_topics(services.kafka, services, extra=[topic])
    svc.create_topics(services.kafka, services, extra=[topic])  # idempotent
    producer = Producer({"bootstrap.servers": services.kafka})
    producer.produce(topic, key=b"k", value=b"hello")
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": services.kafka, "group.id": topic,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got = None
    for _ in range(30):
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            got = msg.value()
            break
    consumer.close()
    assert got == b"hello"
    r = redis.Redis.from_url(services.redis)
    assert r.ping() and r.set("k", "v") and r.get("k") == b"v"
    r.close()


def test_up_status_down_by_pid(tmp_path) -> None:
    from salescast.config import load_settings

    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "REDIS_URL")}
    settings = replace(load_settings(env), home=tmp_path, kafka_bootstrap=None, redis_url=None)
    state = svc.up(settings)
    try:
        assert state.kafka_pid and state.redis_pid
        assert svc.up(settings) == state  # already up: nothing new is started
        assert all("healthy" in line for line in svc.status(settings).values())
    finally:
        svc.down(settings)
    for pid in (state.kafka_pid, state.redis_pid):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not settings.services_file.exists()
    assert svc.status(settings) == {"kafka": "down", "redis": "down"}
