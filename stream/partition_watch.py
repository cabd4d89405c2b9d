"""The events topic's partition count, watched while the worker runs.

A series lives on partition ``murmur2(series) % SALESCAST_PARTITIONS``, its state in the same
partition of the worker table's changelog, and a worker refuses to start when the events
topic has another count (``salescast.cliutil.check_partitions``, with :func:`mismatch`'s
line). Partitions added to the topic while workers run (``kafka-topics --alter
--partitions``) went unnoticed: the events on the new partitions were not read, and about
five minutes later (the consumer's metadata refresh) Faust assigned them and every worker
crashed with a traceback (a probe's finding).

:func:`watcher` asks the broker for the count every :data:`WATCH_EVERY` seconds (in a thread:
the admin client blocks) and, once it differs, logs the line a restart would print and stops
the worker cleanly (what it applied is committed as on any stop; a SIGTERM to itself, so a
stop is bounded as every stop is: ``stream.app.STOP_GRACE_S``). ``salescast worker`` then
exits with status 2 (:data:`REFUSAL`).

The same watch notices the topic itself going: deleted under a running worker, the worker
logged one error and went deaf, and a broker that creates topics on demand made it again at
once, with the same count and offsets from 0 that the worker's committed offsets and the
series' positions no longer name (a probe's finding: the events sent to it were never read,
the audit found 1,071 differences). :func:`topic_identity` reads the topic's id (Kafka's
topic UUID, which a topic made again does not keep); a topic gone or with another id stops
the worker as a changed count does (:func:`changed`). A worker started after the topic was
made again took the new topic as its first, and dropped its events as already applied (their
offsets from 0 were below the series' positions): the watch hands the id it found to
``found`` (the processor, which keeps it in each partition's state and refuses a state made
from another id: ``stream.series_state.PartitionState.claim``).

>>> changed("t", 8, (8, "a"), (8, "a")) is None
True
>>> changed("t", 8, (8, "a"), (8, "b"))[:42]
'topic t was deleted and created again unde'
>>> mismatch(8, {"sales.events": 8}) is None
True
>>> mismatch(8, {"sales.events": 12})[:55]
'SALESCAST_PARTITIONS is 8 but topic sales.events has 12'
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from config import Settings

__all__ = ["WATCH_EVERY", "REFUSAL", "changed", "mismatch", "topic_identity", "watcher"]

Identity = tuple[int, str] | None  # (partition count, topic id); None: no such topic

log = logging.getLogger("salescast.worker")

WATCH_EVERY = 10.0  #: seconds between two reads of the events topic's partition count
REFUSAL = "salescast_refusal"  #: the app attribute that holds why the worker stopped itself


def mismatch(expected: int, counts: dict[str, int]) -> str | None:
    """The one line that refuses a worker whose topics (name -> partition count) do not have
    ``expected`` partitions (``None``: they all do)."""
    wrong = {name: n for name, n in counts.items() if n != expected}
    if not wrong:
        return None
    return (f"SALESCAST_PARTITIONS is {expected} but "
            + " and ".join(f"topic {name} has {n}" for name, n in wrong.items())
            + " partitions: set it to the topics' count, or start a new topic set and "
            "SALESCAST_WORKER_ID (README, \"Choosing the partition count\"): a series must be "
            "read on the partition that holds its state")


def topic_identity(settings: Settings) -> Identity:
    """The events topic's partition count and id (None: there is no such topic); the admin
    client's error otherwise. Asked with DescribeTopics, which never creates a topic (a
    metadata request for it may, on a broker with ``auto.create.topics.enable``)."""
    from confluent_kafka import KafkaError, KafkaException, TopicCollection
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": settings.kafka, "log_level": 0})
    future = admin.describe_topics(TopicCollection([settings.events_topic]),
                                   request_timeout=10)[settings.events_topic]
    try:
        got = future.result(timeout=15)
    except KafkaException as exc:
        if exc.args and exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return None
        raise
    return len(got.partitions), str(got.topic_id)


_RESTART = ("start a new topic set and SALESCAST_WORKER_ID with an empty Redis and replay the "
            "source (README, \"Choosing the partition count\"): the committed offsets and the "
            "series' positions name events of the old topic")


def changed(topic: str, expected: int, first: Identity, now: Identity) -> str | None:
    """The line that stops a worker whose events ``topic`` was ``first`` when it started and
    is ``now`` (None: unchanged, with ``expected`` partitions)."""
    if now is None:
        return f"topic {topic} was deleted under the worker; {_RESTART}"
    if first is not None and now[1] != first[1]:
        return f"topic {topic} was deleted and created again under the worker; {_RESTART}"
    return mismatch(expected, {topic: now[0]})


def watcher(settings: Settings, every: float = WATCH_EVERY,
            look: Callable[[Settings], Identity] = topic_identity,
            found: Callable[[str], None] = lambda topic_id: None
            ) -> Callable[[Any], Awaitable[None]]:
    """The worker's task (``app.task(watcher(settings))``): the events topic's identity
    (``look``) at start, then every ``every`` seconds; once it is gone, made again or has
    another partition count than ``settings.partitions``, the worker stops itself, saying why
    (see the module docstring). A look that fails (a broker down) changes nothing."""
    async def watch(app: Any) -> None:
        first: Identity = None  # what it was at start
        while True:
            try:
                now = await asyncio.to_thread(look, settings)
            except Exception as exc:  # noqa: BLE001 - the broker's outages are watched elsewhere
                log.debug("cannot describe %s: %r", settings.events_topic, exc)
            else:
                line = changed(settings.events_topic, settings.partitions, first, now)
                if first is None and now is not None:
                    found(now[1])
                first = first or now
                if line is not None:
                    log.critical("%s; the worker stops (the events topic changed under it)",
                                 line)
                    setattr(app, REFUSAL, line)
                    os.kill(os.getpid(), signal.SIGTERM)
                    return
            await asyncio.sleep(every)
    return watch
