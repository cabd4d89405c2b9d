"""The stall log of :class:`stream.offsets.TopicOffsets` (its Kafka side is tested on a real
broker: tests/integration/test_worker_recovery.py and test_faults.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest

from stream.offsets import TopicOffsets


def _app(tp: Any, **faust: Any) -> Any:
    state = SimpleNamespace(paused=False)
    assignment = SimpleNamespace(state_value=lambda _tp: state)
    kafka = SimpleNamespace(
        _subscription=SimpleNamespace(subscription=SimpleNamespace(assignment=assignment)),
        _fetcher=SimpleNamespace(_records={tp: object()}))
    consumer = SimpleNamespace(
        _thread=SimpleNamespace(_ensure_consumer=lambda: kafka), _active_partitions=set(),
        _paused_partitions=set(), _buffered_partitions={tp}, flow_active=True,
        _read_offset={tp: 2260}, **faust)
    return SimpleNamespace(consumer=consumer)


def test_a_stall_says_whether_faust_fetches_the_partition_and_where_aiokafka_is() -> None:
    tp = ("sales", 7)
    line = TopicOffsets(_app(tp), "sales").describe(tp)
    assert line.startswith("faust: active=False paused=False buffered=True flow=True "
                           "read=2260; aiokafka: ")
    assert line.endswith("paused=False held=object")


def test_a_stall_log_never_fails_the_recovery() -> None:
    app = _app(("sales", 7))
    app.consumer._thread = SimpleNamespace()  # not started: no aiokafka consumer yet
    assert TopicOffsets(app, "sales").describe(("sales", 7)).startswith(
        "state unknown: AttributeError(")


def test_a_seek_says_what_was_dropped_of_the_partition_before_the_agent() -> None:
    from collections import Counter

    tp, other = ("sales", 7), ("sales", 1)
    app = _app(tp)
    app.consumer.drops = Counter({("fenced", tp): 3, ("before the rebalance", tp): 2,
                                  ("fenced", other): 9})
    app.ownership = SimpleNamespace(unowned=Counter({tp: 4}))
    offsets = TopicOffsets(app, "sales")
    assert offsets.dropped(tp) == (
        " (dropped before the agent: before the rebalance=2, fenced=3, not owned=4)")
    assert offsets.dropped(("sales", 2)) == ""


class _TP(NamedTuple):
    topic: str
    partition: int


def _stalled(tps: list[_TP], **faust: Any) -> tuple[TopicOffsets, list[tuple[Any, int]]]:
    """Offsets of a consumer assigned ``tps``, each with unread offsets 4..9 (no broker to
    ask), and the seeks it is asked for."""
    sought: list[tuple[Any, int]] = []

    async def highwaters(*asked: Any) -> dict[Any, int]:
        return {tp: 10 for tp in asked}

    async def earliest_offsets(*asked: Any) -> dict[Any, int]:
        return {tp: 0 for tp in asked}

    async def seek(tp: Any, offset: int) -> None:
        sought.append((tp, offset))

    consumer = SimpleNamespace(
        assignment=lambda: set(tps), highwaters=highwaters, earliest_offsets=earliest_offsets,
        seek=seek, _committed_offset={tp: 4 for tp in tps}, _new_topicpartition=_TP,
        _thread=SimpleNamespace(), **faust)
    return TopicOffsets(SimpleNamespace(consumer=consumer), "sales"), sought


def test_only_owned_partitions_are_sought_back_when_stalled() -> None:
    """A worker frozen past its session (SIGSTOP, then SIGCONT) still listed its old
    assignment until the group took it back, and sought back partitions it no longer owned,
    with a warning for each."""
    import asyncio

    from stream.commits import Ownership

    tps = [_TP("sales", 0), _TP("sales", 1)]
    offsets, sought = _stalled(tps)
    ownership = Ownership()
    ownership.tps = {tps[0]}
    continuity = SimpleNamespace(expected=lambda partition: None)
    progressed = {0: -100.0, 1: -100.0}  # neither applied anything for long
    asyncio.run(offsets.resume_stalled(ownership, continuity, progressed, lambda: True, 5.0))
    assert sought == [(tps[0], 4)] and offsets.reseeks == 1


def test_no_partition_is_judged_stalled_while_a_commit_holds_faust_s_fetch_loop() -> None:
    """Faust's fetch loop awaits the commit it makes every 10,000 messages: nothing reaches
    the agent meanwhile. At a 100k-series day close (commits of seconds) the stall watch
    sought partitions back for that, with a warning each, and threw their records away. It
    waits for the commit, and counts the time from its end."""
    import asyncio
    import time

    from stream.commits import Ownership

    tp = _TP("sales", 0)
    offsets, sought = _stalled([tp], _commit_fut=object())  # a commit under way
    consumer = offsets.consumer
    ownership = Ownership()
    ownership.tps = {tp}
    continuity = SimpleNamespace(expected=lambda partition: None)
    progressed = {0: time.monotonic() - 100.0}  # nothing applied for long

    def check() -> None:
        asyncio.run(offsets.resume_stalled(ownership, continuity, progressed, lambda: True,
                                           5.0))

    check()
    consumer._commit_fut = None  # it ended: nothing came yet, but only just
    check()
    assert sought == []
    offsets._committing_at -= 10.0  # nothing for 10 s after it: stalled
    check()
    assert sought == [(tp, 4)]
    # a commit stuck for longer than the patience (waiting for the changelog) hides nothing
    sought.clear()
    consumer._commit_fut = stuck = object()
    check()
    assert sought == []
    offsets._commit = (stuck, offsets._commit[1] - 31.0)
    offsets._committing_at -= 10.0
    progressed[0] -= 100.0
    check()
    assert sought == [(tp, 4)]


def test_kafka_away_is_one_warning_not_the_end_of_the_worker(caplog: Any) -> None:
    """A probe blackholed the broker for 120 s: 90 s in, the offsets' request raised
    KafkaTimeoutError in the worker's timer, and Faust ended the worker."""
    import asyncio
    import logging

    from aiokafka.errors import KafkaTimeoutError

    from stream.commits import Ownership

    tp = _TP("sales", 0)
    offsets, sought = _stalled([tp])
    answers = [KafkaTimeoutError("Failed to get offsets by times in 90000 ms"),
               KafkaTimeoutError("again"), None]

    async def highwaters(*asked: Any) -> dict[Any, int]:
        if (err := answers.pop(0)) is not None:
            raise err
        return {t: 10 for t in asked}

    offsets.consumer.highwaters = highwaters
    ownership = Ownership()
    ownership.tps = {tp}
    continuity = SimpleNamespace(expected=lambda partition: None)
    progressed = {0: -100.0}
    with caplog.at_level(logging.WARNING, logger="salescast.worker"):
        for _ in range(3):
            asyncio.run(offsets.resume_stalled(ownership, continuity, progressed,
                                               lambda: True, 5.0))
            progressed[0] = -100.0
    away = [r for r in caplog.records if "cannot read the events topic" in r.getMessage()]
    assert len(away) == 1 and not offsets.kafka_away
    assert sought == [(tp, 4)]  # Kafka back: the stall watch goes on


def test_partitions_to_seek_back_are_kept_when_kafka_fails_midway() -> None:
    """A review found it: the partitions skipped during an assignment were taken once; when
    Kafka failed between two of their seeks back, the rest were never sought back."""
    import asyncio

    from aiokafka.errors import KafkaTimeoutError

    from stream.commits import Ownership

    tps = [_TP("sales", 0), _TP("sales", 1)]
    offsets, sought = _stalled(tps)
    calls = []

    async def earliest_offsets(*asked: Any) -> dict[Any, int]:
        calls.append(asked)
        if len(calls) == 2:
            raise KafkaTimeoutError("away")
        return {tp: 0 for tp in asked}

    offsets.consumer.earliest_offsets = earliest_offsets
    class _Message:
        def __init__(self, tp: _TP) -> None:
            self.tp = tp

    ownership = Ownership()
    kept = [_Message(tp) for tp in tps]
    for m in kept:
        ownership.skip(m)  # fetched before the assignment ended
    ownership.tps = set(tps)
    continuity = SimpleNamespace(expected=lambda partition: None)
    asyncio.run(offsets.resume_stalled(ownership, continuity, {}, lambda: True, 5.0))
    assert offsets.kafka_away and ownership.to_resend() == set(tps)


def test_retention_that_deleted_unread_offsets_is_said_and_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    """A stopped group's committed offset 4, the log's start 10 after retention: offsets
    4..9 are gone. Reading went on from 10 with one INFO line of the Kafka client (a probe
    lost 1,500 events so); now one warning per partition and assignment, and a count."""
    import asyncio

    tp = _TP("sales", 0)
    offsets, _ = _stalled([tp])

    async def earliest_offsets(*asked: Any) -> dict[Any, int]:
        return {t: 10 for t in asked}

    offsets.consumer.earliest_offsets = earliest_offsets
    with caplog.at_level("WARNING", logger="salescast.worker"):
        assert asyncio.run(offsets.committed(0)) == 10
        assert asyncio.run(offsets.committed(0)) == 10  # said once
    assert [r.getMessage() for r in caplog.records] == [
        "partition 0 of sales: offsets 4..9 were deleted (retention) before this worker group "
        "read them: 6 messages lost; reading on from 10"]
    assert offsets.lost == 6
    offsets.consumer._committed_offset[tp] = 12  # read on and committed: nothing lost
    offsets.forget()
    assert asyncio.run(offsets.committed(0)) == 12 and offsets.lost == 6
    offsets.consumer._committed_offset[tp] = None  # a new group: it never had them
    assert asyncio.run(offsets.committed(0)) == 10 and offsets.lost == 6


def test_a_gap_taken_below_the_log_s_start_is_the_loss_of_retention(
        caplog: pytest.LogCaptureFixture) -> None:
    """A running worker's unread offsets 10..14 were deleted; the Kafka client reset its
    position to 15, and Faust filed 10..14 as a gap in the log (as it does transaction
    markers): taken in silence. The stall watch checks every gap taken against the log's
    start; a one-offset gap (a transaction's marker) is not even asked about."""
    import asyncio

    tp = _TP("sales", 0)
    offsets, sought = _stalled([tp])
    starts = iter([15, 15])

    async def earliest_offsets(*asked: Any) -> dict[Any, int]:
        return {t: next(starts) for t in asked}

    class Gaps:
        def overlaps_point(self, offset: int) -> bool:
            return True

    offsets.consumer.earliest_offsets = earliest_offsets
    offsets.consumer._gap = {tp: Gaps()}
    assert offsets.known_gap(0, 10, 15) and offsets.known_gap(0, 16, 17)
    with caplog.at_level("WARNING", logger="salescast.worker"):
        asyncio.run(offsets.check_gaps())
        asyncio.run(offsets.check_gaps())  # checked once
    assert [r.getMessage() for r in caplog.records] == [
        "partition 0 of sales: offsets 10..14 were deleted (retention) before this worker group "
        "read them: 5 messages lost; reading on from 15"]
    assert offsets.lost == 5 and sought == []
    # a hole the agent would seek back into, below the log's start: read on from the start
    asyncio.run(offsets.seek_back(0, 12, "offset 12 was fetched but never delivered"))
    assert sought == [(tp, 15)] and offsets.lost == 5  # the same loss, said once
