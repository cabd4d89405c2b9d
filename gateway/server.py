"""The WebSocket gateway: glue between Redis (snapshots, pub/sub updates) and clients.

Protocol logic lives in :mod:`gateway.protocol` (sans I/O); fan-out and backpressure in
:mod:`gateway.fanout`. This module only pumps bytes:

* one Redis pub/sub reader routes every update to the interested clients' queues;
* per client, a reader feeds frames to its :class:`~gateway.protocol.Session` and a writer
  drains its queue;
* HTTP ``GET /healthz`` answers ``ok``; ``GET /`` serves the dashboard page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from fnmatch import fnmatchcase
from http import HTTPStatus
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from gateway.fanout import Fanout
from gateway.messages import server_frame
from gateway.protocol import ListRequest, Reply, Session, SnapshotRequest
from stream.keys import INDEX_KEY, UPDATES_CHANNEL, series_key
from stream.sink import merge_snapshot

__all__ = ["Gateway"]

log = logging.getLogger("salescast.gateway")

SERVER_NAME = "salescast/0.1"
MAX_PATTERN_SNAPSHOTS = 200
_STATIC = {"/": ("index.html", "text/html; charset=utf-8")}


class Gateway:
    """A running gateway bound to ``host:port``; ``port=0`` picks a free port."""

    def __init__(self, redis_url: str, host: str = "127.0.0.1", port: int = 8765,
                 max_frame: int = 4096, max_subscriptions: int = 100,
                 max_pending: int = 1000) -> None:
        self.redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        self.host, self.port = host, port
        self.max_frame, self.max_subscriptions = max_frame, max_subscriptions
        self.sessions: dict[ServerConnection, Session] = {}
        self.fanout: Fanout[ServerConnection] = Fanout(
            lambda conn, series: self.sessions[conn].wants(series), max_pending
        )
        self._server: Server | None = None
        self._pump: asyncio.Task[None] | None = None
        self.updates_routed = 0

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    async def start(self) -> None:
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(UPDATES_CHANNEL)
        self._pump = asyncio.create_task(self._pump_updates(pubsub))
        self._server = await serve(
            self._handle, self.host, self.port, process_request=self._http,
            max_size=self.max_frame * 4, ping_interval=20, ping_timeout=20,
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
    def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/ws":
            return None
        if path == "/healthz":
            return conn.respond(HTTPStatus.OK, "ok\n")
        if path in _STATIC:
            name, ctype = _STATIC[path]
            body = resources.files("gateway.static").joinpath(name).read_bytes()
            headers = Headers([("Content-Type", ctype), ("Content-Length", str(len(body)))])
            return Response(HTTPStatus.OK, "OK", headers, body)
        return conn.respond(HTTPStatus.NOT_FOUND, "not found\n")

    # -- updates ----------------------------------------------------------------------
    async def _pump_updates(self, pubsub: Any) -> None:
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            data = message["data"]
            try:
                update = json.loads(data)
                series, kind = update["series"], update.get("kind", "live")
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring malformed update on %s", UPDATES_CHANNEL)
                continue
            frame = '{"type":"update","data":' + data + "}"
            self.updates_routed += 1
            # queued per (series, kind): a live update never replaces a pending forecast
            for conn in self.fanout.publish(series, frame, slot=f"{series}\0{kind}"):
                log.info("closing a client that is too far behind")
                self.fanout.remove(conn)
                asyncio.create_task(conn.close(1013, "too far behind"))

    # -- clients ----------------------------------------------------------------------
    async def _handle(self, conn: ServerConnection) -> None:
        session = Session(self.max_frame, self.max_subscriptions)
        self.sessions[conn] = session
        queue = self.fanout.add(conn)
        writer = asyncio.create_task(self._write(conn, queue))
        try:
            await conn.send(session.hello(SERVER_NAME))
            async for text in conn:
                for out in session.receive(text):
                    await self._carry_out(conn, out)
        except ConnectionClosed:
            pass
        finally:
            writer.cancel()
            self.fanout.remove(conn)
            self.sessions.pop(conn, None)

    async def _write(self, conn: ServerConnection, queue: Any) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                for frame in await queue.get_batch():
                    await conn.send(frame)

    async def _carry_out(self, conn: ServerConnection, out: Any) -> None:
        if isinstance(out, Reply):
            await conn.send(out.text)
        elif isinstance(out, SnapshotRequest):
            names = [out.series] if out.series else await self._match(out.pattern or "*",
                                                                     MAX_PATTERN_SNAPSHOTS)
            for name in names:
                live, part = await self.redis.hmget(series_key(name), ["o", "f"])
                data = merge_snapshot(live, part)
                if data is not None:
                    await conn.send(server_frame("snapshot", data=data))
        elif isinstance(out, ListRequest):
            names = await self._match(out.pattern, out.limit)
            await conn.send(server_frame("series", series=names, id=out.id))

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
