"""The WebSocket gateway: wires its rooms together and runs them (``docs/architecture.md``).

* HTTP (:mod:`gateway.web`, :mod:`gateway.hosts`, :mod:`gateway.limits`): ``GET /healthz``,
  ``GET /metrics`` (Prometheus, :mod:`gateway.prometheus`), ``GET /`` and ``/static/...`` (the
  dashboard); Host, Origin, handshake rate and connection caps are checked at the handshake
  (``docs/security.md``).
* The Redis feed (:mod:`gateway.feed`: subscribe, reconnect, health; :mod:`gateway.store`:
  snapshot queries).
* Sessions (:mod:`gateway.protocol`, sans I/O, with :mod:`gateway.auth` and
  :mod:`gateway.messages`; :mod:`gateway.sessions` pumps each connection's frames, closes the
  late and the slow).
* Fan-out (:mod:`gateway.routing` and :mod:`gateway.fanout`, sans I/O; :mod:`gateway.delivery`
  writes the frames and resyncs clients after a Redis outage).

What travels (keys, payloads, frames) is :mod:`contracts.wire`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.server import ServerProtocol

from config.addresses import make_url
from config.calendar import clock_to_follow
from contracts.wire import ALERTS_CHANNEL, OPS_CHANNEL, UPDATES_CHANNEL
from gateway.delivery import Delivery
from gateway.feed import RedisFeed
from gateway.hosts import HostPolicy
from gateway.limits import Admission
from gateway.prometheus import GatewayMetrics
from gateway.protocol import Session
from gateway.sessions import Clients
from gateway.store import Store
from gateway.web import HttpFront

if TYPE_CHECKING:
    from config import Settings

__all__ = ["Gateway"]

log = logging.getLogger("salescast.gateway")

REDIS_CONNECTIONS = 32
CLOCK_EVERY = 10.0  #: seconds between two reads of the workers' clocks (SALESCAST_UTC_OFFSET)
WRITE_LIMIT = 64 * 1024  # high-water mark of a client's write buffer (websockets write_limit)


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
    ``slow_client_seconds``: how long a client's socket may stay unread before 4008;
    ``utc_offset``: the shop's clock (seconds east of UTC), told in every ``hello``; without
    ``own_clock``, the live workers' clock when they publish one
    (:func:`config.calendar.clock_to_follow`).
    """

    def __init__(self, redis_url: str, host: str = "127.0.0.1", port: int = 8765,
                 max_frame: int = 4096, max_subscriptions: int = 100,
                 max_pending: int = 1000, secret: str | None = None,
                 origins: tuple[str, ...] = (), max_connections_per_token: int = 20,
                 rate: float = 20.0, burst: float = 40.0, *,
                 allowed_hosts: tuple[str, ...] = (), metrics_public: bool = False,
                 auth_timeout: float | None = 10.0, max_connections: int = 10_000,
                 max_connections_per_address: int = 64, handshake_rate: float = 20.0,
                 handshake_burst: float = 40.0, slow_client_seconds: float = 5.0,
                 utc_offset: int = 0, own_clock: bool = True) -> None:
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
        self.rate, self.burst = rate, burst
        self.auth_timeout = auth_timeout if auth_timeout and auth_timeout > 0 else None
        self.utc_offset, self.own_clock, self._clock = utc_offset, own_clock, utc_offset
        self._told_clock: str | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self.hosts = HostPolicy(host, allowed_hosts, origins)
        self.admission: Admission[ServerConnection] = Admission(
            max_connections_per_address, max_connections, handshake_rate, handshake_burst)
        self.metrics = GatewayMetrics(lambda: len(self.clients.sessions),
                                      lambda: self.feed.health.ok)
        self.clients = Clients(self.store, self.metrics, self.admission, self._new_session,
                               lambda: self.feed.health.ok, max_pending=max_pending,
                               max_connections_per_token=max_connections_per_token,
                               slow_client_seconds=slow_client_seconds)
        self.delivery = Delivery(self.clients, self.store, self.metrics)
        self.feed = RedisFeed(redis_url, (UPDATES_CHANNEL, ALERTS_CHANNEL, OPS_CHANNEL),
                              self.delivery.deliver, self.delivery.resync,
                              on_lost=self.delivery.lost)
        self.http = HttpFront(self.hosts, self.admission, self.metrics, self.feed.health.report,
                              secret, metrics_public)
        self._server: Server | None = None

    @classmethod
    def from_settings(cls, settings: Settings, host: str | None = None,
                      port: int | None = None, **overrides: Any) -> Gateway:
        """The gateway the settings describe (``host``/``port``: instead of theirs)."""
        return cls(settings.redis, host or settings.gateway_host,
                   settings.gateway_port if port is None else port,
                   secret=settings.secret, origins=settings.allowed_origins,
                   allowed_hosts=settings.allowed_hosts, metrics_public=settings.metrics_public,
                   auth_timeout=settings.auth_timeout, max_connections=settings.max_connections,
                   max_connections_per_address=settings.max_connections_per_address,
                   handshake_rate=settings.handshake_rate,
                   handshake_burst=float(settings.handshake_burst),
                   slow_client_seconds=settings.slow_client_seconds,
                   utc_offset=settings.utc_offset,
                   own_clock="utc_offset" in settings.model_fields_set, **overrides)

    def _new_session(self) -> Session:
        session = Session(self.max_frame, self.max_subscriptions, secret=self.secret,
                          auth_timeout=self.auth_timeout, utc_offset=self.utc_offset)
        session.rate.rate, session.rate.burst = self.rate, self.burst
        return session

    @property
    def sessions(self) -> dict[ServerConnection, Session]:
        """The open connections' protocol sessions."""
        return self.clients.sessions

    @property
    def url(self) -> str:
        return make_url("ws", self.host, self.port, "/ws")

    async def follow_clock(self) -> None:
        """Once: the clock to tell from the live workers' (:func:`~config.calendar.
        clock_to_follow`), with its warning logged once; a Redis that does not answer changes
        nothing."""
        try:
            workers = await self.store.worker_clocks(time.time())
        except (aioredis.RedisError, OSError, ValueError):
            return
        self.utc_offset, warning = clock_to_follow(
            self._clock, self.own_clock, workers, "this gateway",
            "its clients would show their dates on the wrong clock")
        if warning is not None and warning != self._told_clock:
            log.warning("%s", warning)
        self._told_clock = warning

    async def _follow_clock(self) -> None:
        while True:
            await self.follow_clock()
            await asyncio.sleep(CLOCK_EVERY)

    async def start(self) -> None:
        await self.feed.start()
        self._clock_task = asyncio.create_task(self._follow_clock())
        await self.delivery.load_ops()
        if self.hosts.wildcard_without_hosts:
            log.warning("bound to %s without allowed hosts (SALESCAST_ALLOWED_HOSTS): only "
                        "loopback Host names are answered", self.host)
        self._server = await serve(
            self.clients.handle, self.host, self.port, process_request=self.http,
            process_response=self.http.after, create_connection=_Connection,
            max_size=self.max_frame * 4, ping_interval=20, ping_timeout=20,
            write_limit=WRITE_LIMIT,
            compression=None,  # deflating each fanned-out frame per client costs more than it saves
        )
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        self.clients.start()

    async def stop(self) -> None:
        if self._clock_task is not None:
            self._clock_task.cancel()
        await self.clients.stop()
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


class _Protocol(ServerProtocol):
    """websockets (17.4) with a stream closed at most once.

    A request pipelined behind a plain HTTP request (two ``GET /healthz`` in one read) is
    parsed as a WebSocket frame while the first one is answered; that fails and closes the
    stream, and sending the response closed it again: ``assert not self.eof_sent`` failed,
    and websockets logged the AssertionError with its traceback for every such connection
    (a probe filled the log with 50 a second; ``/healthz`` has no rate limit). The second
    close does nothing now: the connection ends, without a response, as before, and without
    a traceback."""

    def send_eof(self) -> None:
        if not self.eof_sent:
            super().send_eof()


class _Connection(ServerConnection):
    """A server connection whose protocol is :class:`_Protocol` (``serve`` makes the
    protocol itself and takes only the connection's class)."""

    def __init__(self, protocol: ServerProtocol, *args: Any, **kwargs: Any) -> None:
        protocol.__class__ = _Protocol
        super().__init__(protocol, *args, **kwargs)
