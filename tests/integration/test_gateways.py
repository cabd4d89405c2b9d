"""Two gateways on one Redis serve the same feeds; a client moved from one to the other with
``since`` misses nothing and gets nothing twice (real Kafka, Redis, worker and gateways).

Gateway A and gateway B are two ``salescast gateway`` processes on one Redis. Four clients
subscribe through A to the forecasts and actuals of a series each and to every alert; four
observers subscribe to the same through B. Three phases of events, each ending with a spike
that raises an anomaly alert:

1. both gateways up: every observer on B gets exactly the frames its peer on A gets;
2. A killed with SIGKILL, the clients away while the phase is written;
3. the clients back through B, resubscribed with ``since`` (their last version per channel,
   their last alert stream id), then the last phase.

On ``alerts`` every alert of the Redis stream reaches each client exactly once over A then B
(the ones of phase 2 in B's snapshot after ``since``). On ``forecasts``/``actuals``, which are
latest-value-wins (a snapshot is the whole state: the versions written while a client was
away are folded into it), the versions a client gets only go up, none twice, and it ends on the
version a fresh client is given.
"""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import pytest

from contracts.events import SaleEvent
from contracts.wire import ALERTS_STREAM, VERSION_FIELD, series_hash
from infra.kafka import free_port
from infra.procs import salescast_cmd, spawn, stop
from stream.partitioning import partition_for
from tests.integration.clients import Subscriber, latest_versions

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DAY, HOUR = 86400, 3600
T0 = 1_300_000_000 - 1_300_000_000 % DAY
CHANNELS = ("forecasts", "actuals")
#: each phase ends at 02:30 of this day, which closes the day before (lateness 1 h)
PHASE_ENDS = (22, 26, 30)
#: per phase: the day of its spikes and the series spiked (indices)
SPIKES = ((21, (0, 1)), (25, (2, 3)), (29, (0, 2)))


def _series(partitions: int, n: int = 4) -> list[str]:
    """``n`` series on distinct partitions: alone on its partition, a series' own last event
    moves the watermark, so the last write of every phase closes a bucket (a forecast)."""
    found: dict[int, str] = {}
    i = 0
    while len(found) < n:
        found.setdefault(partition_for(f"GW{i}", partitions), f"GW{i}")
        i += 1
    return sorted(found.values())


def _phases(series: list[str]) -> list[list[SaleEvent]]:
    """Every series every two hours (at :30), spikes of 500 at noon of the spike days; phase
    ``k`` runs up to 02:30 of ``PHASE_ENDS[k]``; events in time order."""
    rows: list[tuple[float, int, SaleEvent]] = []
    for j, s in enumerate(series):
        for k in range(12 * PHASE_ENDS[-1] + 2):
            ts = T0 + 1800 + 2 * HOUR * k
            rows.append((ts, j, SaleEvent(s, ts, 1 + k % 5, 2.0)))
    for day, spiked in SPIKES:
        ts = T0 + day * DAY + 12 * HOUR + 900
        rows += [(ts, j, SaleEvent(series[j], ts, 500, 2.0)) for j in spiked]
    rows.sort(key=lambda r: (r[0], r[1]))
    ends = [T0 + d * DAY + 3 * HOUR for d in PHASE_ENDS]
    return [[e for ts, _, e in rows if (ends[k - 1] if k else 0) <= ts < ends[k]]
            for k in range(len(ends))]


def _produce(pipeline, events: list[SaleEvent], days: int = 2) -> None:
    """Publish ``events`` a few days at a time, so that the worker writes each series several
    times (several versions per client)."""
    chunks: dict[int, list[tuple[bytes | None, bytes]]] = {}
    for e in events:
        chunks.setdefault(int(e.ts - T0) // (days * DAY), []).append((e.series.encode(),
                                                                       e.to_json()))
    for _, records in sorted(chunks.items()):
        pipeline.produce(records)
        time.sleep(0.2)


def _rising(versions: list[int]) -> bool:
    """Strictly increasing: no version twice, never an older one."""
    return all(b > a for a, b in pairwise(versions))


def _healthy(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False
    return check


def test_a_client_moved_to_another_gateway_resumes_without_gaps_or_duplicates(pipeline) -> None:
    series = _series(pipeline.settings.partitions)
    phases = _phases(series)
    ports = {"A": free_port(), "B": free_port()}
    urls = {g: f"ws://127.0.0.1:{p}/ws" for g, p in ports.items()}
    r = pipeline.redis

    def stream_sids() -> list[str]:
        return [sid.decode() for sid, _ in r.xrange(ALERTS_STREAM)]

    def stored(s: str) -> int:
        raw = r.hget(series_hash(s), VERSION_FIELD)
        return -1 if raw is None else int(raw)

    def counted(upto: int) -> Callable[[], bool]:
        want: dict[str, int] = {}
        for e in (e for p in phases[: upto + 1] for e in p):
            want[e.series] = want.get(e.series, 0) + 1
        return lambda: all((pipeline.snapshot(s) or {}).get("events") == n
                           for s, n in want.items())

    def caught_up(clients: list[Subscriber]) -> Callable[[], bool]:
        """Every client has the stored version on both channels and every alert (and fails
        at once on an alert twice or a version that does not go up)."""
        def check() -> bool:
            sids = stream_sids()
            for c in clients:
                got = c.alert_sids()
                assert len(set(got)) == len(got), f"{c.series}: an alert twice: {got}"
                for ch in CHANNELS:
                    assert _rising(c.versions(ch)), (c.series, ch, c.versions(ch))
            return all(c.seen.get(ch) == stored(c.series or "") for c in clients
                       for ch in CHANNELS) and all(c.alert_sids() == sids for c in clients)
        return check

    async def wait(check: Callable[[], bool], what: str, timeout: float = 120) -> None:
        await asyncio.to_thread(pipeline.wait_for, check, timeout, what)

    gateways = {g: spawn(salescast_cmd("gateway", "--host", "127.0.0.1", "--port", str(p)),
                         pipeline.env(), pipeline.logs / f"gateway-{g}.log")
                for g, p in ports.items()}

    async def scenario() -> Observed:
        pipeline.start_worker()
        for g, port in ports.items():
            await wait(_healthy(port), f"gateway {g}", 60)
        stop_clients, hold = asyncio.Event(), asyncio.Event()
        movers = [Subscriber([urls["A"], urls["B"]], s, alerts=True, hold=hold) for s in series]
        observers = [Subscriber([urls["B"]], s, alerts=True) for s in series]
        everyone = movers + observers
        tasks = [asyncio.create_task(c.run(stop_clients)) for c in everyone]
        try:
            # subscribed: the (empty) alerts snapshot answers each client's last subscribe
            await wait(lambda: all(c.frames("alerts", kind="snapshot") for c in everyone),
                       "every client subscribed", 30)

            # the worker is running: the phases then come in several batches (more versions)
            await wait(lambda: bool(pipeline.ops()), "the worker's first ops figures", 60)

            # 1. both gateways up
            await asyncio.to_thread(_produce, pipeline, phases[0])
            await wait(counted(0), "phase 1 counted")
            await wait(caught_up(everyone), "every client caught up with phase 1", 60)
            sids_1 = stream_sids()
            on_b = [len(o.received) for o in observers]

            # 2. gateway A killed; its clients stay away while phase 2 is written
            hold.set()
            gateways["A"].send_signal(signal.SIGKILL)
            await asyncio.to_thread(gateways["A"].wait, 10)
            await wait(lambda: not any(c.connected.is_set() for c in movers),
                       "the clients of A to lose it", 30)
            await asyncio.to_thread(_produce, pipeline, phases[1])
            await wait(counted(1), "phase 2 counted")
            await wait(caught_up(observers), "the observers caught up with phase 2", 60)
            sids_2 = stream_sids()

            # 3. the clients resume through B with since, then phase 3
            hold.clear()
            await wait(caught_up(movers), "the clients to resume through B", 60)
            await asyncio.to_thread(_produce, pipeline, phases[2])
            await wait(counted(2), "phase 3 counted")
            await wait(caught_up(everyone), "every client caught up with phase 3", 60)
            fresh = await latest_versions(urls["B"], series)
            return Observed(movers, observers, on_b, fresh, sids_1, sids_2, stream_sids(),
                            {s: stored(s) for s in series})
        finally:
            stop_clients.set()
            await asyncio.gather(*tasks)

    try:
        seen = asyncio.run(scenario())
    finally:
        for proc in gateways.values():
            stop(proc)

    sids = seen.sids
    by_phase = [seen.sids_1, seen.sids_2[len(seen.sids_1):], sids[len(seen.sids_2):]]
    assert all(by_phase), f"a phase raised no alert: {by_phase}"
    assert len(set(sids)) == len(sids)
    assert seen.fresh == {(s, ch): seen.stored[s] for s in seen.stored for ch in CHANNELS}

    for c in seen.movers:
        assert c.connects == 2
        assert {r.url for r in c.received if r.connection == 1} == {urls["A"]}
        assert {r.url for r in c.received if r.connection == 2} == {urls["B"]}
        # resubscribed with since: the last version per channel and the last alert id from A
        first = [r.frame for r in c.received if r.connection == 1]
        since = {f["channel"]: f.get("since") for conn, f in c.subscribes if conn == 2}
        assert since == {**{ch: max(int(f["version"]) for f in first
                                    if f["channel"] == ch and "version" in f)
                            for ch in CHANNELS},
                         "alerts": by_phase[0][-1]}, c.series
        # alerts: every id of the stream exactly once, in order, over A then B: phase 2's in
        # B's snapshot after since, phase 3's as updates
        assert c.alert_sids() == sids, c.series
        assert [a["sid"] for f in c.frames("alerts", kind="snapshot", connection=2)
                for a in f["data"]] == by_phase[1]
        assert [f["sid"] for f in c.frames("alerts", kind="update", connection=2)] == \
            by_phase[2]
        for ch in CHANNELS:
            versions = c.versions(ch)
            assert _rising(versions), (c.series, ch, versions)
            assert versions[-1] == seen.fresh[(c.series, ch)], (c.series, ch)
            # what was written while away came as one snapshot, newer than since
            [snap] = c.frames(ch, kind="snapshot", connection=2)
            assert snap["version"] > since[ch], (c.series, ch)

    # the same feed from both gateways: while both were up each observer on B got exactly the
    # frames its peer on A got, channel by channel; and it ended where a fresh client starts
    for o, m, n in zip(seen.observers, seen.movers, seen.on_b, strict=True):
        assert o.connects == 1
        for ch in (*CHANNELS, "alerts"):
            on_b = [r.frame for r in o.received[:n] if r.channel == ch]
            on_a = [r.frame for r in m.received if r.connection == 1 and r.channel == ch]
            assert on_b == on_a, (o.series, ch)
            assert on_b, (o.series, ch)
        assert o.alert_sids() == sids
        for ch in CHANNELS:
            versions = o.versions(ch)
            assert _rising(versions), (o.series, ch, versions)
            assert versions[-1] == seen.fresh[(o.series, ch)]

    report = pipeline.reconciled()
    assert report["total"]["accepted"] == sum(map(len, phases))
    assert report["total"]["rejected"] == 0


@dataclass
class Observed:
    movers: list[Subscriber]  # through A, then B
    observers: list[Subscriber]  # through B all along
    on_b: list[int]  # frames each observer had when A was killed
    fresh: dict[tuple[str, str], int]  # what a fresh client is given at the end
    sids_1: list[str]  # the alert stream after phase 1, after phase 2, at the end
    sids_2: list[str]
    sids: list[str]
    stored: dict[str, int]  # each series' version in Redis at the end
