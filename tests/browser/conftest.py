"""Browser fixtures: headless Debian Chromium driven by Playwright, and a fake gateway.

``FakeGateway`` is a tiny stand-in for the gateway: it serves the dashboard files and speaks
gateway protocol v1. It answers the page's frames with canned payloads shaped like the real
ones and records every client frame, so browser tests can check both what the page draws and
what it asks for. It runs its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from models.anomaly import group_message

DAY = 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8"}


def forecasts_data(series: str, version: int, n_closed: int = 30, horizon: int = 14) -> dict:
    """A forecasts payload: ``n_closed`` daily actuals, an open bucket and a forecast."""
    actuals = [[T0 + i * DAY, float(10 + (i % 7) * 2)] for i in range(n_closed)]
    origin = T0 + n_closed * DAY
    yhat = [12.0 + (i % 7) for i in range(horizon)]
    return {
        "series": series, "version": version, "events": 100, "event_ts": origin + 3600,
        "open": {"t": origin, "qty": 4.0, "events": 2}, "bucket_seconds": DAY,
        "actuals": actuals,
        "forecast": {
            "t": [origin + i * DAY for i in range(horizon)], "yhat": yhat,
            "lo": [y - 3 for y in yhat], "hi": [y + 3 for y in yhat],
            "model": {"name": "ensemble", "winner": "holt_winters",
                      "weights": {"holt_winters": 0.6, "tsb": 0.3, "lstm": 0.1},
                      "interval": {"coverage": 0.8, "levels": [0.8, 0.95], "n": 30,
                                   "lo95": [y - 6 for y in yhat], "hi95": [y + 6 for y in yhat]},
                      "lstm_version": "lstm-20261124-0007"},
        },
    }


def alert(series: str, n: int, severity: str = "critical") -> dict:
    return {"id": f"{series}:{T0 + n * DAY}:spike", "series": series, "bucket": T0 + n * DAY,
            "bucket_end": T0 + (n + 1) * DAY, "actual": 80.0, "expected": 12.0, "lo": 9.0,
            "hi": 15.0, "lo95": 6.0, "hi95": 18.0, "score": 7.5, "severity": severity,
            "kind": "spike", "model_version": "lstm-20261124-0007",
            "detected_at": T0 + (n + 1) * DAY}


OPS = {"t": T0, "groups": {"salescast-worker": {"lag": 1234, "partitions": [
    {"topic": "sales.events", "partition": 0, "committed": 900, "end": 1500, "lag": 600},
    {"topic": "sales.events", "partition": 1, "committed": 866, "end": 1500, "lag": 634}]}},
    "events_per_s": 2500.5, "latency_ms": {"p50": 12.0, "p99": 85.0}, "deadletters": 3,
    "models": {"lstm": {"version": "lstm-20261124-0007", "promoted_at": T0, "age_s": 3600}},
    "lag_alert": True, "lag_threshold": 1000,
    "workers": [{"name": "host:101", "partitions": [0], "lag": 600, "events_per_s": 1250.0,
                 "rebalances": 1, "last_rebalance_s": 0.8, "rebalancing": False},
                {"name": "host:102", "partitions": [1], "lag": 634, "events_per_s": 1250.5,
                 "rebalances": 2, "last_rebalance_s": 2.25, "rebalancing": False}],
    "rebalances": [{"worker": "host:102", "at": T0, "duration_s": 2.25, "partitions": [1]}]}


class FakeGateway:
    """``with FakeGateway() as gw: page.goto(gw.http_url)``; ``gw.received`` holds client frames."""

    def __init__(self, series: tuple[str, ...] = ("85123A", "22423", "84879")) -> None:
        self.series = series
        self.auth = "none"  # what hello says; "required": a token is needed
        self.refuse: dict[str, Any] | None = None  # the error an auth frame gets (None: authed)
        self.received: list[dict[str, Any]] = []
        self.connections = 0
        self.port = 0
        self.prefix = ""  # "/salescast": served under that path only, as behind a proxy
        self._loop = asyncio.new_event_loop()
        self._server: Server | None = None
        self._conns: set[ServerConnection] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> FakeGateway:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def push(self, frame: dict) -> None:
        """Send ``frame`` to every connected page."""
        async def go() -> None:
            for conn in list(self._conns):
                await conn.send(json.dumps(frame))
        asyncio.run_coroutine_threadsafe(go(), self._loop).result(10)

    def push_text(self, text: str) -> None:
        async def go() -> None:
            for conn in list(self._conns):
                await conn.send(text)
        asyncio.run_coroutine_threadsafe(go(), self._loop).result(10)

    def drop_connections(self) -> None:
        """Close every page connection (the page must reconnect by itself)."""
        async def go() -> None:
            for conn in list(self._conns):
                await conn.close(1012, "restarting")
        asyncio.run_coroutine_threadsafe(go(), self._loop).result(10)

    def settled(self, read: Callable[[], Any], expected: Any, timeout: float = 5.0) -> Any:
        """``read()`` once it equals ``expected`` (or when ``timeout`` ends): the page's frames
        reach this fake's thread a little after the page has drawn what the first ones brought."""
        deadline = time.monotonic() + timeout
        value = read()
        while value != expected and time.monotonic() < deadline:
            time.sleep(0.05)
            value = read()
        return value

    def frames(self, type_: str, **match: Any) -> list[dict]:
        return [f for f in list(self.received) if f.get("type") == type_
                and all(f.get(k) == v for k, v in match.items())]

    # -- server ---------------------------------------------------------------------------
    async def _start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", 0, process_request=self._http)
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if self.prefix:  # as a reverse proxy that serves the gateway at a path does
            if not path.startswith(self.prefix + "/"):
                return conn.respond(HTTPStatus.NOT_FOUND, "not found\n")
            path = path.removeprefix(self.prefix)
        if path == "/ws":
            return None
        name = "index.html" if path == "/" else path.removeprefix("/static/")
        static = resources.files("gateway.static")
        if "/" in name or not static.joinpath(name).is_file():
            return conn.respond(HTTPStatus.NOT_FOUND, "not found\n")
        body = static.joinpath(name).read_bytes()
        ctype = CONTENT_TYPES.get(name[name.rfind("."):], "application/octet-stream")
        headers = Headers([("Content-Type", ctype), ("Content-Length", str(len(body)))])
        return Response(HTTPStatus.OK, "OK", headers, body)

    async def _handle(self, conn: ServerConnection) -> None:
        self.connections += 1
        self._conns.add(conn)
        try:
            await conn.send(json.dumps({"type": "hello", "protocol": 1,
                                        "server": "fake/1", "auth": self.auth}))
            async for text in conn:
                frame = json.loads(text)
                self.received.append(frame)
                for reply in self._replies(frame):
                    await conn.send(json.dumps(reply))
        except Exception:  # a closed page is not an error of the fake
            pass
        finally:
            self._conns.discard(conn)

    def _replies(self, f: dict) -> list[dict]:
        kind, channel = f.get("type"), f.get("channel", "forecasts")
        if kind == "auth":
            if self.refuse is not None:
                return [self.refuse]
            return [{"type": "authed", "channels": ["*"], "patterns": ["*"], "expires": 0}]
        if kind == "list":
            return [{"type": "series", "series": list(self.series), "id": f.get("id")}]
        if kind == "movers":
            return [{"type": "movers", "id": f.get("id"), "items": [
                {"series": s, "score": 3.0 - i, "actual": 20.0 + i, "expected": 10.0}
                for i, s in enumerate(self.series)]}]
        if kind != "subscribe":
            return []
        target = {k: f[k] for k in ("series", "pattern") if k in f}
        out: list[dict] = [{"type": "subscribed", "channel": channel, **target}]
        series = f.get("series", "")
        if channel == "forecasts":
            data = forecasts_data(series, 40)
            out.append({"type": "snapshot", "channel": channel, "series": series,
                        "version": 40, "data": data})
        elif channel == "actuals":
            live = {k: v for k, v in forecasts_data(series, 41).items()
                    if k in ("series", "version", "events", "event_ts", "open")}
            live["open"] = dict(live["open"], qty=6.0, events=3)
            out.append({"type": "update", "channel": channel, "series": series,
                        "version": 41, "data": live})
        elif channel == "alerts":
            closure = group_message("closure", T0 + 10 * DAY, T0 + 11 * DAY, T0 + 12 * DAY,
                                    "updated", 480, 2, 482.0, None)
            out.append({"type": "snapshot", "channel": "alerts",
                        "data": [{**alert(self.series[1], 21, "warning"), "state": "resolved",
                                  "since": T0 + 20 * DAY, "actual": 11.0}, closure]})
            out.append({"type": "update", "channel": "alerts", "series": self.series[2],
                        "sid": "1700000000000-0", "data": alert(self.series[2], 25)})
        elif channel == "ops":
            out.append({"type": "snapshot", "channel": "ops", "data": OPS})
        return out


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path("build/browser")


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A Playwright page in Debian's headless Chromium (no downloaded browsers), 1280x860."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (run ./infra/ensure-tools.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page: Any = browser.new_page(viewport={"width": 1280, "height": 860})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.errors = errors  # uncaught exceptions of the page, checked by the tests
            yield page
        finally:
            browser.close()


@pytest.fixture
def fake_gateway() -> Iterator[FakeGateway]:
    with FakeGateway() as gw:
        yield gw
