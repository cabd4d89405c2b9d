"""The WebSocket gateway: glue between Redis (snapshots, pub/sub feeds) and clients.

Protocol logic lives in :mod:`gateway.protocol` (sans I/O), tokens in :mod:`gateway.auth`,
fan-out and backpressure in :mod:`gateway.fanout`, routing of Redis messages in
:mod:`gateway.routing`, admission rules in :mod:`gateway.limits`, HTTP answers in
:mod:`gateway.web`, Redis reads in :mod:`gateway.store`, the resilient pub/sub feed in
:mod:`gateway.feed`, Prometheus figures in :mod:`gateway.metrics`. This module only pumps
bytes:

* the feed routes the worker's series updates, alerts and ops snapshots to the interested
  clients; after a Redis outage it resubscribes and every client gets fresh snapshots;
* per client, a reader feeds frames to its :class:`~gateway.protocol.Session` and a writer
  drains its queue; a client too far behind (queue or socket buffer) is closed with 4008;
* a housekeeping task closes connections past their auth deadline and clients that do not
  read;
* HTTP: ``GET /healthz``, ``GET /metrics`` (Prometheus), ``GET /`` and ``/static/...`` (the
  dashboard). Host, Origin, rate and connection caps are checked at the handshake
  (``docs/security.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from contracts.wire import ALERTS_CHANNEL, OPS_CHANNEL, UPDATES_CHANNEL, server_frame
from gateway.fanout import Fanout
from gateway.feed import RedisFeed
from gateway.limits import Admission, HostPolicy, StallWatch, TokenSlots
from gateway.metrics import GatewayMetrics
from gateway.protocol import (
    AuthRequest,
    Close,
    ListRequest,
    MoversRequest,
    Reply,
    Session,
    SnapshotRequest,
)
from gateway.routing import route
from gateway.store import Store
from gateway.web import (
    json_response,
    metrics_response,
    refusal_response,
    respond,
    single_header,
    static_response,
)

__all__ = ["Gateway"]

log = logging.getLogger("salescast.gateway")

SERVER_NAME = "salescast/0.1"
CLOSE_TOO_SLOW = 4008
REDIS_CONNECTIONS = 32
WRITE_LIMIT = 64 * 1024  # high-water mark of a client's write buffer (websockets write_limit)
WRITE_BUFFER_LOW = 64 * 1024  # below this a client's socket takes frames written directly
STALL_BYTES = 16 * 1024  # a write buffer at least this full is not draining...
HARD_BYTES = 1024 * 1024  # ...and one above this is closed at once
HOUSEKEEPING_S = 0.5
CLOSE_GRACE_S = 1.0  # a close handshake a client does not answer in time is cut
RESYNC_CONCURRENCY = 64


def _alive(conn: ServerConnection) -> bool:
    return conn.protocol.state is not State.CLOSED


def _address(conn: ServerConnection) -> str:
    remote = conn.remote_address
    return str(remote[0]) if isinstance(remote, tuple) and remote else str(remote)


class Gateway:
    """A running gateway bound to ``host:port``; ``port=0`` picks a free port.

    ``secret``: HMAC secret of access tokens (``None``: no auth, local development);
    ``origins``: the Origin allow-list (empty: same-origin requests of an allowed Host only;
    clients that send no Origin, like CLI tools, are accepted and still need a token when auth
    is on); ``allowed_hosts``: Host names answered besides the bind address (and the loopback
    names when bound to loopback or every interface; ``*``: any). ``metrics_public``: serve
    ``/metrics`` without a token even with auth on. ``auth_timeout``: seconds a connection may
    stay unauthenticated (without auth: without a valid frame; ``None`` or 0: no deadline).
    ``max_connections``, ``max_connections_per_address``: open WebSocket connections (503
    past them);
    ``handshake_rate``/``handshake_burst``: HTTP requests per second per address (429);
    ``slow_client_seconds``: how long a client's socket may stay unread before 4008.
    """

    def __init__(self, redis_url: str, host: str = "127.0.0.1", port: int = 8765,
                 max_frame: int = 4096, max_subscriptions: int = 100,
                 max_pending: int = 1000, secret: str | None = None,
                 origins: tuple[str, ...] = (), max_connections_per_token: int = 20,
                 rate: float = 20.0, burst: float = 40.0, *,
                 allowed_hosts: tuple[str, ...] = (), metrics_public: bool = False,
                 auth_timeout: float | None = 10.0, max_connections: int = 10_000,
                 max_connections_per_address: int = 64, handshake_rate: float = 20.0,
                 handshake_burst: float = 40.0, slow_client_seconds: float = 5.0) -> None:
        # a bounded pool that waits for a free connection: a thousand clients subscribing at
        # once must queue for Redis, not fail; timeouts so that a hung Redis answers
        # `unavailable` instead of holding clients
        pool = aioredis.BlockingConnectionPool.from_url(
            redis_url, max_connections=REDIS_CONNECTIONS, timeout=30, decode_responses=True,
            socket_connect_timeout=2.0, socket_timeout=5.0)
        self.redis = aioredis.Redis(connection_pool=pool)
        self.store = Store(self.redis)
        self.host, self.port = host, port
        self.max_frame, self.max_subscriptions = max_frame, max_subscriptions
        self.secret, self.origins = secret, origins
        self.max_connections_per_token = max_connections_per_token
        self.rate, self.burst = rate, burst
        self.metrics_public = metrics_public
        self.auth_timeout = auth_timeout if auth_timeout and auth_timeout > 0 else None
        self.hosts = HostPolicy(host, allowed_hosts, origins)
        self.admission: Admission[ServerConnection] = Admission(
            max_connections_per_address, max_connections, handshake_rate, handshake_burst)
        self.stalls: StallWatch[ServerConnection] = StallWatch(STALL_BYTES, slow_client_seconds,
                                                               HARD_BYTES)
        self.sessions: dict[ServerConnection, Session] = {}
        self.tokens: TokenSlots[ServerConnection] = TokenSlots(max_connections_per_token)
        self.fanout: Fanout[ServerConnection] = Fanout(self._wants, max_pending,
                                                       self._writable)
        self.feed = RedisFeed(redis_url, (UPDATES_CHANNEL, ALERTS_CHANNEL, OPS_CHANNEL),
                              self._route, self._resync, on_lost=self._feed_lost)
        self.metrics = GatewayMetrics(lambda: len(self.sessions), lambda: self.feed.health.ok)
        self._server: Server | None = None
        self._housekeeper: asyncio.Task[None] | None = None
        self._closing: set[ServerConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_alert_sid: str | None = None  # the newest alert routed
        self._alerts_since: str | None = None  # ...when the feed was lost
        self.updates_routed = 0

    def _wants(self, conn: ServerConnection, channel: str, series: str | None) -> bool:
        session = self.sessions.get(conn)
        return session is not None and session.wants(channel, series)

    @staticmethod
    def _writable(conn: ServerConnection) -> bool:
        transport = conn.transport
        return transport is not None and transport.get_write_buffer_size() < WRITE_BUFFER_LOW

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    async def start(self) -> None:
        await self.feed.start()
        with contextlib.suppress(RedisError, ValueError):
            latest = await self.store.ops_latest()
            if latest:
                self.metrics.ops = json.loads(latest)
        if self.hosts.wildcard_without_hosts:
            log.warning("bound to %s without allowed hosts (SALESCAST_ALLOWED_HOSTS): only "
                        "loopback Host names are answered", self.host)
        self._server = await serve(
            self._handle, self.host, self.port, process_request=self._http,
            max_size=self.max_frame * 4, ping_interval=20, ping_timeout=20,
            write_limit=WRITE_LIMIT,
            compression=None,  # deflating each fanned-out frame per client costs more than it saves
        )
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        self._housekeeper = asyncio.create_task(self._housekeep(), name="housekeeping")

    async def stop(self) -> None:
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeper
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self.feed.stop()
        await self.redis.aclose()

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    # -- HTTP -------------------------------------------------------------------------
    def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":  # for probes: answered before the Host check and rate limit
            status, body = self.feed.health.report()
            return json_response(status, body)
        address = _address(conn)
        headers = request.headers
        host, origin = single_header(headers, "Host"), single_header(headers, "Origin")
        refusal = self.admission.request(address) or self.hosts.check(host, origin,
                                                                      path == "/ws")
        if refusal is None and path == "/ws":
            refusal = self.admission.admit(address, conn)
            if refusal is None:
                return None
        if refusal is not None:
            self.metrics.rejected.labels(refusal.reason).inc()
            return refusal_response(refusal)
        if path == "/metrics":
            return metrics_response(self.metrics.render, single_header(headers, "Authorization"),
                                    self.secret, self.metrics_public)
        found = static_response(path)
        return found or respond(HTTPStatus.NOT_FOUND, "not found\n")

    # -- feeds ------------------------------------------------------------------------
    def _route(self, source: str, data: str) -> None:
        """One message from Redis to the clients' queues."""
        routed = route(source, data)
        self.updates_routed += 1
        for r in routed:
            if r.channel == "ops":
                self.metrics.ops = r.body
            elif r.channel == "alerts" and isinstance(r.body.get("sid"), str):
                self._last_alert_sid = r.body["sid"]
            self.metrics.routed.labels(r.channel).inc()
            direct, behind = self.fanout.publish(r.channel, r.series, r.frame, r.slot)
            if direct:
                broadcast(direct, r.frame)
                self.metrics.sent.inc(len(direct))
            for conn in behind:
                log.info("closing a client that is too far behind")
                self.metrics.slow_closes.inc()
                self.metrics.closes.labels("queue").inc()
                self._drop(conn, CLOSE_TOO_SLOW, "too far behind")
        body = routed[0].body if routed else {}
        if source == UPDATES_CHANNEL and "at" in body:
            self.metrics.observe_push(time.time() - float(body["at"]))

    def _feed_lost(self) -> None:
        self._alerts_since = self._last_alert_sid

    async def _resync(self, gap: float) -> None:
        """After the feed came back: every client gets fresh snapshots of what it follows
        (updates published during the gap never reached the gateway)."""
        self.metrics.redis_reconnects.inc()
        store = self.store.shared()
        with contextlib.suppress(RedisError, ValueError):
            latest = await store.ops_latest()
            if latest:
                self.metrics.ops = json.loads(latest)
        limit = asyncio.Semaphore(RESYNC_CONCURRENCY)
        since = self._alerts_since

        async def catch_up(conn: ServerConnection, session: Session) -> None:
            async with limit:
                for request in session.resync_requests(since):
                    async for frame in store.snapshot_frames(session, request):
                        await conn.send(frame)

        clients = list(self.sessions.items())
        results = await asyncio.gather(*(catch_up(c, s) for c, s in clients),
                                       return_exceptions=True)
        failed = sum(isinstance(r, Exception) for r in results)
        log.info("resent snapshots to %d clients after a %.1f s gap (%d failed)",
                 len(clients) - failed, gap, failed)

    # -- housekeeping -----------------------------------------------------------------
    async def _housekeep(self) -> None:
        """Every 0.5 s: auth deadlines, unread sockets; every 10 s: connections whose
        handshake never finished."""
        rounds = 0
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            rounds += 1
            try:
                self._sweep(time.monotonic())
                if rounds % 20 == 0:
                    self.admission.prune(_alive)
            except Exception:  # never die silently
                log.exception("gateway housekeeping failed")

    def _sweep(self, now: float) -> None:
        for conn, session in list(self.sessions.items()):
            if conn in self._closing:
                continue
            close = session.overdue()
            if close is not None:
                self.metrics.closes.labels("auth_timeout").inc()
                self._drop(conn, close.code, close.reason)
                continue
            transport = conn.transport
            buffered = transport.get_write_buffer_size() if transport is not None else 0
            reason = self.stalls.observe(conn, buffered, now)
            if reason is not None:
                log.info("closing a client that is not reading (%s)", reason)
                self.metrics.slow_closes.inc()
                self.metrics.closes.labels("not_reading").inc()
                self._drop(conn, CLOSE_TOO_SLOW, "too far behind")

    def _drop(self, conn: ServerConnection, code: int, reason: str) -> None:
        """Close ``conn`` in the background; cut it if the close handshake stalls."""
        if conn in self._closing:
            return
        self._closing.add(conn)
        self.fanout.remove(conn)

        async def close() -> None:
            try:
                await asyncio.wait_for(conn.close(code, reason), CLOSE_GRACE_S)
            except TimeoutError:
                if conn.transport is not None:
                    conn.transport.abort()

        task = asyncio.create_task(close())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- clients ----------------------------------------------------------------------
    async def _handle(self, conn: ServerConnection) -> None:
        session = Session(self.max_frame, self.max_subscriptions, secret=self.secret,
                          auth_timeout=self.auth_timeout)
        session.rate.rate, session.rate.burst = self.rate, self.burst
        self.sessions[conn] = session
        queue = self.fanout.add(conn)
        writer = asyncio.create_task(self._write(conn, queue))
        try:
            await conn.send(session.hello(SERVER_NAME))
            token = self._query_token(conn)
            if token is not None:
                frame = json.dumps({"type": "auth", "token": token})
                if not await self._carry_out_all(conn, session.receive(frame)):
                    return
            async for text in conn:
                if not await self._carry_out_all(conn, session.receive(text)):
                    return
        except ConnectionClosed:
            pass
        finally:
            writer.cancel()
            self.fanout.remove(conn)
            self.sessions.pop(conn, None)
            self.admission.release(conn)
            self.stalls.forget(conn)
            self._closing.discard(conn)
            self.tokens.release(conn)

    @staticmethod
    def _query_token(conn: ServerConnection) -> str | None:
        request = conn.request
        if request is None or "?" not in request.path:
            return None
        values = parse_qs(request.path.split("?", 1)[1]).get("token")
        return values[0] if values else None

    async def _write(self, conn: ServerConnection, queue: Any) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                frames = await queue.get_batch()
                queue.busy = True
                try:
                    for frame in frames:
                        await conn.send(frame)
                finally:
                    queue.busy = False
                self.metrics.sent.inc(len(frames))

    async def _carry_out_all(self, conn: ServerConnection, outs: list[Any]) -> bool:
        """Carry out a session's outputs; ``False`` once the connection is to be closed."""
        for out in outs:
            if isinstance(out, Close):
                await conn.close(out.code, out.reason)
                return False
            if isinstance(out, Reply) and '"type":"error"' in out.text:
                code = json.loads(out.text)["code"]
                self.metrics.errors.labels(code).inc()
            if isinstance(out, AuthRequest) and not self.tokens.take(conn, out.claims.jti):
                self.metrics.errors.labels("too_many_connections").inc()
                await conn.send(server_frame(
                    "error", code="too_many_connections",
                    message=f"at most {self.max_connections_per_token} connections per token"))
                await conn.close(1008, "too many connections for this token")
                return False
            needs_redis = isinstance(out, SnapshotRequest | ListRequest | MoversRequest)
            try:
                if needs_redis and not self.feed.health.ok:
                    raise RedisError("the Redis feed is down")
                await self._carry_out(conn, out)
            except (RedisError, TimeoutError) as exc:  # Redis down or saturated: say so
                log.debug("redis error answering a client: %s", exc)
                self.metrics.errors.labels("unavailable").inc()
                await conn.send(server_frame("error", code="unavailable",
                                             message="the state store is unavailable; retry",
                                             id=getattr(out, "id", None)))
        return True

    async def _carry_out(self, conn: ServerConnection, out: Any) -> None:
        session = self.sessions[conn]
        if isinstance(out, Reply):
            await conn.send(out.text)
        elif isinstance(out, SnapshotRequest):
            async for frame in self.store.snapshot_frames(session, out):
                await conn.send(frame)
        elif isinstance(out, ListRequest):
            names = [n for n in await self.store.match(out.pattern, out.limit * 4)
                     if session.claims is not None and session.claims.allows_series(n)]
            await conn.send(server_frame("series", series=names[: out.limit], id=out.id))
        elif isinstance(out, MoversRequest):
            await conn.send(server_frame("movers", items=await self.store.movers(session,
                                                                                out.limit),
                                         id=out.id))
