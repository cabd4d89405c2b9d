"""Lag that is only transaction markers: asked once per range that holds still, and only the
ranges a read_committed consumer crosses without a record count as no lag."""

from __future__ import annotations

from infra.kafka_client import Reach
from stream.bare_tails import BareTails
from stream.monitor import ops_snapshot

T = "sales.events"


def _tails(answers: dict[int, Reach | None]) -> tuple[BareTails, list[tuple[str, int, int]]]:
    asked: list[tuple[str, int, int]] = []

    def reach(topic: str, partition: int, start: int) -> Reach | None:
        asked.append((topic, partition, start))
        return answers[partition]

    return BareTails(reach), asked


def test_only_a_range_that_ends_without_a_record_is_bare() -> None:
    tails, asked = _tails({0: Reach(10, False),  # markers up to the end
                           1: Reach(8, False),  # stops before the end: a transaction open
                           2: None,  # the broker did not say
                           3: Reach(12, True)})  # a record after the end: new since the poll
    committed = {"g": {(T, 0): 9, (T, 1): 7, (T, 2): 5, (T, 3): 9, (T, 4): None}}
    ends = {(T, 0): 10, (T, 1): 10, (T, 2): 10, (T, 3): 10, (T, 4): 3}
    assert tails.update(committed, ends) == set() and asked == []
    assert tails.update(committed, ends) == {("g", T, 0), ("g", T, 3)}
    assert sorted(asked) == [(T, 0, 9), (T, 1, 7), (T, 2, 5), (T, 3, 9)]  # never a None
    snap = ops_snapshot(committed, ends, {}, [], 0, None, 100, now=1.0,
                        bare=tails.update(committed, ends))
    assert [p["lag"] for p in snap["groups"]["g"]["partitions"]] == [0, 3, 5, 0, 3]
    assert snap["groups"]["g"]["lag"] == 11 and len(asked) == 4  # answers are kept


def test_a_range_that_moves_is_asked_again_once_it_holds_still() -> None:
    asked: list[tuple[str, int, int]] = []
    log_end = [10]  # a marker at 9; later a record at 9 and a marker at 10

    def reach(topic: str, partition: int, start: int) -> Reach:
        asked.append((topic, partition, start))
        return Reach(log_end[0], False)  # what is left after ``start`` is a marker

    tails = BareTails(reach)
    tails.update({"g": {(T, 0): 9}}, {(T, 0): 10})
    assert tails.update({"g": {(T, 0): 9}}, {(T, 0): 10}) == {("g", T, 0)}
    log_end[0] = 11
    assert tails.update({"g": {(T, 0): 9}}, {(T, 0): 11}) == set()  # a record came
    assert tails.update({"g": {(T, 0): 10}}, {(T, 0): 11}) == set()  # read; its marker left
    assert tails.update({"g": {(T, 0): 10}}, {(T, 0): 11}) == {("g", T, 0)}
    assert asked == [(T, 0, 9), (T, 0, 10)]
    assert tails.update({"g": {(T, 0): 11}}, {(T, 0): 11}) == set()  # caught up: forgotten
    assert tails.update({"g": {(T, 0): 10}}, {(T, 0): 11}) == set()  # seen afresh


def test_groups_are_judged_apart() -> None:
    tails, asked = _tails({0: Reach(10, False)})
    committed = {"a": {(T, 0): 9}, "b": {(T, 0): 4}}
    tails.update(committed, {(T, 0): 10})
    assert tails.update(committed, {(T, 0): 10}) == {("a", T, 0), ("b", T, 0)}
    assert asked == [(T, 0, 9), (T, 0, 4)]
