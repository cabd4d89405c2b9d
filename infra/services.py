"""``salescast services up|down|status``: the local Kafka and Redis every command finds.

``up`` starts what is missing and writes the addresses (and PIDs) to
``$SALESCAST_HOME/services.json``; other commands read them from there. ``KAFKA_BOOTSTRAP``
or ``REDIS_URL`` in the environment point at existing servers: then nothing is started for
that service. ``down`` stops, by PID, only what ``up`` started.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from infra.errors import ServiceError
from infra.kafka import kafka_healthy, start_kafka, stop_pid
from infra.redis_server import redis_healthy, start_redis
from salescast.config import Settings

__all__ = ["ServicesState", "ServiceError", "up", "down", "status", "create_topics"]


@dataclass(frozen=True)
class ServicesState:
    kafka_bootstrap: str
    redis_url: str
    kafka_pid: int | None = None
    redis_pid: int | None = None
    workdir: str | None = None
    started_at: float = 0.0


def _read(settings: Settings) -> ServicesState | None:
    path = settings.services_file
    if not path.exists():
        return None
    try:
        return ServicesState(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        raise ServiceError(f"unreadable services state {path}: remove it and retry") from None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def up(settings: Settings) -> ServicesState:
    """Start the local services that are not already up and healthy; return their addresses."""
    old = _read(settings)
    if old and (old.kafka_pid is None or _alive(old.kafka_pid)) \
            and (old.redis_pid is None or _alive(old.redis_pid)) \
            and kafka_healthy(old.kafka_bootstrap) and redis_healthy(old.redis_url):
        return old
    if old:
        down(settings)
    workdir = settings.home / "services"
    kafka_pid = redis_pid = None
    if settings.kafka_bootstrap:
        bootstrap = settings.kafka_bootstrap
    else:
        kafka = start_kafka(workdir / f"kafka-{int(time.time())}")
        bootstrap, kafka_pid = kafka.bootstrap, kafka.pid
    try:
        if settings.redis_url:
            url = settings.redis_url
        else:
            redis = start_redis(workdir / "redis")
            url, redis_pid = redis.url, redis.pid
    except ServiceError:
        if kafka_pid:
            stop_pid(kafka_pid)
        raise
    state = ServicesState(bootstrap, url, kafka_pid, redis_pid, str(workdir), time.time())
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.services_file.write_text(json.dumps(asdict(state), indent=2))
    return state


def down(settings: Settings) -> None:
    """Stop what ``up`` started (by PID) and remove the state file."""
    state = _read(settings)
    if state is None:
        return
    for pid in (state.kafka_pid, state.redis_pid):
        if pid:
            stop_pid(pid)
    settings.services_file.unlink(missing_ok=True)
    if state.workdir:
        import shutil

        shutil.rmtree(Path(state.workdir), ignore_errors=True)


def status(settings: Settings) -> dict[str, str]:
    """A line per service: its address and whether it answers."""
    state = _read(settings)
    kafka = settings.kafka_bootstrap or (state.kafka_bootstrap if state else None)
    redis = settings.redis_url or (state.redis_url if state else None)
    return {
        "kafka": "down" if not kafka else
        f"{kafka} {'healthy' if kafka_healthy(kafka) else 'NOT answering'}",
        "redis": "down" if not redis else
        f"{redis} {'healthy' if redis_healthy(redis) else 'NOT answering'}",
    }


def create_topics(bootstrap: str, settings: Settings, extra: list[str] | None = None,
                  timeout: float = 30.0) -> None:
    """Create the events and dead-letter topics (and ``extra``) if they do not exist."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    wanted = [settings.events_topic, settings.deadletter_topic, *(extra or [])]
    existing = set(admin.list_topics(timeout=timeout).topics)
    new = [NewTopic(t, num_partitions=settings.partitions, replication_factor=1)
           for t in wanted if t not in existing]
    if not new:
        return
    for topic, future in admin.create_topics(new, request_timeout=timeout).items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            err: Any = exc.args[0]
            if getattr(err, "name", lambda: "")() != "TOPIC_ALREADY_EXISTS":
                raise ServiceError(f"cannot create topic {topic}: {err}") from None
