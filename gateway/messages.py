"""Frames of the gateway's JSON protocol (version 1), as dataclasses.

Every frame is one JSON object with a ``type``. Client to server:

* ``{"type": "subscribe", "series": "85123A"}``: one series.
* ``{"type": "subscribe", "pattern": "85123*"}``: every series matching a glob pattern.
* ``{"type": "unsubscribe", "series": ...}`` / ``{"type": "unsubscribe", "pattern": ...}``.
* ``{"type": "list", "pattern": "8512*", "limit": 50}``: series ids known to the server.
* ``{"type": "ping"}``.

Any client frame may carry an ``"id"`` (string or number) echoed in the reply.

Server to client: ``hello``, ``subscribed``, ``unsubscribed``, ``snapshot``, ``update``,
``series``, ``pong`` and ``error`` (with a ``code`` from :data:`ERROR_CODES`).

>>> Subscribe.parse({"type": "subscribe", "pattern": "851*"})
Subscribe(series=None, pattern='851*', id=None)
>>> Subscribe.parse({"type": "subscribe"})
Traceback (most recent call last):
...
gateway.messages.FrameError: subscribe needs exactly one of 'series' or 'pattern'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar, Self

__all__ = [
    "FrameError",
    "Subscribe",
    "Unsubscribe",
    "ListSeries",
    "Ping",
    "ClientFrame",
    "ERROR_CODES",
    "parse_client_frame",
    "server_frame",
]

PROTOCOL_VERSION = 1
MAX_ID_LEN = 64
MAX_PATTERN_LEN = 64
MAX_LIST_LIMIT = 1000

#: Error codes of ``error`` frames.
ERROR_CODES = frozenset(
    {"bad_json", "bad_frame", "unknown_type", "too_large", "too_many_subscriptions"}
)


class FrameError(ValueError):
    """A client frame is malformed; ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, message: str, code: str = "bad_frame") -> None:
        super().__init__(message)
        self.code = code


def _frame_id(obj: dict[str, Any]) -> str | int | None:
    fid = obj.get("id")
    if fid is None:
        return None
    if isinstance(fid, bool) or not isinstance(fid, str | int):
        raise FrameError("id must be a string or an integer")
    if isinstance(fid, str) and len(fid) > MAX_ID_LEN:
        raise FrameError(f"id is longer than {MAX_ID_LEN} characters")
    return fid


def _target(obj: dict[str, Any], kind: str) -> tuple[str | None, str | None]:
    series, pattern = obj.get("series"), obj.get("pattern")
    if (series is None) == (pattern is None):
        raise FrameError(f"{kind} needs exactly one of 'series' or 'pattern'")
    value = series if series is not None else pattern
    if not isinstance(value, str) or not value or len(value) > MAX_PATTERN_LEN:
        raise FrameError(f"{kind} target must be a non-empty string of at most 64 characters")
    if not value.isprintable():
        raise FrameError(f"{kind} target must be printable")
    return series, pattern


@dataclass(frozen=True)
class _TargetFrame:
    """A frame naming one series or one glob pattern."""

    kind: ClassVar[str]
    series: str | None
    pattern: str | None
    id: str | int | None = None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Self:
        series, pattern = _target(obj, cls.kind)
        return cls(series, pattern, _frame_id(obj))


class Subscribe(_TargetFrame):
    kind = "subscribe"


class Unsubscribe(_TargetFrame):
    kind = "unsubscribe"


@dataclass(frozen=True)
class ListSeries:
    pattern: str
    limit: int
    id: str | int | None = None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> ListSeries:
        pattern = obj.get("pattern", "*")
        limit = obj.get("limit", 100)
        if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN_LEN:
            raise FrameError("list pattern must be a string of at most 64 characters")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise FrameError(f"list limit must be an integer in 1..{MAX_LIST_LIMIT}")
        return cls(pattern or "*", limit, _frame_id(obj))


@dataclass(frozen=True)
class Ping:
    id: str | int | None = None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Ping:
        return cls(_frame_id(obj))


ClientFrame = Subscribe | Unsubscribe | ListSeries | Ping

_PARSERS: dict[str, Any] = {
    "subscribe": Subscribe,
    "unsubscribe": Unsubscribe,
    "list": ListSeries,
    "ping": Ping,
}


def parse_client_frame(text: str | bytes, max_size: int) -> ClientFrame:
    """Parse one client frame, raising :class:`FrameError` with a precise reason.

    >>> parse_client_frame('{"type": "ping", "id": 7}', max_size=4096)
    Ping(id=7)
    >>> parse_client_frame('[1]', max_size=4096)
    Traceback (most recent call last):
    ...
    gateway.messages.FrameError: frame must be a JSON object
    """
    if len(text) > max_size:
        raise FrameError(f"frame of {len(text)} bytes exceeds {max_size}", code="too_large")
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise FrameError("frame is not valid JSON", code="bad_json") from None
    if not isinstance(obj, dict):
        raise FrameError("frame must be a JSON object")
    kind = obj.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        valid = ", ".join(sorted(_PARSERS))
        shown = kind if isinstance(kind, str) else type(kind).__name__
        raise FrameError(f"unknown frame type {shown[:32]!r}; valid: {valid}", code="unknown_type")
    frame: ClientFrame = parser.parse(obj)
    return frame


def server_frame(kind: str, **fields: Any) -> str:
    """Serialise a server frame (fields that are ``None`` are left out).

    >>> server_frame("pong", id=None)
    '{"type":"pong"}'
    """
    body = {"type": kind, **{k: v for k, v in fields.items() if v is not None}}
    return json.dumps(body, separators=(",", ":"), allow_nan=False)
