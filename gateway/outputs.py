"""What a client's :class:`~gateway.protocol.Session` asks the server to do, sans I/O.

A session answers each frame with a list of these: text to send (:class:`Reply`), Redis reads
to carry out (:class:`SnapshotRequest`, :class:`ListRequest`, :class:`MoversRequest`), an
alert to acknowledge (:class:`AckRequest`), a token slot to take (:class:`AuthRequest`), or a
close (:class:`Close`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.auth import Claims

__all__ = ["Reply", "SnapshotRequest", "ListRequest", "MoversRequest", "AckRequest",
           "AuthRequest", "Close", "Output"]


@dataclass(frozen=True)
class Reply:
    """Send this text frame to the client (``error``: its code when it is an ``error`` frame)."""

    text: str
    error: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class SnapshotRequest:
    """Send the client the current state for a new subscription (``since``: resume point)."""

    series: str | None
    pattern: str | None
    channel: str = "forecasts"
    since: int | str | None = None
    id: str | int | None = field(default=None, repr=False, compare=False)  # the frame's


@dataclass(frozen=True)
class ListRequest:
    """Answer with the known series ids matching ``pattern`` (at most ``limit``)."""

    pattern: str
    limit: int
    id: str | int | None


@dataclass(frozen=True)
class MoversRequest:
    """Answer with the top ``limit`` movers."""

    limit: int
    id: str | int | None


@dataclass(frozen=True)
class AckRequest:
    """Acknowledge alert ``id`` for a holder of ``claims`` (who has the ``ack`` action), at
    ``at`` (unix seconds), if the alert exists and the claims may read it
    (:func:`gateway.acks.acknowledge` decides)."""

    id: str
    note: str | None
    claims: Claims
    at: float


@dataclass(frozen=True)
class AuthRequest:
    """The client authenticated: the server checks its connections-per-token limit."""

    claims: Claims


@dataclass(frozen=True)
class Close:
    """Close the connection with this WebSocket close code and reason."""

    code: int
    reason: str


Output = Reply | SnapshotRequest | ListRequest | MoversRequest | AckRequest | AuthRequest | Close
