"""The open client connections: each one's protocol session, queue and writer; their closes.

Per connection, a reader feeds each frame to its sans-I/O :class:`~gateway.protocol.Session`
and carries out what comes back (replies, snapshot/list/movers reads and alert
acknowledgements through :class:`~gateway.store.Store`, the per-token connection cap, closes),
and a writer drains its latest-value-wins queue (:mod:`gateway.fanout`). A housekeeping task
closes connections past their auth deadline and clients that do not read their socket
(:class:`~gateway.limits.StallWatch`).
A close that the client does not answer within :data:`CLOSE_GRACE_S` is cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs

from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from contracts.wire import server_frame
from gateway import outputs as out
from gateway.acks import acknowledge, new_event_id
from gateway.fanout import Fanout, LatestQueue
from gateway.limits import Admission, StallWatch, TokenSlots
from gateway.prometheus import GatewayMetrics
from gateway.protocol import Session
from gateway.store import Store

__all__ = ["Clients", "CLOSE_TOO_SLOW", "SERVER_NAME"]

log = logging.getLogger("salescast.gateway")

SERVER_NAME = "salescast/0.1"
CLOSE_TOO_SLOW = 4008
WRITE_BUFFER_LOW = 64 * 1024  # below this a client's socket takes frames written directly
STALL_BYTES = 16 * 1024  # a write buffer at least this full is not draining...
HARD_BYTES = 1024 * 1024  # ...and one above this is closed at once
HOUSEKEEPING_S = 0.5
CLOSE_GRACE_S = 1.0  # a close handshake a client does not answer in time is cut


def _alive(conn: ServerConnection) -> bool:
    return conn.protocol.state is not State.CLOSED


class Clients:
    """Every open connection's session and queue (``sessions``, ``fanout``).

    ``new_session`` makes the protocol session of a new connection; ``redis_ok`` says whether
    the Redis feed is up (reads are answered ``unavailable`` while it is not).
    """

    def __init__(self, store: Store, metrics: GatewayMetrics, admission: Admission[Any],
                 new_session: Callable[[], Session], redis_ok: Callable[[], bool], *,
                 max_pending: int = 1000, max_connections_per_token: int = 20,
                 slow_client_seconds: float = 5.0) -> None:
        self.store, self.metrics, self.admission = store, metrics, admission
        self.new_session, self.redis_ok = new_session, redis_ok
        self.sessions: dict[ServerConnection, Session] = {}
        self.max_connections_per_token = max_connections_per_token
        self.tokens: TokenSlots[ServerConnection] = TokenSlots(max_connections_per_token)
        self.stalls: StallWatch[ServerConnection] = StallWatch(STALL_BYTES, slow_client_seconds,
                                                               HARD_BYTES)
        self.fanout: Fanout[ServerConnection] = Fanout(self._wants, max_pending,
                                                       self._writable)
        self._closing: set[ServerConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._housekeeper: asyncio.Task[None] | None = None

    def _wants(self, conn: ServerConnection, channel: str, series: str | None) -> bool:
        session = self.sessions.get(conn)
        return session is not None and session.wants(channel, series)

    @staticmethod
    def _writable(conn: ServerConnection) -> bool:
        transport = conn.transport
        return transport is not None and transport.get_write_buffer_size() < WRITE_BUFFER_LOW

    def start(self) -> None:
        self._housekeeper = asyncio.create_task(self._housekeep(), name="housekeeping")

    async def stop(self) -> None:
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeper

    # -- one connection -----------------------------------------------------------------
    async def handle(self, conn: ServerConnection) -> None:
        """Serve one WebSocket connection until it closes."""
        session = self.new_session()
        self.sessions[conn] = session
        queue = self.fanout.add(conn)
        writer = asyncio.create_task(self._write(conn, queue))
        try:
            await conn.send(session.hello(SERVER_NAME))
            token = _query_token(conn)
            if token is not None:
                frame = json.dumps({"type": "auth", "token": token})
                if not await self._carry_out_all(conn, session.receive(frame)):
                    return await self._until_closed(conn)
            async for text in conn:
                if not await self._carry_out_all(conn, session.receive(text)):
                    return await self._until_closed(conn)
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

    async def _write(self, conn: ServerConnection, queue: LatestQueue) -> None:
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

    async def _carry_out_all(self, conn: ServerConnection, outs: list[out.Output]) -> bool:
        """Carry out a session's outputs; ``False`` once the connection is to be closed. A
        token's connection slot is taken first: a refusal is not preceded by ``authed``."""
        for o in sorted(outs, key=lambda o: not isinstance(o, out.AuthRequest)):
            if isinstance(o, out.Close):  # cut after CLOSE_GRACE_S: an abusive client's close
                self.drop(conn, o.code, o.reason)  # frame waits behind what it never read
                return False
            if isinstance(o, out.Reply) and o.error is not None:
                self.metrics.errors.labels(o.error).inc()
            if isinstance(o, out.AuthRequest) and not self.tokens.take(conn, o.claims.jti):
                self.metrics.errors.labels("too_many_connections").inc()
                await conn.send(server_frame(
                    "error", code="too_many_connections",
                    message=f"at most {self.max_connections_per_token} connections per token"))
                self.drop(conn, 1008, "too many connections for this token")
                return False
            needs_redis = isinstance(o, out.SnapshotRequest | out.ListRequest | out.MoversRequest
                                     | out.AckRequest)
            try:
                if needs_redis and not self.redis_ok():
                    raise RedisError("the Redis feed is down")
                await self._carry_out(conn, o)
            except (RedisError, TimeoutError) as exc:  # Redis down or saturated: say so
                log.debug("redis error answering a client: %s", exc)
                self.metrics.errors.labels("unavailable").inc()
                if isinstance(o, out.SnapshotRequest):
                    self.sessions[conn].snapshot_failed(o)
                await conn.send(server_frame("error", code="unavailable",
                                             message="the state store is unavailable; retry",
                                             id=getattr(o, "id", None)))
        return True

    async def _carry_out(self, conn: ServerConnection, o: out.Output) -> None:
        session = self.sessions[conn]
        if isinstance(o, out.Reply):
            await conn.send(o.text)
        elif isinstance(o, out.SnapshotRequest):
            async for frame in self.store.snapshot_frames(session, o):
                await conn.send(frame)
        elif isinstance(o, out.ListRequest):
            names = [] if session.claims is None else await self.store.match(
                o.pattern, o.limit, session.claims)
            await conn.send(server_frame("series", series=names, id=o.id))
        elif isinstance(o, out.MoversRequest):
            items = await self.store.movers(session, o.limit)
            await conn.send(server_frame("movers", items=items, id=o.id))
        elif isinstance(o, out.AckRequest):
            reply, write = acknowledge(o, await self.store.alert_state(o.id), new_event_id())
            if write is not None:
                await self.store.write_ack(o.id, write)
            if reply.error is not None:
                self.metrics.errors.labels(reply.error).inc()
            await conn.send(reply.text)

    # -- closes -------------------------------------------------------------------------
    def drop(self, conn: ServerConnection, code: int, reason: str) -> None:
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

        self._background(close())

    async def _until_closed(self, conn: ServerConnection) -> None:
        """Wait for the close :meth:`drop` began: a handler that returns first closes with
        1000, not the code the client should see (1008: a policy)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(conn.wait_closed(), CLOSE_GRACE_S + 1.0)

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tell(self, conn: ServerConnection, frame: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await conn.send(frame)

    def drop_behind(self, conns: list[ServerConnection]) -> None:
        """Close the clients whose queues are full (too far behind)."""
        for conn in conns:
            log.info("closing a client that is too far behind")
            self.metrics.slow_closes.inc()
            self.metrics.closes.labels("queue").inc()
            self.drop(conn, CLOSE_TOO_SLOW, "too far behind")

    async def _housekeep(self) -> None:
        """Every 0.5 s: auth deadlines, unread sockets; every 10 s: connections whose
        handshake never finished."""
        rounds = 0
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            rounds += 1
            try:
                self.sweep(time.monotonic())
                if rounds % 20 == 0:
                    self.admission.prune(_alive)
            except Exception:  # never die silently
                log.exception("gateway housekeeping failed")

    def sweep(self, now: float) -> None:
        """Close connections past their auth deadline and clients that do not read."""
        for conn, session in list(self.sessions.items()):
            if conn in self._closing:
                continue
            close = session.overdue()
            if close is not None:
                self.metrics.closes.labels("auth_timeout").inc()
                self.drop(conn, close.code, close.reason)
                continue
            if (notice := session.expiry_notice()) is not None:
                self.metrics.errors.labels("token_expired").inc()  # as every error frame
                self._background(self._tell(conn, notice))
            transport = conn.transport
            buffered = transport.get_write_buffer_size() if transport is not None else 0
            reason = self.stalls.observe(conn, buffered, now)
            if reason is not None:
                log.info("closing a client that is not reading (%s)", reason)
                self.metrics.slow_closes.inc()
                self.metrics.closes.labels("not_reading").inc()
                self.drop(conn, CLOSE_TOO_SLOW, "too far behind")


def _query_token(conn: ServerConnection) -> str | None:
    """The ``?token=`` of the handshake's URL (browsers cannot set headers)."""
    request = conn.request
    if request is None or "?" not in request.path:
        return None
    values = parse_qs(request.path.split("?", 1)[1]).get("token")
    return values[0] if values else None
