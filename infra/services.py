"""``salescast services up|down|status``: the local Kafka and Redis every command finds.

:func:`up` starts what is missing (Kafka 4.x KRaft and ``redis-server``, on 127.0.0.1, free
ports, data under ``$SALESCAST_HOME/services``) and writes the addresses and PIDs to
``settings.services_file``; other commands read them from there. ``KAFKA_BOOTSTRAP`` or
``REDIS_URL`` point at existing servers: then nothing is started for that service. Every run of
``up`` that starts Kafka or Redis starts it empty (Redis keeps nothing on disk either), and
:func:`down` stops, by PID, only what ``up`` started, keeping the logs.
"""

from __future__ import annotations

import json
import shutil
import time
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from config import Settings
from config.addresses import read_services, redacted
from config.messages import ConfigError
from infra.errors import ServiceError
from infra.kafka import file_lock, kafka_healthy, pid_matches, start_kafka, stop_kafka, stop_pid
from infra.redis_server import redis_healthy, start_redis, stop_redis

__all__ = ["ServiceError", "ServicesState", "create_topics", "down", "status", "up"]

_KAFKA, _REDIS = "kafka.Kafka", "redis-server"


@dataclass(frozen=True)
class ServicesState:
    """What ``up`` wrote: addresses, and the PIDs of what it started (None: external)."""

    kafka_bootstrap: str
    redis_url: str
    kafka_pid: int | None = None
    redis_pid: int | None = None
    workdir: str | None = None
    started_at: float = 0.0


def read_state(settings: Settings) -> ServicesState | None:
    """The state file's contents, or None when there is none."""
    path = settings.services_file
    if not path.exists():
        return None
    try:
        raw = read_services(path)  # a JSON object, else ConfigError
        names = {f.name for f in fields(ServicesState)}
        state = ServicesState(**{k: v for k, v in raw.items() if k in names})
        if any(p is not None and (type(p) is not int or p <= 0)
               for p in (state.kafka_pid, state.redis_pid)):
            raise ValueError("a pid is not a positive integer")
        return state
    except (ConfigError, TypeError, ValueError) as exc:
        why = f" ({exc})" if isinstance(exc, ValueError) else ""
        raise ServiceError(f"unreadable services state {path}{why}: remove it and "
                           "retry") from None


def _write_state(settings: Settings, state: ServicesState) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    tmp = settings.services_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
    tmp.replace(settings.services_file)


def _lock(settings: Settings) -> AbstractContextManager[None]:
    return file_lock(settings.home / ".services.lock")


def up(settings: Settings, *, attached: bool = False, timeout: float = 60.0) -> ServicesState:
    """Start the local services that are not already up and healthy; return their addresses.

    ``attached=True`` (test sessions) makes what is started die with this process.
    """
    with _lock(settings):
        old = read_state(settings)
        workdir = settings.home / "services"
        kafka, kafka_pid = _external_kafka(settings, timeout)
        redis, redis_pid = _external_redis(settings)
        # a local service still up stays up, and in the state file, even when the settings
        # name another address (a probe's KAFKA_BOOTSTRAP of that very broker stopped it)
        keep_kafka = bool(old and old.kafka_pid and pid_matches(old.kafka_pid, _KAFKA)
                          and kafka_healthy(old.kafka_bootstrap))
        keep_redis = bool(old and old.redis_pid and pid_matches(old.redis_pid, _REDIS)
                          and redis_healthy(old.redis_url))
        if old and keep_kafka and kafka is None:
            kafka, kafka_pid = old.kafka_bootstrap, old.kafka_pid
        if old and keep_redis and redis is None:
            redis, redis_pid = old.redis_url, old.redis_pid
        if old and kafka is not None and redis is not None \
                and (old.kafka_bootstrap, old.redis_url, old.kafka_pid, old.redis_pid) \
                == (kafka, redis, kafka_pid, redis_pid):
            return old  # nothing to do
        if old:  # stop what the state file names but is stale or unhealthy
            if old.kafka_pid and old.kafka_pid != kafka_pid and not keep_kafka:
                stop_kafka(old.kafka_pid)
            if old.redis_pid and old.redis_pid != redis_pid and not keep_redis:
                stop_redis(old.redis_pid)
        started: list[int] = []
        try:
            fresh = kafka is None  # a broker on empty storage: offsets start again at 0
            if kafka is None:
                k = start_kafka(workdir / "kafka", timeout=timeout, attached=attached)
                kafka, kafka_pid = k.bootstrap, k.pid
                started.append(k.pid)
                _warm_group_coordinator(kafka)
            if redis is None:
                if fresh:
                    _forget_redis_data(workdir / "redis")
                # the port of our Redis that died, if free: workers, gateways and trainers
                # still running reconnect there (a probe's restarted Redis took another port,
                # and they stayed on the old one for good)
                again = old.redis_url if old and old.redis_pid and not fresh else None
                r = start_redis(workdir / "redis", attached=attached,
                                port=urlsplit(again).port if again else None)
                redis, redis_pid = r.url, r.pid
                started.append(r.pid)
            elif fresh and redis_pid:  # our Redis, still up, holds the old log's outputs
                _flush(redis)
        except BaseException:
            for pid in started:  # a stale state file is harmless: the next `up` replaces it
                stop_pid(pid)
            raise
        state = written = ServicesState(kafka, redis, kafka_pid, redis_pid, str(workdir),
                                        time.time())
        if old and keep_kafka:  # (the settings named another address: used, not written)
            written = replace(written, kafka_bootstrap=old.kafka_bootstrap, kafka_pid=old.kafka_pid)
        if old and keep_redis:
            written = replace(written, redis_url=old.redis_url, redis_pid=old.redis_pid)
        _write_state(settings, written)
        return state


def _warm_group_coordinator(bootstrap: str, timeout: float = 15.0) -> None:
    """Have a fresh broker create ``__consumer_offsets`` now, so the first consumer group
    joins at once instead of logging GroupCoordinatorNotAvailable while it is created."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        future = admin.describe_consumer_groups(["salescast-warmup"], request_timeout=5)
        try:
            future["salescast-warmup"].result()
            return
        except Exception:  # noqa: BLE001 - NOT_COORDINATOR until the topic is led: retry
            time.sleep(0.2)


def _external_kafka(settings: Settings, timeout: float) -> tuple[str | None, None]:
    if not settings.kafka_bootstrap:
        return None, None
    if not kafka_healthy(settings.kafka_bootstrap, timeout=min(timeout, 10.0)):
        raise ServiceError(f"KAFKA_BOOTSTRAP={settings.kafka_bootstrap} does not answer")
    return settings.kafka_bootstrap, None


def _external_redis(settings: Settings) -> tuple[str | None, None]:
    if not settings.redis_url:
        return None, None
    if not redis_healthy(settings.redis_url):
        raise ServiceError(f"REDIS_URL={redacted(settings.redis_url)} does not answer PING")
    return settings.redis_url, None


def down(settings: Settings) -> list[str]:
    """Stop what ``up`` started (by PID), delete its data, Kafka's and Redis's (not their
    logs), drop the state file.
    Returns what it stopped (``kafka (pid N)``...): empty when nothing was running (no state
    file, external services, or processes gone already)."""
    stopped: list[str] = []
    with _lock(settings):
        state = read_state(settings)
        if state is None:
            return stopped
        if state.kafka_pid and stop_kafka(state.kafka_pid):
            stopped.append(f"kafka (pid {state.kafka_pid})")
        if state.redis_pid and stop_redis(state.redis_pid):
            stopped.append(f"redis (pid {state.redis_pid})")
        if state.workdir:
            shutil.rmtree(Path(state.workdir) / "kafka" / "data", ignore_errors=True)
            _forget_redis_data(Path(state.workdir) / "redis")
        settings.services_file.unlink(missing_ok=True)
    return stopped


def _forget_redis_data(workdir: Path) -> None:
    """Delete the local Redis's data files (not its log). Redis holds the worker's outputs at
    versions that are Kafka offsets: kept beside a broker that starts on empty storage, every
    new write was older than the one stored and refused, and a second demo showed the first
    one's data (a probe's finding)."""
    shutil.rmtree(workdir / "appendonlydir", ignore_errors=True)
    for dump in workdir.glob("*.rdb"):
        dump.unlink(missing_ok=True)


def _flush(url: str) -> None:
    """Empty the local Redis at ``url`` (see :func:`_forget_redis_data`)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        client.flushall()
    finally:
        client.close()


def status(settings: Settings) -> dict[str, str]:
    """One line per service: ``down``, or its address and whether it answers (and its PID)."""
    state = read_state(settings)
    kafka = settings.kafka_bootstrap or (state.kafka_bootstrap if state else None)
    redis = settings.redis_url or (state.redis_url if state else None)
    kafka_pid = None if settings.kafka_bootstrap or not state else state.kafka_pid
    redis_pid = None if settings.redis_url or not state else state.redis_pid

    def line(address: str | None, pid: int | None, healthy: bool) -> str:
        if address is None:
            return "down"
        where = f"local, pid {pid}" if pid else "external"
        return f"{'healthy' if healthy else 'NOT answering'}  {redacted(address)}  ({where})"

    return {
        "kafka": line(kafka, kafka_pid, bool(kafka) and kafka_healthy(kafka or "")),
        "redis": line(redis, redis_pid, bool(redis) and redis_healthy(redis or "")),
    }


def create_topics(bootstrap: str, settings: Settings, extra: list[str] | None = None,
                  timeout: float = 30.0) -> list[str]:
    """Create the events, dead-letter, alerts and buckets topics (and ``extra``) with
    ``settings.partitions`` partitions unless they exist; wait until they have leaders.
    Returns the ones created."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    wanted = list(dict.fromkeys([settings.events_topic, settings.deadletter_topic,
                                 settings.alerts_topic, settings.buckets_topic,
                                 *(extra or [])]))
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise ServiceError(f"kafka at {bootstrap} does not answer: {exc.args[0]}") from None
    # the events topic stamps each message with the broker's append time: live-mode event time
    # is bounded by it (a producer's wrong clock cannot pass for the present)
    stamped = {"message.timestamp.type": "LogAppendTime"}
    new = [NewTopic(t, num_partitions=settings.partitions, replication_factor=1,
                    config=stamped if t == settings.events_topic else {})
           for t in wanted if t not in existing]
    created: list[str] = []
    if new:
        for topic, future in admin.create_topics(new, request_timeout=timeout).items():
            try:
                future.result(timeout)
                created.append(topic)
            except KafkaException as exc:
                err = exc.args[0]
                if err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise ServiceError(f"cannot create topic {topic}: {err.str()}") from None
    _wait_for_leaders(admin, wanted, timeout)
    return created


def _wait_for_leaders(admin: Any, topics: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        meta = admin.list_topics(timeout=timeout).topics
        missing = [t for t in topics if t not in meta or meta[t].error is not None
                   or any(p.leader < 0 for p in meta[t].partitions.values())]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise ServiceError(f"topics without a leader after {timeout:.0f} s: "
                               + ", ".join(missing))
        time.sleep(0.1)
