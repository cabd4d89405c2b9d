"""From one Redis pub/sub message to the frames clients get, sans I/O.

The worker publishes one JSON message per series write on ``salescast:updates``. A ``live``
message (an event batch) is the open bucket's state: it goes to ``actuals`` subscribers. A
``forecast`` message (a bucket closed) carries the same live part *and* the new forecast: it
goes to ``forecasts`` subscribers whole, and to ``actuals`` subscribers as its live part, so
that an actuals subscriber sees every version (a bucket close is a version too).

>>> msg = ('{"series":"A","version":7,"events":3,"event_ts":5.0,"open":null,'
...        '"kind":"forecast","bucket_seconds":60,"forecast":{"yhat":[1]},"actuals":[[0,1]]}')
>>> [(r.channel, r.slot.replace("\\0", "/")) for r in route("salescast:updates", msg)]
[('forecasts', 'forecasts/A'), ('actuals', 'actuals/A')]
>>> route("salescast:updates", msg)[1].frame
'{"type":"update","channel":"actuals","series":"A","version":7,"data":{"series":"A","version":7,"events":3,"event_ts":5.0,"open":null,"bucket_seconds":60,"kind":"live"}}'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.wire import (
    ALERTS_CHANNEL,
    OPS_CHANNEL,
    UPDATES_CHANNEL,
    alert_update_frame,
    dumps,
    live_part,
    loads_stored,
    ops_frame,
    update_frame,
)

__all__ = ["Routed", "route"]


@dataclass(frozen=True)
class Routed:
    """One frame for the subscribers of ``series`` (``None``: ops) on ``channel``; ``slot``
    names what a newer frame replaces in a slow client's queue."""

    channel: str
    series: str | None
    frame: str
    slot: str
    body: dict[str, Any]


def route(source: str, data: str) -> list[Routed]:
    """The frames for one message from Redis channel ``source`` (raises ``ValueError``,
    ``KeyError`` or ``TypeError`` on a malformed one)."""
    body, bad = loads_stored(data)
    if not isinstance(body, dict):
        raise TypeError("a message must be a JSON object")
    if bad:  # NaN in the text: the frame embeds the text, which no browser would parse
        data = dumps(body)
    if source == UPDATES_CHANNEL:
        series = str(body["series"])
        version = int(body.get("version", -1))
        if body.get("kind", "live") != "forecast":
            return [Routed("actuals", series, update_frame("actuals", series, version, data),
                           f"actuals\0{series}", body)]
        live = live_part(body)
        return [Routed("forecasts", series, update_frame("forecasts", series, version, data),
                       f"forecasts\0{series}", body),
                Routed("actuals", series, update_frame("actuals", series, version, dumps(live)),
                       f"actuals\0{series}", live)]
    if source == ALERTS_CHANNEL:
        series = str(body["series"])
        frame = alert_update_frame(series, body.get("sid"), data)  # data passed through whole
        # one slot per message (event_id; id before alerts had a lifecycle): never merged, so
        # a slow client still sees every state an alert went through
        slot = f"alerts\0{body.get('event_id') or body['id']}"
        return [Routed("alerts", series, frame, slot, body)]
    if source == OPS_CHANNEL:
        return [Routed("ops", None, ops_frame("update", data), "ops", body)]
    raise ValueError(f"not a gateway channel: {source!r}")
