"""Acknowledging an alert, sans I/O: from an ``ack`` request and the alert's stored state to the
reply and what to write.

The session checks the token's ``ack`` action (:meth:`gateway.protocol.Session.receive`); the
server reads the alert's latest JSON from :data:`~contracts.wire.ALERTS_STATE` and calls
:func:`acknowledge`, which checks that the alert exists and that the token may read it, then
returns the reply and an :class:`AckWrite`: the record for :data:`~contracts.wire.ALERTS_ACKS`
and the alert as published again, with ``state`` ``acknowledged``, a fresh ``event_id`` and
``ack``. Acknowledging again is answered ``acked`` again and writes again (the latest ack wins,
one more ``acknowledged`` message).

>>> from gateway.auth import OPEN
>>> req = AckRequest("a1", "on it", OPEN, 1700000000.0)
>>> reply, write = acknowledge(req, '{"id":"a1","series":"A","state":"open"}', "e2")
>>> reply.text
'{"type":"acked","id":"a1"}'
>>> json.loads(write.message)  # doctest: +NORMALIZE_WHITESPACE
{'id': 'a1', 'series': 'A', 'state': 'acknowledged', 'event_id': 'e2',
 'ack': {'by': 'open', 'at': 1700000000.0, 'note': 'on it'}}
>>> write.record
'{"id":"a1","by":"open","at":1700000000.0,"note":"on it"}'
>>> json.loads(acknowledge(req, None, "e3")[0].text)["message"]
"no alert 'a1' this token may read"
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from contracts.wire import GROUP_SERIES, dumps, server_frame
from gateway.outputs import AckRequest, Reply

__all__ = ["AckWrite", "acknowledge", "new_event_id", "ack_of"]


@dataclass(frozen=True)
class AckWrite:
    """``record``: the JSON for the acks hash; ``message``: the alert's JSON to add to the
    alerts stream and publish (without ``sid``: the stream id is added when published)."""

    record: str
    message: str


def new_event_id() -> str:
    """A fresh, unique message id for an ``acknowledged`` alert message."""
    return secrets.token_hex(8)


def _error(code: str, message: str, fid: str) -> Reply:
    return Reply(server_frame("error", code=code, message=message, id=fid), code)


def acknowledge(request: AckRequest, stored: str | bytes | None,
                event_id: str) -> tuple[Reply, AckWrite | None]:
    """The reply to ``request`` and what to write (``None``: nothing), given the alert's latest
    stored JSON (``None``: no such alert)."""
    alert: Any = None
    if stored is not None:
        try:
            alert = json.loads(stored)
        except ValueError:
            alert = None
    series = str(alert.get("series", "")) if isinstance(alert, dict) else ""
    if isinstance(alert, dict) and alert.get("scope") == "group":
        series = GROUP_SERIES  # a group alert is about every series: it needs the "*" pattern
    # an alert the token may not read is answered as one that does not exist: alert ids are
    # derived from series, bucket and kind, so "forbidden" would tell whether one fired
    if not isinstance(alert, dict) or not request.claims.allows_alert(series):
        return _error("unknown_alert", f"no alert {request.id!r} this token may read",
                      request.id), None
    ack = {"by": request.claims.jti, "at": request.at, "note": request.note}
    alert.pop("sid", None)  # the stream id of an earlier message
    alert.update(state="acknowledged", event_id=event_id, ack=ack)
    record = dumps({"id": request.id, **ack})
    return Reply(server_frame("acked", id=request.id)), AckWrite(record, dumps(alert))


def ack_of(record: str | bytes | None) -> dict[str, Any] | None:
    """The ``ack`` that an alert's frames carry, from its record in the acks hash (``None``:
    none, or unreadable).

    >>> ack_of('{"id":"a1","by":"t1","at":5.0,"note":null}')
    {'by': 't1', 'at': 5.0, 'note': None}
    >>> ack_of(None), ack_of("nope")
    (None, None)
    """
    if not record:
        return None
    try:
        found = json.loads(record)
    except ValueError:
        return None
    if not isinstance(found, dict):
        return None
    return {k: found.get(k) for k in ("by", "at", "note")}
