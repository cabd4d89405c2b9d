"""WebSocket clients of the gateway for the integration tests (``test_faults``, ``test_gateways``).

:class:`Subscriber` behaves like the dashboard: it subscribes to the forecasts and actuals of one
series (and to alerts, if asked), keeps the last version seen per channel and the last alert
stream id, and when its gateway goes away reconnects, to the next of its URLs if it has more
than one, resubscribing with ``since``. It records every frame it gets, tagged with the
connection it came on, so that a test can check what the protocol delivered, not only where a
client ended. :func:`latest_versions` is what a fresh client is given.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Subscriber", "Received", "latest_versions"]

SERIES_CHANNELS = ("forecasts", "actuals")


@dataclass(frozen=True)
class Received:
    """One snapshot or update frame as a client got it: on which connection (1, 2, ...) and
    which URL."""

    connection: int
    url: str
    frame: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.frame["type"])

    @property
    def channel(self) -> str:
        return str(self.frame["channel"])


@dataclass
class Subscriber:
    """A dashboard-like client of one series (``series=None``: alerts only).

    ``urls`` are tried in turn: a lost or refused connection moves to the next one (the last
    one is retried). While ``hold`` is set the client stays away after losing a connection (a
    test decides when it reconnects)."""

    urls: list[str]
    series: str | None
    alerts: bool = False
    channels: tuple[str, ...] = SERIES_CHANNELS
    seen: dict[str, int] = field(default_factory=dict)  # channel -> last version
    alert_sid: str | None = None  # the last alert stream id received
    received: list[Received] = field(default_factory=list)
    subscribes: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    connects: int = 0
    hold: asyncio.Event | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    def frames(self, channel: str, *, kind: str | None = None,
               connection: int | None = None) -> list[dict[str, Any]]:
        return [r.frame for r in self.received if r.channel == channel
                and (kind is None or r.kind == kind)
                and (connection is None or r.connection == connection)]

    def versions(self, channel: str) -> list[int]:
        """Every version received on a series channel, in order (snapshots and updates)."""
        return [int(f["version"]) for f in self.frames(channel) if "version" in f]

    def alert_sids(self) -> list[str]:
        """Every alert stream id received, in order (snapshot entries and updates)."""
        return [sid for f in self.frames("alerts") for sid in _sids(f)]

    def _subscribe_frames(self) -> list[dict[str, Any]]:
        frames: list[dict[str, Any]] = []
        if self.series is not None:
            for channel in self.channels:
                frame: dict[str, Any] = {"type": "subscribe", "channel": channel,
                                         "series": self.series}
                if channel in self.seen:
                    frame["since"] = self.seen[channel]
                frames.append(frame)
        if self.alerts:
            frame = {"type": "subscribe", "channel": "alerts"}
            if self.alert_sid is not None:
                frame["since"] = self.alert_sid
            frames.append(frame)
        return frames

    def _record(self, connection: int, url: str, f: dict[str, Any]) -> None:
        if f.get("type") not in ("snapshot", "update") or f.get("channel") == "ops":
            return
        self.received.append(Received(connection, url, f))
        if "version" in f:
            self.seen[f["channel"]] = max(self.seen.get(f["channel"], -1), int(f["version"]))
        elif f["channel"] == "alerts" and _sids(f):
            self.alert_sid = _sids(f)[-1]

    async def run(self, stop: asyncio.Event) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        index = 0
        while not stop.is_set():
            url = self.urls[index]
            try:
                async with connect(url, open_timeout=2) as ws:
                    self.connects += 1
                    connection = self.connects
                    await ws.recv()  # hello
                    for frame in self._subscribe_frames():
                        self.subscribes.append((connection, frame))
                        await ws.send(json.dumps(frame))
                    self.connected.set()
                    while not stop.is_set():
                        try:
                            text = await asyncio.wait_for(ws.recv(), 0.5)
                        except TimeoutError:
                            continue
                        self._record(connection, url, json.loads(text))
            except (OSError, TimeoutError, WebSocketException):
                pass  # the gateway is down or went away: try again (elsewhere)
            self.connected.clear()
            index = min(index + 1, len(self.urls) - 1)
            while self.hold is not None and self.hold.is_set() and not stop.is_set():
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)


def _sids(frame: dict[str, Any]) -> list[str]:
    """The alert stream ids of an alerts snapshot (oldest first) or update."""
    if frame["type"] == "snapshot":
        return [str(a["sid"]) for a in frame["data"]]
    return [str(frame["sid"])]


async def latest_versions(url: str, series: list[str],
                          channels: tuple[str, ...] = SERIES_CHANNELS,
                          timeout: float = 20) -> dict[tuple[str, str], int]:
    """What a fresh client is given: the snapshot version per (series, channel)."""
    from websockets.asyncio.client import connect

    out: dict[tuple[str, str], int] = {}
    async with connect(url) as ws:
        await ws.recv()
        for s in series:
            for channel in channels:
                await ws.send(json.dumps({"type": "subscribe", "channel": channel, "series": s}))
        deadline = time.monotonic() + timeout
        while len(out) < len(channels) * len(series) and time.monotonic() < deadline:
            f = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            if f.get("type") == "snapshot":
                out[(f["series"], f["channel"])] = f["version"]
    return out
