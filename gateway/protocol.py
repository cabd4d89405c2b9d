"""The client protocol, sans I/O: text frames in, replies and requests out.

A :class:`Session` holds one client's subscriptions. The server feeds it each received
text frame with :meth:`Session.receive`, which never raises on bad input: a bad frame
becomes an ``error`` frame. What needs I/O (snapshots from Redis, listing series) comes
back as a request object for the server to carry out.

>>> s = Session(max_frame=4096, max_subscriptions=2)
>>> out = s.receive('{"type": "subscribe", "series": "A", "id": 1}')
>>> out
[Reply(text='{"type":"subscribed","series":"A","id":1}'), SnapshotRequest(series='A', pattern=None)]
>>> s.wants("A"), s.wants("B")
(True, False)
>>> s.receive('not json')
[Reply(text='{"type":"error","code":"bad_json","message":"frame is not valid JSON"}')]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from gateway.messages import (
    PROTOCOL_VERSION,
    FrameError,
    ListSeries,
    Ping,
    Subscribe,
    Unsubscribe,
    parse_client_frame,
    server_frame,
)

__all__ = ["Session", "Reply", "SnapshotRequest", "ListRequest", "Output"]


@dataclass(frozen=True)
class Reply:
    """Send this text frame to the client."""

    text: str


@dataclass(frozen=True)
class SnapshotRequest:
    """Send the client the current snapshot of a series, or of every series matching a pattern."""

    series: str | None
    pattern: str | None


@dataclass(frozen=True)
class ListRequest:
    """Answer with the known series ids matching ``pattern`` (at most ``limit``)."""

    pattern: str
    limit: int
    id: str | int | None


Output = Reply | SnapshotRequest | ListRequest


@dataclass
class Session:
    """One client's protocol state: its exact and pattern subscriptions."""

    max_frame: int = 4096
    max_subscriptions: int = 100
    series: set[str] = field(default_factory=set)
    patterns: set[str] = field(default_factory=set)

    def hello(self, server: str) -> str:
        return server_frame("hello", protocol=PROTOCOL_VERSION, server=server)

    def wants(self, series: str) -> bool:
        """Whether an update of ``series`` is for this client."""
        if series in self.series:
            return True
        return any(fnmatchcase(series, p) for p in self.patterns)

    def receive(self, text: str | bytes) -> list[Output]:
        """Handle one client frame; bad input gives an ``error`` reply, never an exception."""
        try:
            frame = parse_client_frame(text, self.max_frame)
        except FrameError as exc:
            return [Reply(server_frame("error", code=exc.code, message=str(exc)))]
        if isinstance(frame, Ping):
            return [Reply(server_frame("pong", id=frame.id))]
        if isinstance(frame, ListSeries):
            return [ListRequest(frame.pattern, frame.limit, frame.id)]
        if isinstance(frame, Subscribe):
            return self._subscribe(frame)
        return self._unsubscribe(frame)

    def _subscribe(self, frame: Subscribe) -> list[Output]:
        target = self.series if frame.series is not None else self.patterns
        value = frame.series if frame.series is not None else frame.pattern
        assert value is not None
        if value not in target and len(self.series) + len(self.patterns) >= self.max_subscriptions:
            message = f"at most {self.max_subscriptions} subscriptions per connection"
            err = server_frame("error", code="too_many_subscriptions", message=message, id=frame.id)
            return [Reply(err)]
        target.add(value)
        ack = server_frame("subscribed", series=frame.series, pattern=frame.pattern, id=frame.id)
        return [Reply(ack), SnapshotRequest(frame.series, frame.pattern)]

    def _unsubscribe(self, frame: Unsubscribe) -> list[Output]:
        if frame.series is not None:
            self.series.discard(frame.series)
        elif frame.pattern is not None:
            self.patterns.discard(frame.pattern)
        ack = server_frame("unsubscribed", series=frame.series, pattern=frame.pattern, id=frame.id)
        return [Reply(ack)]
