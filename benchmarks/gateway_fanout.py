"""``salescast bench gateway``: fan-out throughput, push latency and memory of one gateway.

Bounded and loopback only: it starts a private ``redis-server`` and one ``salescast gateway``
process on free 127.0.0.1 ports, connects ``clients`` WebSocket clients (this process, asyncio)
that all subscribe to every series on the ``forecasts`` channel, publishes forecast updates to
Redis at a fixed rate for ``seconds``, then stops everything it started.

A share of the clients (``slow_fraction``) is deliberately slow: they subscribe and never read,
so their sockets fill up and the gateway's per-client latest-value-wins queues absorb the
backlog. The figures are those of the fast clients, which must not be slowed by them.

Each update carries the publisher's wall time; a fast client's latency is receive time minus
that (Redis pub/sub hop + gateway routing + WebSocket send). The same run first measures a
single client as the reference: the ratio says what the fan-out adds.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis.asyncio as aioredis
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect

from contracts.pubsub import db_of, in_db
from contracts.wire import UPDATES_CHANNEL
from infra.procs import child_env, salescast_cmd, spawn, stop, wait_http

__all__ = ["LoadResult", "run_gateway_bench"]

AT, UPDATE = '"at":', '{"type":"update"'
PAYLOAD_POINTS = 28  # closed actuals per update: about the size of a real forecast update


@dataclass
class LoadResult:
    clients: int
    slow: int
    seconds: float
    published: int
    latencies: list[float] = field(default_factory=list)
    received: int = 0
    closed_slow: int = 0
    rss_bytes: int = 0

    def quantile(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")

    @property
    def rate(self) -> float:
        return self.received / self.seconds if self.seconds else 0.0

    @property
    def delivered(self) -> float:
        """Share of the updates each fast client should have got that it did get."""
        want = self.published * (self.clients - self.slow)
        return self.received / want if want else 0.0


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        new = min(hard, max(needed, soft)) if hard != resource.RLIM_INFINITY else needed
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def _update(series: str, version: int, at: float) -> str:
    actuals = [[1_700_000_000 + 86400 * i, float(i % 7)] for i in range(PAYLOAD_POINTS)]
    forecast = {"yhat": [3.0] * 14, "lo": [1.0] * 14, "hi": [5.0] * 14,
                "model": {"name": "ensemble", "winner": "rolling_median"}}
    # "at" last but one, so that a client finds it from the end
    return json.dumps({"series": series, "version": version, "kind": "forecast",
                       "events": version, "actuals": actuals, "forecast": forecast, "at": at,
                       "n": version}, separators=(",", ":"))


async def _client(url: str, slow: bool, result: LoadResult, ready: asyncio.Event,
                  stop_at: list[float]) -> None:
    try:
        async with connect(url, max_size=2**22, open_timeout=30) as ws:
            await ws.recv()  # hello
            await ws.send('{"type":"subscribe","channel":"forecasts","pattern":"*"}')
            await ws.recv()  # subscribed
            ready.set()
            if slow:
                await _hold(ws, stop_at)
                return
            while True:
                text = await ws.recv(decode=True)
                assert isinstance(text, str)
                now = time.time()
                # the clients share one core with the publisher: read "at" without a full parse
                i = text.rfind(AT)
                if i >= 0 and text.startswith(UPDATE):
                    j = i + len(AT)
                    k = text.find(",", j)
                    result.latencies.append(now - float(text[j:k]))
                    result.received += 1
    except Exception as exc:  # closed by the gateway (a slow client) or by us at the end
        code = getattr(getattr(exc, "rcvd", None), "code", None)
        if code == 4008:
            result.closed_slow += 1


async def _hold(ws: ClientConnection, stop_at: list[float]) -> None:
    while time.time() < stop_at[0]:
        await asyncio.sleep(0.2)


async def _load(url: str, redis_url: str, clients: int, slow: int, seconds: float,
                rate: float, series: int, console: Console) -> LoadResult:
    result = LoadResult(clients, slow, seconds, 0)
    stop_at = [float("inf")]
    readies = [asyncio.Event() for _ in range(clients)]
    tasks = []
    for i in range(clients):
        tasks.append(asyncio.create_task(_client(url, i < slow, result, readies[i], stop_at)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # don't open a thousand handshakes at once
    deadline = time.monotonic() + 120
    while not all(r.is_set() for r in readies):
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {sum(r.is_set() for r in readies)} of {clients} clients "
                               "connected within 120 s")
        await asyncio.sleep(0.1)
    r = aioredis.Redis.from_url(redis_url)
    started = time.monotonic()
    interval = 1.0 / rate
    n = 0
    while time.monotonic() - started < seconds:
        await r.publish(in_db(UPDATES_CHANNEL, db_of(r)), _update(f"B{n % series}", n, time.time()))
        n += 1
        delay = started + n * interval - time.monotonic()
        await asyncio.sleep(max(0.0, delay))
    result.published = n
    await asyncio.sleep(1.0)  # let the last updates arrive
    result.seconds = time.monotonic() - started
    stop_at[0] = 0.0
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await r.aclose()
    return result


def run_gateway_bench(clients: int, slow_fraction: float, seconds: float, rate: float,
                      series: int, home: Path, console: Console) -> list[LoadResult]:
    """Run the reference (1 client), then ``clients`` with and without slow ones."""
    from infra.kafka import free_port
    from infra.redis_server import start_redis, stop_redis

    _raise_fd_limit(clients * 2 + 256)
    work = (home / "bench" / f"gateway-{uuid.uuid4().hex[:8]}").resolve()
    rp = start_redis(work / "redis")
    redis_url = rp.url.rsplit("/", 1)[0] + "/0"
    port = free_port()
    gw = spawn(salescast_cmd("gateway", "--port", str(port)),
               child_env("127.0.0.1:1", redis_url,  # every bench client is on one address
                         SALESCAST_MAX_CONNECTIONS_PER_ADDRESS=str(clients + 64),
                         SALESCAST_HANDSHAKE_BURST=str(clients + 64)),
               work / "gateway.log")
    results: list[LoadResult] = []
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 30, gw)
        url = f"ws://127.0.0.1:{port}/ws"
        n_slow = int(round(clients * slow_fraction))
        runs = [(1, 0), (clients, 0)] + ([(clients, n_slow)] if n_slow else [])
        for n, s in runs:
            console.print(f"{n:,} clients ({s:,} slow): {rate:g} updates/s for {seconds:g} s ...")
            res = asyncio.run(_load(url, redis_url, n, s, seconds, rate, series, console))
            res.rss_bytes = psutil.Process(gw.pid).memory_info().rss
            results.append(res)
    finally:
        stop(gw)
        stop_redis(rp.pid)
    _report(results, rate, console)
    return results


def _report(results: list[LoadResult], rate: float, console: Console) -> None:
    ref = results[0]
    table = Table(title=f"salescast bench gateway ({rate:g} updates/s, every client subscribed "
                        "to every series)")
    for col in ("clients", "slow", "frames/s", "delivered", "p50 ms", "p99 ms", "p99/ref",
                "closed", "RSS MiB"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(f"{r.clients:,}", f"{r.slow:,}", f"{r.rate:,.0f}", f"{r.delivered:.1%}",
                      f"{1000 * r.quantile(0.5):.1f}", f"{1000 * r.quantile(0.99):.1f}",
                      f"{r.quantile(0.99) / ref.quantile(0.99):.1f}", f"{r.closed_slow:,}",
                      f"{r.rss_bytes / 2**20:.0f}")
    console.print(table)
    big = results[1] if len(results) > 1 else ref
    added = 1000 * (big.quantile(0.99) - ref.quantile(0.99))
    console.print(f"p99 added by fan-out to {big.clients:,} clients: {added:.1f} ms "
                  "(target <= 50 ms at 1,000 clients)")
