"""The Redis sink's outage bookkeeping (no Redis: the sink's own calls are replaced)."""

from __future__ import annotations

import asyncio
from typing import Any

from stream.bucketing import SeriesBuckets
from stream.processor import SeriesState
from stream.sink import REPUBLISH_CHUNK, RedisSink


class _Epoch:
    """The worker's marker in a Redis that no one flushes."""

    async def set(self, key: str, value: str, ex: int | None = None) -> None:
        pass

    async def exists(self, key: str) -> int:
        return 1


class _Processor:
    def __init__(self) -> None:
        self.chunks: list[list[str]] = []  # what each forecasts_of call was given

    def forecasts_of(self, states: list[SeriesState]) -> None:
        self.chunks.append([st.series for st in states])

    def series_write(self, st: SeriesState, version: int, closed: bool) -> str:
        assert self.chunks and st.series in self.chunks[-1]  # its chunk's forecasts first
        return st.series


def _states(n: int) -> list[SeriesState]:
    return [SeriesState(f"S{i}", SeriesBuckets(86400, 0, 0), positions={0: i})
            for i in range(n)]


def _sink(fail_on_chunk: int | None) -> tuple[RedisSink, list[list[Any]]]:
    sink = RedisSink("redis://127.0.0.1:1/0")  # never connected
    sink.redis = _Epoch()  # type: ignore[assignment]
    written: list[list[Any]] = []

    async def write(writes: list[Any]) -> int:
        written.append(writes)
        if len(written) == fail_on_chunk:  # a batch's call fails while this one is written
            sink.mark_stale(TimeoutError("a batch's write timed out"))
        return len(writes)

    async def nothing(*args: Any) -> int:
        return 0

    sink.write = write  # type: ignore[method-assign]
    sink.write_movers = nothing  # type: ignore[method-assign]
    sink.write_alerts = nothing  # type: ignore[method-assign]
    return sink, written


def test_a_republish_without_failures_ends_the_outage() -> None:
    sink, written = _sink(fail_on_chunk=None)
    assert sink.stale
    assert asyncio.run(sink.republish(_states(3), _Processor())) == 3
    assert not sink.stale and written == [["S0", "S1", "S2"]]


def test_a_failure_during_a_republish_keeps_the_sink_stale() -> None:
    """A batch that failed (and then skipped Redis) after its series' chunk was written would
    be missing from Redis for good if this republish counted as complete."""
    sink, written = _sink(fail_on_chunk=1)
    proc = _Processor()
    asyncio.run(sink.republish(_states(REPUBLISH_CHUNK + 1), proc))
    assert len(written) == 2 and sink.stale and sink.down
    assert [len(c) for c in proc.chunks] == [REPUBLISH_CHUNK, 1]  # forecast a chunk at a time
    sink.outage.answered(0.0)  # Redis answers again: the next tick republishes, cleanly this time
    asyncio.run(sink.republish(_states(2), _Processor()))
    assert not sink.stale


def test_the_sink_is_closed_when_the_worker_stops_not_before() -> None:
    """A sensor: Faust stops sensors after the agent and the consumer (the last writes)."""
    import asyncio

    from faust.sensors.base import Sensor

    from stream.sink import SinkCloser

    closed = []

    class Sink:
        async def close(self) -> None:
            closed.append(True)

    closer = SinkCloser(Sink())  # type: ignore[arg-type]
    assert isinstance(closer, Sensor) and not closed
    asyncio.run(closer.on_stop())
    assert closed == [True]
