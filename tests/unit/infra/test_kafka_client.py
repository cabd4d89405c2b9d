"""infra/kafka_client.py: an unreachable Kafka is said at once; a client error as its text."""

from __future__ import annotations

import socket

from confluent_kafka import KafkaError, KafkaException

from infra.kafka import free_port
from infra.kafka_client import error_text, unreachable


def test_a_refused_address_is_named_at_once() -> None:
    port = free_port()
    assert unreachable(f"127.0.0.1:{port}") == (
        f"kafka at 127.0.0.1:{port} does not answer: 127.0.0.1:{port}: Connection refused")


def test_one_server_that_listens_is_enough() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert unreachable(f"127.0.0.1:{free_port()},127.0.0.1:{port}") is None


def test_a_client_error_is_its_text() -> None:
    exc = KafkaException(KafkaError(KafkaError._TRANSPORT, "Failed to get metadata"))
    assert error_text(exc) == "Failed to get metadata"
    assert error_text(KafkaException("plain")) == "plain"
