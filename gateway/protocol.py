"""The client protocol, sans I/O: text frames in, replies and requests out.

A :class:`Session` holds one client's state: whether it has authenticated and what its token
grants, its subscriptions per channel, and its message-rate budget. The server feeds it each
received frame with :meth:`Session.receive`, which never raises on bad input: a bad frame
becomes an ``error`` frame. What needs I/O (snapshots from Redis, listing series, top movers,
acknowledging an alert) comes back as a request object for the server to carry out;
:class:`Close` asks the server to close the connection (an abusive client).

>>> s = Session(max_frame=4096, max_subscriptions=2)
>>> out = s.receive('{"type": "subscribe", "series": "A", "id": 1}')
>>> out[0]
Reply(text='{"type":"subscribed","channel":"forecasts","series":"A","id":1}')
>>> out[1]
SnapshotRequest(series='A', pattern=None, channel='forecasts', since=None)
>>> s.wants("forecasts", "A"), s.wants("forecasts", "B"), s.wants("actuals", "A")
(True, False, False)
>>> s.receive('not json')
[Reply(text='{"type":"error","code":"bad_json","message":"frame is not valid JSON"}')]

With a secret, nothing but ``auth`` is accepted until a valid token arrives:

>>> from gateway.auth import mint
>>> s = Session(secret="k", clock=lambda: 1000.0)
>>> s.receive('{"type": "ping"}')[0].text
'{"type":"error","code":"unauthorized","message":"send an auth frame with a token first"}'
>>> tok = mint("k", ["forecasts"], ["851*"], ttl=60, now=1000.0)
>>> s.receive('{"type": "auth", "token": "%s"}' % tok)[0].text
'{"type":"authed","channels":["forecasts"],"patterns":["851*"],"expires":1060}'
>>> s.receive('{"type": "subscribe", "series": "22423"}')[0].text
'{"type":"error","code":"forbidden","message":"the token does not grant series \\'22423\\'"}'
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from contracts.wire import server_frame
from gateway.auth import OPEN, AuthError, Claims, matches, verify
from gateway.limits import RateLimit
from gateway.messages import (
    PROTOCOL_VERSION,
    Ack,
    Auth,
    FrameError,
    ListSeries,
    Movers,
    Ping,
    Subscribe,
    Unsubscribe,
    parse_client_frame,
)
from gateway.outputs import (
    AckRequest,
    AuthRequest,
    Close,
    ListRequest,
    MoversRequest,
    Output,
    Reply,
    SnapshotRequest,
)

__all__ = ["Session", "Reply", "SnapshotRequest", "ListRequest", "MoversRequest", "Close",
           "AckRequest", "AuthRequest", "Output"]

CLOSE_POLICY = 1008  #: WebSocket close code "policy violation"


def _error(code: str, message: str, fid: str | int | None = None) -> Reply:
    return Reply(server_frame("error", code=code, message=message, id=fid), code)


@dataclass
class Session:
    """One client's protocol state (see the module docstring).

    ``secret``: the HMAC secret of tokens; ``None`` runs without auth (everything granted).
    ``auth_timeout``: seconds a connection may stay without a valid token (with a secret; the
    clock restarts when a token expires) or without a single valid frame (without one) before
    :meth:`overdue` asks to close it; ``None`` never.
    """

    max_frame: int = 4096
    max_subscriptions: int = 100
    secret: str | None = None
    clock: Callable[[], float] = time.time
    rate: RateLimit = field(default_factory=RateLimit)
    max_rate_errors: int = 50  # rate-limited frames before a close (none once back to half)
    # pattern snapshots (up to 200 frames each): 10 at once, then one every 2 s (a client
    # that subscribed and unsubscribed '*' 18 times a second got 49 MB back for 8.5 KB)
    snapshots: RateLimit = field(default_factory=lambda: RateLimit(rate=0.5, burst=10))
    auth_timeout: float | None = 10.0
    utc_offset: int = 0  # the shop's clock (SALESCAST_UTC_OFFSET), told in hello
    claims: Claims | None = None
    subs: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)
    _rate_errors: int = 0
    _opened: float = 0.0
    _requested: bool = False  # a valid frame arrived
    _unsent: set[tuple[str, str]] = field(default_factory=set)  # (channel, target): no snapshot
    _told: bool = False  # told that its token expired (expiry_notice)

    def __post_init__(self) -> None:
        if self.secret is None:
            self.claims = OPEN
        self._opened = self.clock()

    def overdue(self) -> Close | None:
        """A :class:`Close` when the connection has outstayed :attr:`auth_timeout` without
        authenticating (or, without auth, without sending a valid frame); else ``None``.

        >>> t = [0.0]
        >>> s = Session(secret="k", clock=lambda: t[0], auth_timeout=10)
        >>> t[0] = 9.9; s.overdue() is None
        True
        >>> t[0] = 10.0; s.overdue()
        Close(code=1008, reason='authentication timeout')
        """
        if self.auth_timeout is None:
            return None
        now = self.clock()
        if self.secret is None:
            if not self._requested and now - self._opened >= self.auth_timeout:
                return Close(CLOSE_POLICY, f"no request within {self.auth_timeout:g} s")
            return None
        if self.claims is None:
            since = self._opened
        elif now >= self.claims.exp:
            since = max(self._opened, self.claims.exp)
        else:
            return None
        if now - since >= self.auth_timeout:
            return Close(CLOSE_POLICY, "authentication timeout" if self.claims is None else
                         "the token expired and no new one came")
        return None

    def expiry_notice(self) -> str | None:
        """A ``token_expired`` error frame, once, when the token expired under the open
        connection: updates stop, and it closes :attr:`auth_timeout` later unless an ``auth``
        frame brings a new token (they just stopped, before)."""
        if self._told or self.secret is None or not self.expired():
            return None
        self._told = True
        return _error("token_expired", "the token expired; send an auth frame with a new one"
                      f" within {self.auth_timeout or 0:g} s").text

    def hello(self, server: str) -> str:
        auth = "none" if self.secret is None else "required"
        return server_frame("hello", protocol=PROTOCOL_VERSION, server=server, auth=auth,
                            utc_offset=self.utc_offset)

    @property
    def n_subscriptions(self) -> int:
        return sum(len(s) + len(p) for s, p in self.subs.values())

    def wants(self, channel: str, series: str | None = None) -> bool:
        """Whether an update of ``series`` on ``channel`` is for this client."""
        if (subs := self.subs.get(channel)) is None or self.claims is None or self.expired():
            return False
        if channel == "ops":
            return True
        assert series is not None
        names, patterns = subs
        if series not in names and not any(matches(series, p) for p in patterns):
            return False
        if channel == "alerts":
            return self.claims.allows_alert(series)
        return self.claims.allows_series(series)

    def resync_requests(self, alerts_since: str | None = None) -> list[SnapshotRequest]:
        """Snapshots that bring this client up to date after the gateway missed updates (a
        Redis outage): one per subscription, without a resume point (clients drop what is
        not newer than what they have); alerts after ``alerts_since``, the last alert the
        gateway saw before the gap (tests/unit/gateway/test_routing.py)."""
        if self.claims is None or self.expired():
            return []
        out: list[SnapshotRequest] = []
        for channel, (names, patterns) in self.subs.items():
            since = alerts_since if channel == "alerts" else None
            if channel == "ops":
                out.append(SnapshotRequest(None, None, "ops"))
                continue
            out.extend(SnapshotRequest(n, None, channel, since) for n in sorted(names))
            out.extend(SnapshotRequest(None, p, channel, since) for p in sorted(patterns))
        return out

    def snapshot_failed(self, request: SnapshotRequest) -> None:
        """The server could not send ``request``'s snapshot (Redis down): subscribing again
        (the client was told to retry) sends it, where a repeat would send none."""
        self._unsent.add((request.channel, request.series or request.pattern or ""))

    def expired(self) -> bool:
        return self.claims is not None and self.clock() >= self.claims.exp

    def receive(self, text: str | bytes) -> list[Output]:
        """Handle one client frame; bad input gives an ``error`` reply, never an exception."""
        if not self.rate.allow():
            self._rate_errors += 1
            if self._rate_errors >= self.max_rate_errors:
                return [Close(CLOSE_POLICY, "message rate limit exceeded")]
            return [_error("rate_limited", "too many frames; slow down")]
        if self.rate.tokens >= self.rate.burst / 2:  # slowed down: the refusals are forgiven
            self._rate_errors = 0
        try:
            frame = parse_client_frame(text, self.max_frame)
        except FrameError as exc:
            return [_error(exc.code, str(exc), exc.id)]
        self._requested = True
        if isinstance(frame, Auth):
            return self._auth(frame)
        if self.claims is None:
            return [_error("unauthorized", "send an auth frame with a token first", frame.id)]
        if self.expired():
            self._opened = max(self._opened, self.claims.exp)  # the auth deadline restarts
            self.claims = None
            return [_error("token_expired", "the token has expired; authenticate again",
                           frame.id)]
        if isinstance(frame, Ping):
            return [Reply(server_frame("pong", id=frame.id))]
        if isinstance(frame, ListSeries):
            return [ListRequest(frame.pattern, frame.limit, frame.id)]
        if isinstance(frame, Movers):
            return [MoversRequest(frame.limit, frame.id)]
        if isinstance(frame, Subscribe):
            return self._subscribe(frame)
        if isinstance(frame, Ack):
            return self._ack(frame)
        return self._unsubscribe(frame)

    def _ack(self, frame: Ack) -> list[Output]:
        """An alert acknowledgement for the server to carry out (:mod:`gateway.acks`)."""
        claims = self.claims
        assert claims is not None
        if not claims.can("ack"):
            return [_error("forbidden", "the token does not grant the 'ack' action", frame.id)]
        if not claims.allows_channel("alerts"):
            return [_error("forbidden", "the token does not grant channel 'alerts'", frame.id)]
        return [AckRequest(frame.id, frame.note, claims, self.clock())]

    def _auth(self, frame: Auth) -> list[Output]:
        if self.secret is None:
            return [Reply(server_frame("authed", channels=list(OPEN.channels),
                                       patterns=list(OPEN.patterns),
                                       actions=list(OPEN.actions), id=frame.id))]
        try:
            claims = verify(self.secret, frame.token, self.clock())
        except AuthError as exc:
            return [_error(exc.code, str(exc), frame.id)]
        self.claims, self._told = claims, False
        # subscriptions the new token does not grant are dropped
        for channel in [c for c in self.subs if not claims.allows_channel(c)]:
            del self.subs[channel]
        ack = server_frame("authed", channels=list(claims.channels),
                           patterns=list(claims.patterns), expires=int(claims.exp),
                           actions=list(claims.actions) or None, id=frame.id)
        return [Reply(ack), AuthRequest(claims)]

    def _subscribe(self, frame: Subscribe) -> list[Output]:
        claims = self.claims
        assert claims is not None
        channel = frame.channel
        if (why := claims.refuses(channel, frame.series, frame.pattern)) is not None:
            return [_error("forbidden", why, frame.id)]
        names, patterns = self.subs.get(channel, (set(), set()))
        target = names if frame.series is not None else patterns
        value = frame.series if frame.series is not None else (frame.pattern or "")
        if value not in target and self.n_subscriptions >= self.max_subscriptions:
            message = f"at most {self.max_subscriptions} subscriptions per connection"
            return [_error("too_many_subscriptions", message, frame.id)]
        # the channel is only recorded once subscribed: an ops entry alone means "send ops"
        again = (channel in self.subs and value in target and frame.since is None
                 and (channel, value) not in self._unsent)
        if frame.pattern is not None and channel != "ops" and not again and (
                not self.snapshots.allow()):
            return [_error("rate_limited", "pattern snapshots: 10 at once, then one every 2 s;"
                           " subscribe again later", frame.id)]
        self._unsent.discard((channel, value))
        self.subs[channel] = (names, patterns)
        target.add(value)
        ack = server_frame("subscribed", channel=channel, series=frame.series,
                           pattern=None if channel == "ops" else frame.pattern, id=frame.id)
        if again:  # what the client has: a second snapshot would cost Redis for nothing
            return [Reply(ack)]
        return [Reply(ack), SnapshotRequest(frame.series, frame.pattern, channel, frame.since,
                                            frame.id)]

    def _unsubscribe(self, frame: Unsubscribe) -> list[Output]:
        subs = self.subs.get(frame.channel)
        if subs is not None:
            subs[0].discard(frame.series or "")
            subs[1].discard(frame.pattern or "")
            if frame.channel == "ops" or not (subs[0] or subs[1]):
                del self.subs[frame.channel]
        ack = server_frame("unsubscribed", channel=frame.channel, series=frame.series,
                           pattern=None if frame.channel == "ops" else frame.pattern,
                           id=frame.id)
        return [Reply(ack)]
