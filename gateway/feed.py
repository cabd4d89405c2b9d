"""The gateway's Redis pub/sub feed: a listener that survives Redis restarts, and its health.

A redis-py pub/sub listener does not survive a Redis restart by itself: its read raises (or,
with a silent peer, never returns) and nothing resubscribes. :class:`RedisFeed` owns the
subscription: it reads with a timeout, pings Redis over the same connection when the feed is
quiet, and when the connection fails or a ping goes unanswered it reconnects and resubscribes
with a bounded exponential :class:`Backoff` (0.1 s doubling to 2 s). The gap is logged once
when it starts and once when it ends, and ``on_resubscribed`` lets the gateway bring its
clients up to date (what was published during the gap is lost to pub/sub).

:class:`Health` (sans I/O) is what ``/healthz`` reports: ``ok`` while subscribed and the last
ping was answered, else ``unhealthy`` with since when and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from contracts.pubsub import db_of, in_db

__all__ = ["Backoff", "Health", "RedisFeed"]

log = logging.getLogger("salescast.gateway")


class Backoff:
    """Delays between reconnection attempts: ``first`` doubling up to ``cap``.

    >>> b = Backoff(0.1, 2.0)
    >>> [b.next() for _ in range(7)]
    [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    >>> b.reset(); b.next()
    0.1
    """

    def __init__(self, first: float = 0.1, cap: float = 2.0) -> None:
        self.first, self.cap = first, cap
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.first


class Health:
    """Whether the gateway can read Redis: subscribed, and the last ping answered.

    >>> t = [1700000000.0]
    >>> h = Health(clock=lambda: t[0])
    >>> h.report()[0], h.report()[1]["redis"]
    (503, 'down since 2023-11-14T22:13:20Z')
    >>> h.listener(True); h.report()
    (200, {'status': 'ok', 'redis': 'up'})
    >>> t[0] += 5; h.ping(False, "no answer to PING for 3 s"); h.report()[1]["reason"]
    'no answer to PING for 3 s'
    >>> h.ping(True); h.ok
    True
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.listening = False
        self.ping_ok = True
        self.down_since: float | None = clock()
        self.reason = "not subscribed yet"

    @property
    def ok(self) -> bool:
        return self.listening and self.ping_ok

    def _update(self, reason: str) -> None:
        if self.ok:
            self.down_since, self.reason = None, ""
        elif self.down_since is None:
            self.down_since, self.reason = self.clock(), reason

    def listener(self, up: bool, reason: str = "pub/sub connection lost") -> None:
        self.listening = up
        self.ping_ok = self.ping_ok or up  # a subscription is confirmed by an answer
        self._update(reason)

    def ping(self, ok: bool, reason: str = "no answer to PING") -> None:
        self.ping_ok = ok
        self._update(reason)

    def report(self) -> tuple[int, dict[str, Any]]:
        """HTTP status and JSON body of ``/healthz``."""
        if self.ok or self.down_since is None:
            return 200, {"status": "ok", "redis": "up"}
        since = datetime.fromtimestamp(self.down_since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 503, {"status": "unhealthy", "redis": f"down since {since}",
                     "reason": self.reason,
                     "down_for_s": round(max(0.0, self.clock() - self.down_since), 1)}


class RedisFeed:
    """Subscribes to ``channels`` and calls ``on_message(channel, data)`` for each message,
    reconnecting forever (see the module docstring): ``on_lost()`` when the feed is lost,
    ``on_resubscribed(gap_seconds)`` (a task) when it is back. :meth:`start` subscribes once
    (raising if Redis is unreachable) and starts the listener task."""

    def __init__(self, url: str, channels: tuple[str, ...],
                 on_message: Callable[[str, str], None],
                 on_resubscribed: Callable[[float], Coroutine[Any, Any, None]] | None = None,
                 on_lost: Callable[[], None] | None = None,
                 backoff: tuple[float, float] = (0.1, 2.0), ping_interval: float = 1.0,
                 ping_timeout: float = 2.0) -> None:
        # its own connections, without retries: a failure must surface here at once
        pool = aioredis.ConnectionPool.from_url(url, decode_responses=True,
                                                socket_connect_timeout=2.0, socket_timeout=2.0)
        self.redis = aioredis.Redis(connection_pool=pool)
        self.channels = channels
        # what each is called in this database (contracts.pubsub.in_db) -> the name routed
        self.names = {in_db(c, db_of(self.redis)): c for c in channels}
        self.on_message, self.on_resubscribed, self.on_lost = (on_message, on_resubscribed,
                                                               on_lost)
        self.backoff = Backoff(*backoff)
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.health = Health()
        self.reconnects = 0
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._resync: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._pubsub = await self._subscribe()
        self.health.listener(True)
        self._task = asyncio.create_task(self._run(), name="redis-feed")

    async def stop(self) -> None:
        for task in (self._task, self._resync):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._close()
        await self.redis.aclose()

    async def _subscribe(self) -> Any:
        """A pub/sub connection subscribed to every channel, confirmed by Redis (a frozen
        server accepts the connection and the command but never confirms)."""
        pubsub = self.redis.pubsub()
        try:
            await pubsub.subscribe(*self.names)
            pending = set(self.names)
            deadline = asyncio.get_running_loop().time() + self.ping_timeout
            while pending:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise TimeoutError(f"Redis did not confirm the subscription in "
                                       f"{self.ping_timeout:g} s")
                message = await pubsub.get_message(timeout=left)
                if message is None:
                    continue
                if message.get("type") == "subscribe":
                    pending.discard(message.get("channel"))
                else:
                    self._deliver(message)
        except BaseException:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
            raise
        return pubsub

    def _deliver(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            self.on_message(self.names[message["channel"]], message["data"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed message on %s", message.get("channel"))
        except Exception:  # a bug routing one message must not end the feed
            log.exception("failed to route a message on %s", message.get("channel"))

    async def _close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
                reason = "pub/sub ended"
            except (RedisError, OSError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # never die silently: log it and start over
                log.exception("the Redis pub/sub feed failed")
                reason = f"{type(exc).__name__}: {exc}"
            if self.health.listening:
                log.warning("lost the Redis pub/sub feed (%s); reconnecting", reason)
                if self.on_lost is not None:
                    self.on_lost()
            self.health.listener(False, reason)
            await self._close()
            await self._reconnect()

    async def _reconnect(self) -> None:
        """Resubscribe, waiting ``backoff`` between attempts; logs the gap when it ends."""
        while True:
            await asyncio.sleep(self.backoff.next())
            try:
                self._pubsub = await self._subscribe()
            except (RedisError, OSError, TimeoutError) as exc:
                log.debug("Redis still unreachable: %s", exc)
                continue
            self.backoff.reset()
            gap = time.time() - (self.health.down_since or time.time())
            self.health.listener(True)
            self.reconnects += 1
            log.warning("Redis pub/sub feed back after %.1f s; resubscribed", gap)
            if self.on_resubscribed is not None:
                if self._resync is not None:
                    self._resync.cancel()
                self._resync = asyncio.create_task(self.on_resubscribed(gap), name="resync")
            return

    async def _listen(self) -> None:
        """Read messages until the connection fails or Redis stops answering pings."""
        pubsub = self._pubsub
        loop = asyncio.get_running_loop()
        heard = loop.time()
        pinged: float | None = None
        while pubsub.subscribed:
            message = await pubsub.get_message(timeout=min(1.0, self.ping_interval))
            now = loop.time()
            if message is None:
                if pinged is not None and now - pinged >= self.ping_timeout:
                    self.health.ping(False, f"no answer to PING for {self.ping_timeout:g} s")
                    raise TimeoutError(f"no answer to PING for {self.ping_timeout:g} s")
                if pinged is None and now - heard >= self.ping_interval:
                    await pubsub.ping()
                    pinged = now
                continue
            heard, pinged = now, None
            if not self.health.ping_ok:
                self.health.ping(True)
            self._deliver(message)
