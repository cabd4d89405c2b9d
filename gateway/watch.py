"""``salescast watch``: a terminal client of the gateway that prints live updates."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from gateway.errors import GatewayError
from gateway.messages import FrameError, parse_client_frame

__all__ = ["watch", "describe_update", "absorb", "BadTarget", "Refused"]

#: error codes after which the watch cannot go on (the others: rate, Redis down, pass)
FATAL = frozenset({"bad_json", "bad_frame", "unknown_type", "too_large", "unauthorized",
                   "token_expired", "forbidden", "too_many_subscriptions"})
#: close codes after which the watch stops (policy: an auth deadline, too many connections
#: for the token; normal: the watch itself); after any other (4008 too far behind, the
#: gateway going away or restarting, a dropped connection) it connects again
STOP_CODES = frozenset({1000, 1008})
MAX_DELAY = 30.0  #: seconds between two tries to connect again, at most


class Refused(GatewayError):
    """The gateway refused the watch, or would: ``code: message``."""


class BadTarget(Refused):
    """The target is one the gateway would refuse: found before connecting."""


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:,.1f}"


def describe_update(data: dict[str, Any], utc_offset: int = 0) -> str:
    """One human line for a snapshot/update payload; days on the shop's clock (``utc_offset``,
    seconds east of UTC: the gateway's hello says it).

    >>> describe_update({"series": "A", "version": 3, "open": {"t": 0, "qty": 5.0},
    ...                  "actuals": [[0, 4.0]], "forecast": None})
    'A  v3  open 1970-01-01 qty 5.0  last 4.0  no forecast yet'
    >>> describe_update({"series": "A", "open": {"t": 1720018800, "qty": 1.0}}, 9 * 3600)[:22]
    'A  v?  open 2024-07-04'
    >>> describe_update({"series": "A", "bucket_seconds": 3600, "open": {"t": 0}})[:28]
    'A  v?  open 1970-01-01 00:00'
    >>> describe_update({"series": "A", "version": 4, "forecast": {
    ...     "yhat": [2.0], "lo": [1.0], "hi": [3.0], "model": {"winner": "hw"},
    ...     "lead": {"buckets": 14, "mean": 40.2, "p10": 21.0, "p90": 66.5}}})
    'A  v4  next 2.0 [1.0, 3.0] (hw)  next 14: 40.2 (80%: 21.0-66.5)'
    """
    series = data.get("series", "?")
    parts = [f"{series}  v{data.get('version', '?')}"]
    open_ = data.get("open")
    if open_:  # (buckets shorter than a day, or off the day's start: their time too)
        t = open_["t"] + utc_offset
        hours = data.get("bucket_seconds", 86400) < 86400 or t % 86400
        day = time.strftime("%Y-%m-%d %H:%M" if hours else "%Y-%m-%d", time.gmtime(t))
        parts.append(f"open {day} qty {_fmt(open_.get('qty'))}")
    actuals = data.get("actuals") or data.get("recent") or []
    if actuals:
        parts.append(f"last {_fmt(actuals[-1][1])}")
    fc = data.get("forecast")
    if fc and fc.get("yhat"):
        lo, hi = fc.get("lo") or [None], fc.get("hi") or [None]
        winner = (fc.get("model") or {}).get("winner", "?")
        parts.append(
            f"next {_fmt(fc['yhat'][0])} [{_fmt(lo[0])}, {_fmt(hi[0])}] ({winner})"
        )
        lead = fc.get("lead")
        if lead:  # the mean's total over the horizon: what to stock for
            band = (f" (80%: {_fmt(lead['p10'])}-{_fmt(lead['p90'])})"
                    if lead.get("p10") is not None and lead.get("p90") is not None else "")
            parts.append(f"next {lead.get('buckets', '?')}: {_fmt(lead.get('mean'))}{band}")
    else:
        parts.append("no forecast yet")
    return "  ".join(parts)


def absorb(views: dict[str, dict[str, Any]], frame: dict[str, Any]) -> dict[str, Any] | None:
    """Merge a snapshot/update frame into its series' view; the view to print, or ``None``
    when the frame is older than the view or repeats its version on ``actuals`` (a bucket
    close reaches both channels with one version; the actuals frame is its live part).

    >>> views = {}
    >>> absorb(views, {"channel": "forecasts", "data": {"series": "A", "version": 3,
    ...                                                 "forecast": {"yhat": [1]}}})["version"]
    3
    >>> absorb(views, {"channel": "actuals", "data": {"series": "A", "version": 3}}) is None
    True
    >>> absorb(views, {"channel": "actuals", "data": {"series": "A", "version": 2}}) is None
    True
    >>> absorb(views, {"channel": "actuals", "data": {"series": "A", "version": 4}})["forecast"]
    {'yhat': [1]}
    """
    data = frame["data"]
    view = views.setdefault(data["series"], {})
    version, last = data.get("version"), view.get("version")
    if isinstance(version, int) and isinstance(last, int):
        if version < last:
            return None
        repeat = version == last and frame.get("channel") == "actuals"
    else:
        repeat = False
    view.update({k: v for k, v in data.items() if v is not None or k == "open"})
    return None if repeat else view


async def watch(url: str, target: str, limit: int | None = None,
                console: Console | None = None, token: str | None = None,
                delay: float = 1.0) -> int:
    """Subscribe to ``target`` (a series id, or a glob pattern with ``*``) on the forecasts
    and actuals channels and print updates (``token``: when the gateway requires auth).

    Returns after ``limit`` snapshot/update frames (forever when ``None``). A connection the
    gateway closes (but for :data:`STOP_CODES`) or that drops is made again after ``delay``
    seconds, doubled up to :data:`MAX_DELAY` while connections keep failing or ending within
    that, with a line saying so: a pattern's watch closed for being too far behind (4008)
    used to end.
    """
    console = console or Console()
    key = "pattern" if any(c in target for c in "*?[") else "series"
    frames = [json.dumps({"type": "subscribe", "channel": c, key: target, "id": c})
              for c in ("forecasts", "actuals")]
    try:  # the gateway's own check, before connecting
        parse_client_frame(frames[0], max_size=1 << 16)
    except FrameError as exc:
        raise BadTarget(str(exc)) from None
    seen, connected, wait, since = 0, False, delay, 0.0
    latest: dict[str, dict[str, Any]] = {}  # merged view per series (live updates are partial)
    while True:
        try:
            async with connect(url, max_size=2**22) as ws:
                connected, since = True, time.monotonic()
                seen = await _session(ws, target, frames, token, latest, console, seen,
                                      limit)
                if limit is not None and seen >= limit:
                    return seen
                why, code = f"closed by the gateway ({ws.close_code})", ws.close_code
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            code = rcvd.code if rcvd is not None else None
            why = ("the connection dropped" if rcvd is None else
                   f"closed by the gateway ({rcvd.code}{' ' + rcvd.reason if rcvd.reason else ''})")
        except OSError as exc:
            if not connected:
                raise  # never reached: say so and stop
            code, why = None, f"cannot reach it ({exc})"
        if code in STOP_CODES:
            console.print(f"[dim]{escape(why)}[/]")
            return seen
        if connected and time.monotonic() - since >= MAX_DELAY:
            wait = delay  # it had served a while: not a gateway that keeps closing at once
        console.print(f"[dim]{escape(why)}; connecting again in {wait:g} s[/]")
        await asyncio.sleep(wait)
        wait = min(wait * 2, MAX_DELAY)


async def _session(ws: Any, target: str, frames: list[str], token: str | None,
                   latest: dict[str, dict[str, Any]], console: Console, seen: int,
                   limit: int | None) -> int:
    """One connection: subscribe, print frames until the limit or the close; frames seen."""
    if token:
        await ws.send(json.dumps({"type": "auth", "token": token}))
    for frame in frames:
        await ws.send(frame)
    # is there such a series? (a subscription to none is answered `subscribed`, and no more)
    await ws.send(json.dumps({"type": "list", "pattern": target, "limit": 1, "id": "exists"}))
    offset = 0  # the shop's clock, from hello
    async for text in ws:
        frame = json.loads(text)
        kind = frame.get("type")
        if kind in ("snapshot", "update"):
            merged = absorb(latest, frame)
            if merged is None:
                continue
            line = escape(describe_update(merged, offset))
            console.print(f"[bold]{kind:8}[/] {line}", soft_wrap=True)
            seen += 1
            if limit is not None and seen >= limit:
                return seen
        elif (kind == "error" and frame.get("code") in FATAL  # a token without actuals:
              and not (frame.get("code") == "forbidden" and frame.get("id") == "actuals")):
            raise Refused(f"{frame.get('code')}: {frame.get('message')}")
        elif kind == "error":
            why = f"{frame.get('code')}: {frame.get('message')}"
            console.print(f"[red]error[/] {escape(why)}")
        elif kind == "series" and frame.get("id") == "exists" and not frame.get("series"):
            console.print(f"[yellow]no series {escape(target)} yet: waiting for its first "
                          "write (Ctrl-C stops)[/]")
        elif kind in ("hello", "subscribed", "authed"):
            if kind == "hello" and isinstance(frame.get("utc_offset"), int):
                offset = frame["utc_offset"]
            console.print(f"[dim]{kind}[/]")
    return seen


def run_watch(url: str, target: str, limit: int | None = None,
              token: str | None = None) -> int:
    return asyncio.run(watch(url, target, limit, token=token))
