"""``read_to_end``'s stop rules against a stand-in consumer (a real broker:
tests/integration/test_changelog_read.py and test_audit_kafka.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from stream.topic_read import read_to_end


@dataclass
class Msg:
    p: int
    o: int
    err: KafkaError | None = None

    def partition(self) -> int:
        return self.p

    def offset(self) -> int:
        return self.o

    def error(self) -> KafkaError | None:
        return self.err


@dataclass
class FakeConsumer:
    """Delivers ``polls`` one after another (then nothing); the position of a partition is
    one past the last offset it delivered there, or where it was assigned."""

    polls: list[list[Msg]]
    pos: dict[int, int] = field(default_factory=dict)
    assigned: list[tuple[int, int]] = field(default_factory=list)
    unassigned: bool = False

    def assign(self, tps: list[Any]) -> None:
        self.assigned = [(tp.partition, tp.offset) for tp in tps]
        self.pos = dict(self.assigned)

    def consume(self, num_messages: int, timeout: float) -> list[Msg]:
        out = self.polls.pop(0) if self.polls else []
        for m in out:
            if m.err is None:
                self.pos[m.p] = m.o + 1
        return out

    def position(self, tps: list[Any]) -> list[Any]:
        return [type("TP", (), {"partition": tp.partition, "offset": self.pos[tp.partition]})
                for tp in tps]

    def unassign(self) -> None:
        self.unassigned = True


def eof(p: int) -> Msg:
    return Msg(p, -1, KafkaError(KafkaError._PARTITION_EOF))


def test_reads_each_partition_from_its_start_to_its_end_then_stops() -> None:
    consumer = FakeConsumer([[Msg(0, 2), Msg(1, 0)], [Msg(0, 3), eof(1)],
                             [Msg(0, 4)]])  # offset 4 was written after the ends were taken
    seen: list[tuple[int, int]] = []
    batches: list[int] = []
    read_to_end(consumer, "t", {0: (2, 4), 1: (0, 1), 2: (5, 5)},
                lambda m: seen.append((m.partition(), m.offset())), on_batch=batches.append)
    assert seen == [(0, 2), (1, 0), (0, 3)] and batches == [2, 1]
    assert consumer.assigned == [(0, 2), (1, 0)]  # the empty partition is not read
    assert consumer.unassigned and consumer.polls == [[Msg(0, 4)]]


def test_a_compacted_end_with_no_record_just_before_it_still_ends_the_read() -> None:
    # the last record below the end (6) is at 4: the position reaches 6 after the next fetch
    consumer = FakeConsumer([[Msg(0, 1), Msg(0, 4)]])
    consumer.consume = _then_position(consumer, 0, 6)  # type: ignore[method-assign]
    seen: list[int] = []
    read_to_end(consumer, "t", {0: (0, 6)}, lambda m: seen.append(m.offset()))
    assert seen == [1, 4]


def _then_position(consumer: FakeConsumer, partition: int, end: int) -> Any:
    deliver = FakeConsumer.consume.__get__(consumer)

    def consume(num_messages: int, timeout: float) -> list[Msg]:
        out = deliver(num_messages, timeout)
        if not out:
            consumer.pos[partition] = end  # the fetcher moved past the compacted gap
        return out

    return consume


def test_an_error_message_raises_and_unassigns() -> None:
    consumer = FakeConsumer([[Msg(0, 0, KafkaError(KafkaError._TRANSPORT))]])
    with pytest.raises(KafkaException):
        read_to_end(consumer, "t", {0: (0, 3)}, lambda m: None)
    assert consumer.unassigned


def test_no_message_for_the_stall_bound_or_past_the_deadline_raises_a_timeout() -> None:
    with pytest.raises(TimeoutError, match="stalled: no message for 0 s"):
        read_to_end(FakeConsumer([]), "t", {0: (0, 3)}, lambda m: None, stall=0.01)
    with pytest.raises(TimeoutError, match=r"partitions \[0\] not read in time"):
        read_to_end(FakeConsumer([]), "t", {0: (0, 3)}, lambda m: None, deadline=0.0)
