"""The gateway under faults, against a real ``redis-server`` of its own (no Kafka needed).

* Redis SIGKILLed and restarted on the same port: ``/healthz`` goes 503 then 200, requests in
  between get ``unavailable``, the feed resubscribes, clients get fresh snapshots and then
  the updates published after the restart.
* Redis frozen (SIGSTOP): the quiet feed's PING goes unanswered and ``/healthz`` says so.
* A client that never reads is closed (4008) though its update queue stays short.
* Handshake limits, the auth deadline and ``/metrics`` auth, over real sockets.

Every process here is started by the test and stopped by its PID.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from contracts.wire import INDEX_KEY, UPDATES_CHANNEL, series_hash
from gateway.auth import mint
from gateway.server import Gateway
from infra.kafka import free_port, spawn, stop_pid
from infra.redis_server import ensure_redis_server, redis_args, redis_healthy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@dataclass
class LocalRedis:
    """A ``redis-server`` on a fixed loopback port that the test can kill and restart."""

    workdir: Path
    port: int
    pid: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> None:
        args = redis_args(ensure_redis_server(), self.port, self.workdir)
        proc = spawn(args, self.workdir / "redis.out", attached=True)
        self.pid = proc.pid
        deadline = time.monotonic() + timeout
        while not redis_healthy(self.url, timeout=0.5):
            assert proc.poll() is None, f"redis-server exited ({proc.returncode})"
            assert time.monotonic() < deadline, "redis-server did not answer PING"
            time.sleep(0.05)

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        with suppress(ChildProcessError):
            os.waitpid(self.pid, 0)

    def stop(self) -> None:
        if self.pid:
            stop_pid(self.pid, 10, marker="redis-server")


@pytest.fixture
def local_redis(tmp_path: Path) -> Iterator[LocalRedis]:
    r = LocalRedis(tmp_path, free_port())
    r.start()
    try:
        yield r
    finally:
        with suppress(ProcessLookupError):
            os.kill(r.pid, signal.SIGCONT)
        r.stop()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def _http(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    return await asyncio.to_thread(_get, url, headers)


async def _until(check, timeout: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(every)


def _write_series(r: redis.Redis, name: str, version: int, publish: bool = True) -> None:
    live = {"series": name, "version": version, "events": version, "event_ts": 1.0e9,
            "open": {"t": 1.0e9, "qty": float(version), "events": version}}
    r.hset(series_hash(name), mapping={"v": version, "o": json.dumps(live)})
    r.zadd(INDEX_KEY, {name: 1.0e9})
    if publish:
        r.publish(UPDATES_CHANNEL, json.dumps({**live, "kind": "live"}))


async def _frames_until(ws, predicate, timeout: float) -> list[dict]:
    """Frames received until one satisfies ``predicate`` (which is the last one)."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no matching frame within {timeout} s; got {got[-5:]}"
        frame = json.loads(await asyncio.wait_for(ws.recv(), left))
        got.append(frame)
        if predicate(frame):
            return got


def test_redis_killed_and_restarted_the_feed_recovers(local_redis: LocalRedis) -> None:
    r = redis.Redis.from_url(local_redis.url)
    _write_series(r, "S1", 1, publish=False)

    async def scenario() -> None:
        gw = Gateway(local_redis.url, "127.0.0.1", 0)
        await gw.start()
        health = f"http://127.0.0.1:{gw.port}/healthz"
        try:
            assert (await _http(health))[0] == 200
            async with connect(gw.url) as ws:
                await ws.recv()  # hello
                await ws.send(json.dumps({"type": "subscribe", "channel": "actuals",
                                          "series": "S1"}))
                first = await _frames_until(ws, lambda f: f["type"] == "snapshot", 5)
                assert first[-1]["version"] == 1
                # a write the gateway never heard of (its publish was lost), then the outage
                _write_series(r, "S1", 2, publish=False)
                r.save()  # the restarted server loads it from dump.rdb
                local_redis.kill()

                async def unhealthy() -> bool:
                    status, body = await _http(health)
                    return status == 503 and json.loads(body)["status"] == "unhealthy"
                await _until(unhealthy, 5, "/healthz to answer 503")
                status, body = await _http(health)
                assert json.loads(body)["redis"].startswith("down since ")
                assert (await _http(f"http://127.0.0.1:{gw.port}/metrics"))[1].count(
                    b"salescast_gateway_redis_up 0.0") == 1
                # a request that needs Redis: an error frame, and the connection lives on
                await ws.send(json.dumps({"type": "list", "id": "l"}))
                frames = await _frames_until(ws, lambda f: f["type"] == "error", 10)
                assert frames[-1]["code"] == "unavailable" and frames[-1]["id"] == "l"
                await ws.send(json.dumps({"type": "ping", "id": "p"}))
                await _frames_until(ws, lambda f: f == {"type": "pong", "id": "p"}, 5)

                await asyncio.sleep(1.0)  # a gap of a few backoff rounds
                local_redis.start()

                async def healthy() -> bool:
                    return (await _http(health))[0] == 200
                await _until(healthy, 10, "/healthz to answer 200 again")
                # caught up: a fresh snapshot with the version written before the outage
                frames = await _frames_until(ws, lambda f: f.get("version") == 2, 10)
                assert frames[-1]["type"] == "snapshot" and frames[-1]["channel"] == "actuals"
                # and live again: updates published after the restart arrive
                r2 = redis.Redis.from_url(local_redis.url)
                _write_series(r2, "S1", 3)
                frames = await _frames_until(ws, lambda f: f.get("version") == 3, 10)
                assert frames[-1]["type"] == "update"
                r2.close()
            assert gw.feed.reconnects == 1
        finally:
            await gw.stop()

    try:
        asyncio.run(scenario())
    finally:
        r.close()


def test_a_frozen_redis_fails_the_health_check(local_redis: LocalRedis) -> None:
    async def scenario() -> None:
        gw = Gateway(local_redis.url, "127.0.0.1", 0)
        await gw.start()
        health = f"http://127.0.0.1:{gw.port}/healthz"
        try:
            os.kill(local_redis.pid, signal.SIGSTOP)  # the socket stays open, nothing answers

            async def unhealthy() -> bool:
                return (await _http(health))[0] == 503
            await _until(unhealthy, 8, "/healthz to notice the unanswered PING")
            for _ in range(8):  # and it stays so, reconnect attempts notwithstanding
                await asyncio.sleep(0.5)
                status, body = await _http(health)
                assert status == 503, body
            assert not gw.feed.health.listening
            os.kill(local_redis.pid, signal.SIGCONT)

            async def healthy() -> bool:
                return (await _http(health))[0] == 200
            await _until(healthy, 10, "/healthz to recover")
        finally:
            with suppress(ProcessLookupError):
                os.kill(local_redis.pid, signal.SIGCONT)
            await gw.stop()

    asyncio.run(scenario())


# -- a client that never reads ----------------------------------------------------------------

def _client_frame(text: str) -> bytes:
    """A masked WebSocket text frame, as a client must send it."""
    payload = text.encode()
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) +
                            struct.pack("!H", n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _handshake_status(port: int, hosts: list[str], origin: str | None) -> int:
    """The HTTP status answering a WebSocket handshake with these Host and Origin headers."""
    lines = ["GET /ws HTTP/1.1", *(f"Host: {h}" for h in hosts), "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: " + base64.b64encode(
                 os.urandom(16)).decode(), "Sec-WebSocket-Version: 13"]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = sock.recv(1024)
    return int(head.split(b" ", 2)[1])


def _raw_client(port: int) -> socket.socket:
    """Handshake and subscribe to everything over a socket with a tiny receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    for channel in ("actuals", "forecasts", "alerts"):
        sock.sendall(_client_frame(json.dumps({"type": "subscribe", "channel": channel,
                                               "pattern": "*"})))
    sock.sendall(_client_frame(json.dumps({"type": "subscribe", "channel": "ops"})))
    return sock


def test_a_client_that_never_reads_is_closed(local_redis: LocalRedis) -> None:
    r = redis.Redis.from_url(local_redis.url)
    pad = "x" * 32_000

    async def scenario() -> None:
        gw = Gateway(local_redis.url, "127.0.0.1", 0)
        await gw.start()
        sock = await asyncio.to_thread(_raw_client, gw.port)
        try:
            async with connect(gw.url) as healthy:
                await healthy.recv()
                await healthy.send(json.dumps({"type": "subscribe", "channel": "actuals",
                                               "series": "K0"}))
                await _until(lambda: _true(len(gw.sessions) == 2 and all(
                    s.subs for s in gw.sessions.values())), 5, "both clients to subscribe")
                start = time.monotonic()
                received = 0
                version = 0
                # 8 series only: a slow client's queue never holds more than 8 frames, far
                # below the 1000 of the pending-queue rule; the socket buffers fill instead
                while len(gw.sessions) == 2:
                    assert time.monotonic() - start < 20, "the unread client was not closed"
                    for k in range(8):
                        version += 1
                        r.publish(UPDATES_CHANNEL, json.dumps(
                            {"series": f"K{k}", "version": version, "kind": "live",
                             "pad": pad}))
                    with suppress(TimeoutError):
                        while True:  # the healthy client keeps up
                            await asyncio.wait_for(healthy.recv(), 0.01)
                            received += 1
                    await asyncio.sleep(0.02)
                elapsed = time.monotonic() - start
                assert gw.metrics.closes.labels("not_reading")._value.get() == 1
                assert gw.metrics.closes.labels("queue")._value.get() == 0
                assert elapsed < 12, elapsed
                # the healthy one is still served
                r.publish(UPDATES_CHANNEL, json.dumps({"series": "K0", "version": 10 ** 9,
                                                       "kind": "live"}))
                await _frames_until(healthy, lambda f: f.get("version") == 10 ** 9, 5)
                assert received > 0
        finally:
            sock.close()
            await gw.stop()
            r.close()

    asyncio.run(scenario())


async def _true(value: bool) -> bool:
    return value


# -- handshake limits, auth deadline, /metrics ------------------------------------------------

def test_handshake_limits_and_auth_deadline(local_redis: LocalRedis) -> None:
    secret = "s3cret"

    async def scenario() -> None:
        gw = Gateway(local_redis.url, "127.0.0.1", 0, secret=secret, auth_timeout=0.5,
                     max_connections_per_address=2)
        await gw.start()
        base = f"http://127.0.0.1:{gw.port}"
        try:
            # DNS rebinding: a foreign Host is refused even with a matching Origin
            assert await asyncio.to_thread(_handshake_status, gw.port, ["evil.example:80"],
                                           "http://evil.example") == 421
            assert await asyncio.to_thread(_handshake_status, gw.port, [
                f"127.0.0.1:{gw.port}", "evil.example"], None) == 421  # two Hosts
            assert await asyncio.to_thread(_handshake_status, gw.port, [
                f"localhost:{gw.port}"], "http://evil.example") == 403
            assert await asyncio.to_thread(_handshake_status, gw.port, [
                f"localhost:{gw.port}"], f"http://localhost:{gw.port}") == 101
            # an unauthenticated connection is closed at its deadline
            async with connect(gw.url) as ws:
                await ws.recv()
                t0 = time.monotonic()
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
                assert closed.value.rcvd.reason == "authentication timeout"
                assert 0.4 < time.monotonic() - t0 < 2.5
            token = mint(secret, ["ops"], ["*"], ttl=60, now=time.time())
            async with connect(f"{gw.url}?token={token}") as a, \
                    connect(f"{gw.url}?token={token}") as b:
                for ws in (a, b):
                    await ws.recv()
                with pytest.raises(InvalidStatus) as info:
                    async with connect(gw.url):
                        pass
                assert info.value.response.status_code == 503  # 2 per address
            # /metrics: 401 without a token, 200 with an ops token
            assert (await _http(f"{base}/metrics"))[0] == 401
            status, body = await _http(f"{base}/metrics",
                                       {"Authorization": f"Bearer {token}"})
            assert status == 200 and b"salescast_gateway_handshakes_rejected" in body
        finally:
            await gw.stop()
        # a burst of requests from one address: 429 past the bucket
        gw = Gateway(local_redis.url, "127.0.0.1", 0, handshake_rate=1.0, handshake_burst=3)
        await gw.start()
        try:
            codes = [(await _http(f"http://127.0.0.1:{gw.port}/static/core.js"))[0]
                     for _ in range(5)]
            assert codes == [200, 200, 200, 429, 429]
            assert (await _http(f"http://127.0.0.1:{gw.port}/healthz"))[0] == 200  # exempt
        finally:
            await gw.stop()

    asyncio.run(scenario())


def test_policy_closes_reach_the_client_as_1008(local_redis: LocalRedis) -> None:
    """A connection over the token's limit, and a client that floods: each is closed with
    1008 (a policy). Both came as 1000 (a normal close), which a client does not tell from a
    shutdown (a probe)."""
    secret = "s3cret"

    async def scenario() -> None:
        gw = Gateway(local_redis.url, "127.0.0.1", 0, secret=secret,
                     max_connections_per_token=1)
        await gw.start()
        try:
            token = mint(secret, ["ops"], ["*"], ttl=60, now=time.time())
            async with connect(f"{gw.url}?token={token}") as first:
                await first.recv()  # hello
                async with connect(f"{gw.url}?token={token}") as second:
                    frames = [json.loads(await second.recv()) for _ in range(2)]
                    assert frames[1]["code"] == "too_many_connections"
                    with pytest.raises(ConnectionClosed) as closed:
                        await asyncio.wait_for(second.recv(), 5)
                    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
                for _ in range(300):  # past the burst, then 50 rate-limited frames
                    await first.send('{"type": "ping"}')
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(first.recv(), 5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        finally:
            await gw.stop()

    asyncio.run(scenario())


def test_a_flooding_client_that_never_reads_is_cut_within_the_grace(
        local_redis: LocalRedis) -> None:
    """150 pings at once from a client that reads nothing: the rate limit closes it, and its
    slot was held 10 s more while the close waited for its answer behind its unread pongs."""

    async def scenario() -> None:
        gw = Gateway(local_redis.url, "127.0.0.1", 0)
        await gw.start()
        sock = await asyncio.to_thread(_raw_client, gw.port)
        try:
            pings = b"".join(_client_frame(json.dumps({"type": "ping", "id": i, "pad": "x" * 900}))
                             for i in range(150))
            t0 = time.monotonic()
            await asyncio.to_thread(sock.sendall, pings)
            await _until(lambda: _true(not gw.sessions), 8, "the flooding client to be cut")
            assert time.monotonic() - t0 < 4
        finally:
            sock.close()
            await gw.stop()

    asyncio.run(scenario())
