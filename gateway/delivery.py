"""From the Redis feed to the clients: fan-out of each message, catch-up after a gap.

:meth:`Delivery.deliver` turns one Redis message into frames (:func:`gateway.routing.route`),
hands each to the clients that want it (:class:`gateway.fanout.Fanout`: written at once with
websockets' ``broadcast`` to idle clients, queued latest-value-wins for busy ones) and closes
the clients too far behind. After the feed was lost and came back, :meth:`Delivery.resync`
sends every client fresh snapshots of what it follows (updates published during the gap never
reached the gateway), alerts from the last one routed before the gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection, broadcast

from contracts.wire import UPDATES_CHANNEL
from gateway.prometheus import GatewayMetrics
from gateway.protocol import Session
from gateway.routing import route
from gateway.sessions import Clients
from gateway.store import Store

__all__ = ["Delivery"]

log = logging.getLogger("salescast.gateway")

RESYNC_CONCURRENCY = 64


class Delivery:
    """The feed's callbacks: :meth:`deliver`, :meth:`lost`, :meth:`resync`."""

    def __init__(self, clients: Clients, store: Store, metrics: GatewayMetrics) -> None:
        self.clients, self.store, self.metrics = clients, store, metrics
        self.last_alert_sid: str | None = None  # the newest alert routed
        self.alerts_since: str | None = None  # ...when the feed was lost
        self.updates_routed = 0

    def deliver(self, source: str, data: str) -> None:
        """One message from Redis channel ``source`` to the clients' sockets and queues."""
        routed = route(source, data)
        self.updates_routed += 1
        for r in routed:
            if r.channel == "ops":
                self.metrics.ops = r.body
            elif r.channel == "alerts" and isinstance(r.body.get("sid"), str):
                self.last_alert_sid = r.body["sid"]
            self.metrics.routed.labels(r.channel).inc()
            direct, behind = self.clients.fanout.publish(r.channel, r.series, r.frame, r.slot)
            # not to sockets already lost (a client gone without a close): asyncio logged
            # "socket.send() raised exception." for each write to one
            direct = [c for c in direct if not c.transport.is_closing()]
            if direct:
                broadcast(direct, r.frame)
                self.metrics.sent.inc(len(direct))
            self.clients.drop_behind(behind)
        body = routed[0].body if routed else {}
        if source == UPDATES_CHANNEL and "at" in body:
            self.metrics.observe_push(time.time() - float(body["at"]))

    def lost(self) -> None:
        """The feed was lost: the catch-up's alerts start after the last one routed."""
        self.alerts_since = self.last_alert_sid

    async def load_ops(self, store: Store | None = None) -> None:
        """The latest ops snapshot into the metrics (``/metrics`` shows the pipeline)."""
        with contextlib.suppress(RedisError, ValueError):
            latest = await (store or self.store).ops_latest()
            if latest:
                self.metrics.ops = json.loads(latest)

    async def resync(self, gap: float) -> None:
        """After the feed came back: every client gets fresh snapshots of what it follows."""
        self.metrics.redis_reconnects.inc()
        store = self.store.shared()
        await self.load_ops(store)
        limit = asyncio.Semaphore(RESYNC_CONCURRENCY)
        since = self.alerts_since

        async def catch_up(conn: ServerConnection, session: Session) -> None:
            async with limit:
                for request in session.resync_requests(since):
                    async for frame in store.snapshot_frames(session, request):
                        await conn.send(frame)

        clients = list(self.clients.sessions.items())
        results: list[Any] = await asyncio.gather(*(catch_up(c, s) for c, s in clients),
                                                  return_exceptions=True)
        failed = sum(isinstance(r, Exception) for r in results)
        log.info("resent snapshots to %d clients after a %.1f s gap (%d failed)",
                 len(clients) - failed, gap, failed)
