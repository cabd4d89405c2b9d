"""Talking to any Kafka as a client: whether it can be reached at all, and its errors as
one line. A Kafka client retries a refused or unknown address for its whole timeout (10-20 s)
before it says "transport failure"; a TCP connect says so at once.

>>> from infra.kafka import free_port
>>> port = free_port()  # nothing listens there
>>> unreachable(f"127.0.0.1:{port}") == (f"kafka at 127.0.0.1:{port} does not answer: "
...                                      f"127.0.0.1:{port}: Connection refused")
True
"""

from __future__ import annotations

import socket
import time
from typing import Any, NamedTuple

from config.addresses import split_server

__all__ = ["unreachable", "error_text", "offset_reader", "Reach", "committed_reach"]


def unreachable(bootstrap: str, timeout: float = 3.0) -> str | None:
    """Why no server of ``bootstrap`` can be reached, as a message naming it (None: one can,
    or might: a time-out is the client's to judge)."""
    why = "no server"
    for server in bootstrap.split(","):
        host, port = split_server(server)
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
            return None
        except TimeoutError:
            return None  # slow or filtered: the client decides
        except (OSError, ValueError) as exc:
            why = f"{host}:{port}: {getattr(exc, 'strerror', None) or exc}"
    return f"kafka at {bootstrap} does not answer: {why}"


def error_text(exc: BaseException) -> str:
    """The message of a confluent-kafka exception: its ``KafkaError``'s text, not its repr.

    >>> from confluent_kafka import KafkaError, KafkaException
    >>> error_text(KafkaException(KafkaError(KafkaError._TRANSPORT, "Broker transport failure")))
    'Broker transport failure'
    """
    err = exc.args[0] if exc.args else exc
    return str(err.str()) if hasattr(err, "str") else str(err)


def offset_reader(bootstrap: str, group: str, **config: Any) -> Any:
    """A confluent-kafka consumer of ``group`` that never subscribes (so joins no group and
    commits nothing), for watermarks, the group's committed offsets (``committed``) or records
    of a partition it is assigned; ``config`` adds to its settings. Committed offsets are read
    this way, not with the admin client's ListConsumerGroupOffsets, which crashed the process
    (SIGSEGV) on a broker still loading its group coordinator (confluent-kafka 2.16)."""
    from confluent_kafka import Consumer

    return Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "enable.auto.commit": False, "log_level": 0, **config})


class Reach(NamedTuple):
    """Where a ``read_committed`` consumer's first fetch from an offset ends: at a record
    (``record``: its offset) or at the partition's last stable offset with none on the way
    (the offsets before it were commit or abort markers, or aborted records; a transaction
    still open stops it there too)."""

    offset: int
    record: bool


def committed_reach(bootstrap: str, topic: str, partition: int, start: int,
                    timeout: float = 10.0) -> Reach | None:
    """What a ``read_committed`` consumer finds first from offset ``start`` of ``topic``'s
    ``partition`` (:class:`Reach`); None when the broker does not say within ``timeout``."""
    from confluent_kafka import KafkaError, TopicPartition

    consumer = offset_reader(bootstrap, "salescast-reach", **{
        "isolation.level": "read_committed", "enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, partition, start)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is None:
                return Reach(msg.offset() or 0, True)
            if error.code() == KafkaError._PARTITION_EOF:  # at the end: its offset
                return Reach(msg.offset() or 0, False)
        return None
    finally:
        consumer.close()
