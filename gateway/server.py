"""The WebSocket gateway: glue between Redis (snapshots, pub/sub feeds) and clients.

Protocol logic lives in :mod:`gateway.protocol` (sans I/O), tokens in :mod:`gateway.auth`,
fan-out and backpressure in :mod:`gateway.fanout`, Prometheus figures in
:mod:`gateway.metrics`. This module only pumps bytes:

* one Redis pub/sub reader routes the worker's series updates (``actuals`` and ``forecasts``
  channels), alerts and ops snapshots to the interested clients' queues;
* per client, a reader feeds frames to its :class:`~gateway.protocol.Session` and a writer
  drains its queue; a client too far behind is closed with code 4008;
* HTTP: ``GET /healthz``, ``GET /metrics`` (Prometheus), ``GET /`` and ``/static/...`` (the
  dashboard). WebSocket handshakes from an Origin not on the allow-list get 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from fnmatch import fnmatchcase
from http import HTTPStatus
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from gateway.fanout import Fanout
from gateway.messages import server_frame
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
from stream.keys import (
    ALERTS_CHANNEL,
    ALERTS_STREAM,
    INDEX_KEY,
    MOVERS_INFO,
    MOVERS_KEY,
    OPS_CHANNEL,
    OPS_LATEST,
    UPDATES_CHANNEL,
    series_key,
)
from stream.sink import merge_snapshot

__all__ = ["Gateway"]

log = logging.getLogger("salescast.gateway")

SERVER_NAME = "salescast/0.1"
MAX_PATTERN_SNAPSHOTS = 200
ALERTS_SNAPSHOT = 50
CLOSE_TOO_SLOW = 4008
REDIS_CONNECTIONS = 32
WRITE_BUFFER_LOW = 64 * 1024  # below this a client's socket takes frames written directly
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml",
          ".txt": "text/plain; charset=utf-8"}
_KIND_CHANNEL = {"live": "actuals", "forecast": "forecasts"}


def _static(path: str) -> tuple[bytes, str] | None:
    """The packaged dashboard file for a URL path, if there is one (no directory escapes)."""
    name = "index.html" if path == "/" else path.removeprefix("/static/")
    if name == path or not name or ".." in name or name.startswith("/"):
        return None
    suffix = name[name.rfind("."):] if "." in name else ""
    try:
        node = resources.files("gateway.static")
        for part in name.split("/"):
            node = node.joinpath(part)
        body = node.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return body, _TYPES.get(suffix, "application/octet-stream")


class Gateway:
    """A running gateway bound to ``host:port``; ``port=0`` picks a free port.

    ``secret``: HMAC secret of access tokens (``None``: no auth, local development);
    ``origins``: the Origin allow-list (empty: same-host origins only; clients that send no
    Origin, like CLI tools, are accepted and still need a token when auth is on).
    """

    def __init__(self, redis_url: str, host: str = "127.0.0.1", port: int = 8765,
                 max_frame: int = 4096, max_subscriptions: int = 100,
                 max_pending: int = 1000, secret: str | None = None,
                 origins: tuple[str, ...] = (), max_connections_per_token: int = 20,
                 rate: float = 20.0, burst: float = 40.0) -> None:
        # a bounded pool that waits for a free connection: a thousand clients subscribing at
        # once must queue for Redis, not fail
        pool = aioredis.BlockingConnectionPool.from_url(
            redis_url, max_connections=REDIS_CONNECTIONS, timeout=30, decode_responses=True)
        self.redis = aioredis.Redis(connection_pool=pool)
        self.host, self.port = host, port
        self.max_frame, self.max_subscriptions = max_frame, max_subscriptions
        self.secret, self.origins = secret, origins
        self.max_connections_per_token = max_connections_per_token
        self.rate, self.burst = rate, burst
        self.sessions: dict[ServerConnection, Session] = {}
        self.tokens: Counter[str] = Counter()  # connections per token id
        self._token_of: dict[ServerConnection, str] = {}
        self.fanout: Fanout[ServerConnection] = Fanout(self._wants, max_pending,
                                                       self._writable)
        self.metrics = GatewayMetrics(lambda: len(self.sessions))
        self._server: Server | None = None
        self._pump: asyncio.Task[None] | None = None
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
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(UPDATES_CHANNEL, ALERTS_CHANNEL, OPS_CHANNEL)
        latest = await self.redis.get(OPS_LATEST)
        if latest:
            with contextlib.suppress(ValueError):
                self.metrics.ops = json.loads(latest)
        self._pump = asyncio.create_task(self._pump_updates(pubsub))
        self._server = await serve(
            self._handle, self.host, self.port, process_request=self._http,
            max_size=self.max_frame * 4, ping_interval=20, ping_timeout=20,
            compression=None,  # deflating each fanned-out frame per client costs more than it saves
        )
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        await self.redis.aclose()

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    # -- HTTP -------------------------------------------------------------------------
    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """The Origin check of a WebSocket handshake.

        >>> gw = Gateway.__new__(Gateway); gw.origins = ()
        >>> gw.origin_allowed(None, "127.0.0.1:8765"), gw.origin_allowed(
        ...     "http://127.0.0.1:8765", "127.0.0.1:8765"), gw.origin_allowed(
        ...     "https://evil.example", "127.0.0.1:8765")
        (True, True, False)
        """
        if origin is None:
            return True
        if self.origins:
            return origin in self.origins or "*" in self.origins
        return host is not None and urlsplit(origin).netloc == host

    def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/ws":
            if not self.origin_allowed(request.headers.get("Origin"),
                                       request.headers.get("Host")):
                self.metrics.rejected.labels("origin").inc()
                return conn.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
            return None
        if path == "/healthz":
            return conn.respond(HTTPStatus.OK, "ok\n")
        if path == "/metrics":
            body, ctype = self.metrics.render()
            return Response(HTTPStatus.OK, "OK", Headers([
                ("Content-Type", ctype), ("Content-Length", str(len(body)))]), body)
        found = _static(path)
        if found is not None:
            body, ctype = found
            headers = Headers([("Content-Type", ctype), ("Content-Length", str(len(body))),
                               ("Cache-Control", "no-cache")])
            return Response(HTTPStatus.OK, "OK", headers, body)
        return conn.respond(HTTPStatus.NOT_FOUND, "not found\n")

    # -- feeds ------------------------------------------------------------------------
    async def _pump_updates(self, pubsub: Any) -> None:
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            try:
                self._route(message["channel"], message["data"])
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring a malformed message on %s", message.get("channel"))

    def _route(self, source: str, data: str) -> None:
        """One message from Redis to the clients' queues."""
        body = json.loads(data)
        if source == UPDATES_CHANNEL:
            series, kind = body["series"], body.get("kind", "live")
            channel = _KIND_CHANNEL.get(kind, "actuals")
            version = int(body.get("version", -1))
            frame = (f'{{"type":"update","channel":"{channel}","series":{json.dumps(series)},'
                     f'"version":{version},"data":{data}}}')
            if "at" in body:
                self.metrics.observe_push(time.time() - float(body["at"]))
            slot = f"{channel}\0{series}"
        elif source == ALERTS_CHANNEL:
            series, channel = body["series"], "alerts"
            frame = (f'{{"type":"update","channel":"alerts","series":{json.dumps(series)},'
                     f'"sid":{json.dumps(body.get("sid"))},"data":{data}}}')
            slot = f"alerts\0{body['id']}"  # alerts are never coalesced
        else:
            series, channel = None, "ops"
            self.metrics.ops = body
            frame = f'{{"type":"update","channel":"ops","data":{data}}}'
            slot = "ops"
        self.updates_routed += 1
        self.metrics.routed.labels(channel).inc()
        direct, behind = self.fanout.publish(channel, series, frame, slot)
        if direct:
            broadcast(direct, frame)
            self.metrics.sent.inc(len(direct))
        for conn in behind:
            log.info("closing a client that is too far behind")
            self.metrics.slow_closes.inc()
            self.fanout.remove(conn)
            asyncio.create_task(conn.close(CLOSE_TOO_SLOW, "too far behind"))

    # -- clients ----------------------------------------------------------------------
    async def _handle(self, conn: ServerConnection) -> None:
        session = Session(self.max_frame, self.max_subscriptions, secret=self.secret)
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
            jti = self._token_of.pop(conn, None)
            if jti is not None:
                self.tokens[jti] -= 1

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
            if isinstance(out, AuthRequest) and not self._admit(conn, out):
                self.metrics.errors.labels("too_many_connections").inc()
                await conn.send(server_frame(
                    "error", code="too_many_connections",
                    message=f"at most {self.max_connections_per_token} connections per token"))
                await conn.close(1008, "too many connections for this token")
                return False
            try:
                await self._carry_out(conn, out)
            except RedisError as exc:  # Redis down or saturated: tell the client, keep going
                log.warning("redis error answering a client: %s", exc)
                self.metrics.errors.labels("unavailable").inc()
                await conn.send(server_frame("error", code="unavailable",
                                             message="the state store is unavailable; retry"))
        return True

    def _admit(self, conn: ServerConnection, out: AuthRequest) -> bool:
        jti = out.claims.jti
        if self._token_of.get(conn) == jti:
            return True
        if self.tokens[jti] >= self.max_connections_per_token:
            return False
        old = self._token_of.get(conn)
        if old is not None:
            self.tokens[old] -= 1
        self._token_of[conn] = jti
        self.tokens[jti] += 1
        return True

    async def _carry_out(self, conn: ServerConnection, out: Any) -> None:
        session = self.sessions[conn]
        if isinstance(out, Reply):
            await conn.send(out.text)
        elif isinstance(out, SnapshotRequest):
            await self._snapshot(conn, session, out)
        elif isinstance(out, ListRequest):
            names = [n for n in await self._match(out.pattern, out.limit * 4)
                     if session.claims is not None and session.claims.allows_series(n)]
            await conn.send(server_frame("series", series=names[: out.limit], id=out.id))
        elif isinstance(out, MoversRequest):
            await conn.send(server_frame("movers", items=await self._movers(session, out.limit),
                                         id=out.id))

    async def _snapshot(self, conn: ServerConnection, session: Session,
                        out: SnapshotRequest) -> None:
        if out.channel == "ops":
            latest = await self.redis.get(OPS_LATEST)
            if latest:
                await conn.send(f'{{"type":"snapshot","channel":"ops","data":{latest!s}}}')
            return
        if out.channel == "alerts":
            await conn.send(server_frame("snapshot", channel="alerts",
                                         data=await self._alerts(session, out)))
            return
        names = [out.series] if out.series else await self._match(out.pattern or "*",
                                                                 MAX_PATTERN_SNAPSHOTS)
        for name in names:
            if not session.wants(out.channel, name):
                continue
            live, part = await self.redis.hmget(series_key(name), ["o", "f"])
            data = merge_snapshot(live, None if out.channel == "actuals" else part)
            if data is None:
                continue
            version = int(data.get("version", -1))
            if isinstance(out.since, int) and out.series and version <= out.since:
                continue  # resumed: the client already has this version
            await conn.send(server_frame("snapshot", channel=out.channel, series=name,
                                         version=version, data=data))

    async def _alerts(self, session: Session, out: SnapshotRequest) -> list[dict[str, Any]]:
        """Recent alerts for a new alerts subscription: after ``since``, or the latest ones."""
        rows: list[Any]
        if isinstance(out.since, str):
            rows = list(await self.redis.xrange(ALERTS_STREAM, f"({out.since}", "+",
                                                count=1000) or [])
        else:
            rows = list(reversed(await self.redis.xrevrange(ALERTS_STREAM, "+", "-",
                                                            count=ALERTS_SNAPSHOT) or []))
        alerts = []
        for sid, fields in rows:
            try:
                alert = json.loads(fields["a"])
            except (KeyError, ValueError):
                continue
            series = str(alert.get("series", ""))
            if out.series is not None and series != out.series:
                continue
            if out.pattern is not None and not fnmatchcase(series, out.pattern):
                continue
            if session.claims is None or not session.claims.allows_series(series):
                continue
            alert["sid"] = sid
            alerts.append(alert)
        return alerts

    async def _movers(self, session: Session, limit: int) -> list[dict[str, Any]]:
        raw: list[Any] = list(await self.redis.zrevrange(MOVERS_KEY, 0, limit * 4 - 1,
                                                         withscores=True))
        rows = [(str(s), float(sc)) for s, sc in raw
                if session.claims is not None and session.claims.allows_series(str(s))][:limit]
        infos = await self.redis.hmget(MOVERS_INFO, [s for s, _ in rows]) if rows else []
        items = []
        for (series, score), info in zip(rows, infos, strict=True):
            item: dict[str, Any] = {"series": series, "score": score}
            if info:
                with contextlib.suppress(ValueError):
                    item.update({k: v for k, v in json.loads(info).items() if k != "score"})
            items.append(item)
        return items

    async def _match(self, pattern: str, limit: int) -> list[str]:
        """Series ids matching ``pattern``, most recently updated first."""
        found: list[str] = []
        batch = 1000
        start = 0
        while len(found) < limit:
            names = await self.redis.zrevrange(INDEX_KEY, start, start + batch - 1)
            if not names:
                break
            found.extend(n for n in map(str, names) if fnmatchcase(n, pattern))
            start += batch
        return found[:limit]
