"""Frames of the gateway's JSON protocol (version 1), as dataclasses.

Every frame is one JSON object with a ``type``. Client to server:

* ``{"type": "auth", "token": "..."}``: the first frame when the gateway requires auth.
* ``{"type": "subscribe", "channel": "forecasts", "series": "85123A"}``, or a glob
  ``"pattern"``, on a channel: ``forecasts`` (the default), ``actuals``, ``alerts`` (without a
  target: every series) or ``ops`` (no target). ``"since"`` resumes after a reconnect: the last
  version seen of a series (no snapshot unless newer), or the last alert stream id (alerts).
* ``{"type": "unsubscribe", ...}``: the same shape as the subscribe it undoes; ``{"type":
  "list", "pattern": "8512*", "limit": 50}``: series ids known to the server;
  ``{"type": "movers", "limit": 20}``: the series furthest from their forecasts; ``ping``.
* ``{"type": "ack", "id": "<alert id>", "note": "..."}``: acknowledge an alert (a token with
  the ``ack`` action; ``note`` optional, at most 200 characters).

Any client text frame may carry an ``"id"`` (text or a 64-bit integer) echoed in the reply, an
``error`` too (an ``ack``'s is the alert's, required). An optional field may be ``null``.
Server to client: ``hello``, ``authed``, ``subscribed``, ``unsubscribed``, ``snapshot``,
``update``, ``series``, ``movers``, ``pong``, ``acked`` and ``error`` (``code``: one of
:data:`ERROR_CODES`), encoded by :mod:`contracts.wire`.

>>> Subscribe.parse({"type": "subscribe", "pattern": "851*"})
Subscribe(series=None, pattern='851*', id=None, channel='forecasts', since=None)
>>> Subscribe.parse({"type": "subscribe"})
Traceback (most recent call last):
...
gateway.messages.FrameError: subscribe needs exactly one of 'series' or 'pattern'
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from contracts.events import is_text
from contracts.wire import CHANNELS, MAX_NAME_LEN
from gateway.errors import GatewayError

__all__ = ["FrameError", "Ack", "Auth", "Movers", "CHANNELS", "Subscribe", "Unsubscribe",
           "ListSeries", "Ping", "ClientFrame", "ERROR_CODES", "parse_client_frame",
           "nests_deeper_than"]

PROTOCOL_VERSION = 1
MAX_ID_LEN = 64
MAX_PATTERN_LEN = MAX_NAME_LEN
MAX_LIST_LIMIT = 1000
MAX_NOTE_LEN = 200
MAX_TOKEN_LEN = 2048
MAX_DEPTH = 32  #: deepest nesting of arrays/objects a client frame may have
_STREAM_ID = re.compile(r"[0-9]{1,19}(-[0-9]{1,19})?")  #: an id Redis reads (parts < 2**64)

#: Error codes of ``error`` frames.
ERROR_CODES = frozenset(
    {"bad_json", "bad_frame", "unknown_type", "too_large", "too_many_subscriptions",
     "unauthorized", "token_expired", "forbidden", "rate_limited", "too_many_connections",
     "unavailable", "unknown_alert"})


class FrameError(GatewayError, ValueError):
    """A client frame is malformed; ``code`` is one of :data:`ERROR_CODES`; ``id``: the
    frame's own ``id`` when it has a valid one (the error reply echoes it)."""

    def __init__(self, message: str, code: str = "bad_frame") -> None:
        super().__init__(message)
        self.code = code
        self.id: str | int | None = None


def _frame_id(obj: dict[str, Any]) -> str | int | None:
    fid = obj.get("id")
    if fid is None:
        return None
    if isinstance(fid, bool) or not isinstance(fid, str | int):
        raise FrameError("id must be a string or an integer")
    if (not -2**63 <= fid < 2**63) if isinstance(fid, int) else (  # echoed: kept small
            len(fid) > MAX_ID_LEN or not is_text(fid)):                # and escape-free
        raise FrameError(f"id must be a 64-bit integer or printable text of at most "
                         f"{MAX_ID_LEN} characters")
    return fid


def _channel(obj: dict[str, Any]) -> str:
    channel = "forecasts" if obj.get("channel") is None else obj["channel"]
    if channel not in CHANNELS:
        shown = channel if isinstance(channel, str) else type(channel).__name__
        raise FrameError(f"unknown channel {shown[:32]!r}; valid: {', '.join(CHANNELS)}")
    return str(channel)


def _since(obj: dict[str, Any], channel: str) -> int | str | None:
    since = obj.get("since")
    if since is None:
        return None
    if channel == "alerts":
        if not isinstance(since, str) or not _STREAM_ID.fullmatch(since):
            raise FrameError("alerts 'since' must be an alert stream id like '1700000000000-0'")
        return since
    if isinstance(since, bool) or not isinstance(since, int) or since < -1:
        raise FrameError("'since' must be a version (an integer >= -1)")
    return since


def _target(obj: dict[str, Any], kind: str,
            channel: str = "forecasts") -> tuple[str | None, str | None]:
    series, pattern = obj.get("series"), obj.get("pattern")
    if channel == "ops":
        if series is not None or pattern is not None:
            raise FrameError(f"{kind} of the ops channel takes no 'series' or 'pattern'")
        return None, None
    if channel == "alerts" and series is None and pattern is None:
        pattern = "*"
    if (series is None) == (pattern is None):
        raise FrameError(f"{kind} needs exactly one of 'series' or 'pattern'")
    value = series if series is not None else pattern
    if not isinstance(value, str) or not 0 < len(value) <= MAX_PATTERN_LEN or not is_text(value):
        raise FrameError(f"{kind} target must be printable text of 1..{MAX_PATTERN_LEN} "
                         "characters (no control characters or line breaks)")
    return series, pattern


@dataclass(frozen=True)
class _TargetFrame:
    """A frame naming a channel and one series or one glob pattern (none for ``ops``)."""

    kind: ClassVar[str]
    series: str | None
    pattern: str | None
    id: str | int | None = None
    channel: str = "forecasts"
    since: int | str | None = None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Self:
        channel = _channel(obj)
        series, pattern = _target(obj, cls.kind, channel)
        since = _since(obj, channel) if cls.kind == "subscribe" else None
        return cls(series, pattern, _frame_id(obj), channel, since)


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
        pattern = "*" if obj.get("pattern") is None else obj["pattern"]
        limit = 100 if obj.get("limit") is None else obj["limit"]
        if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN_LEN or (
                pattern and not is_text(pattern)):
            raise FrameError(f"list pattern must be printable text of 1..{MAX_PATTERN_LEN} chars")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise FrameError(f"list limit must be an integer in 1..{MAX_LIST_LIMIT}")
        return cls(pattern or "*", limit, _frame_id(obj))


@dataclass(frozen=True)
class Auth:
    token: str
    id: str | int | None = None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Auth:
        token = obj.get("token")
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LEN:
            raise FrameError(f"auth needs a 'token' string of 1..{MAX_TOKEN_LEN} characters")
        return cls(token, _frame_id(obj))


@dataclass(frozen=True)
class Movers:
    limit: int = 20
    id: str | int | None = None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Movers:
        limit = 20 if obj.get("limit") is None else obj["limit"]
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise FrameError("movers limit must be an integer in 1..100")
        return cls(limit, _frame_id(obj))


@dataclass(frozen=True)
class Ping:
    id: str | int | None = None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Ping:
        return cls(_frame_id(obj))


@dataclass(frozen=True)
class Ack:
    """Acknowledge alert ``id`` (also the frame id that replies echo); ``note``: one line."""

    id: str
    note: str | None = None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Ack:
        aid, note = obj.get("id"), obj.get("note")
        if aid is None:
            raise FrameError("ack needs an 'id': the id of the alert to acknowledge")
        if not isinstance(aid, str) or not 0 < len(aid) <= MAX_ID_LEN or not is_text(aid):
            raise FrameError(f"ack 'id' must be an alert id: a string of 1..{MAX_ID_LEN} "
                             "printable characters")
        if note is not None and not (isinstance(note, str) and len(note) <= MAX_NOTE_LEN
                                     and is_text(note)):
            raise FrameError(f"ack 'note' must be one line of at most {MAX_NOTE_LEN} characters")
        return cls(aid, note or None)


ClientFrame = Subscribe | Unsubscribe | ListSeries | Ping | Auth | Movers | Ack

_PARSERS: dict[str, Any] = {"ack": Ack, "auth": Auth, "list": ListSeries, "movers": Movers,
                            "ping": Ping, "subscribe": Subscribe, "unsubscribe": Unsubscribe}


def nests_deeper_than(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels deep in JSON ``text``
    (brackets inside strings do not count). Cheap for ordinary frames: a text with at most
    ``limit`` opening brackets in all cannot nest deeper and is not scanned.

    >>> nests_deeper_than('{"a": [1, {"b": "[[[[" }]}', 3), nests_deeper_than("[" * 4096)
    (False, True)
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def parse_client_frame(text: str | bytes, max_size: int) -> ClientFrame:
    """Parse one client frame, raising :class:`FrameError` with a precise reason.

    Frames nesting deeper than :data:`MAX_DEPTH` are ``bad_json`` before the JSON parser
    sees them (it would recurse once per level).

    >>> parse_client_frame('{"type": "ping", "id": 7}', max_size=4096)
    Ping(id=7)
    >>> parse_client_frame('[1]', max_size=4096)
    Traceback (most recent call last):
    ...
    gateway.messages.FrameError: frame must be a JSON object
    """
    if not isinstance(text, str):  # the protocol is text: binary frames were read as JSON
        raise FrameError("send text frames: binary frames are not read")
    if (size := len(text.encode("utf-8", "surrogatepass"))) > max_size:
        raise FrameError(f"frame of {size} bytes exceeds {max_size}", code="too_large")
    if nests_deeper_than(text, MAX_DEPTH):
        raise FrameError(f"frame nests deeper than {MAX_DEPTH} levels", code="bad_json")
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise FrameError("frame is not valid JSON", code="bad_json") from None
    if not isinstance(obj, dict):
        raise FrameError("frame must be a JSON object")
    kind = obj.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    try:
        if parser is None:
            valid = ", ".join(sorted(_PARSERS))
            what = ("frame has no 'type'" if kind is None else f"unknown frame type {kind[:32]!r}"
                    if isinstance(kind, str) else f"'type' is a {type(kind).__name__}")
            raise FrameError(f"{what}; valid: {valid}", code="unknown_type")
        frame: ClientFrame = parser.parse(obj)
    except FrameError as exc:
        with contextlib.suppress(FrameError):
            exc.id = _frame_id(obj)  # the reply to a bad frame echoes its id too
        raise
    return frame
