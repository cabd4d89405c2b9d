"""``salescast gateway``, ``watch`` and ``token``: serve the WebSocket gateway, follow it from a
terminal, mint its access tokens."""

from __future__ import annotations

import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

import typer

from config import load_settings
from config.addresses import host_port, make_url, redacted
from salescast.cliutil import UserError, console, friendly, settings_with_services

__all__ = ["gateway", "watch", "token", "MAX_TTL"]

#: the longest a minted token may live (ten years, in seconds)
MAX_TTL = 10 * 365 * 86400


@friendly
def gateway(
    host: Annotated[str | None, typer.Option(
        help="bind address (default: SALESCAST_GATEWAY_HOST, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(
        min=0, max=65535, help="port, 0 picks a free one (default: SALESCAST_GATEWAY_PORT, "
                               "8765)")] = None,
) -> None:
    """Run the WebSocket gateway (snapshots from Redis, then live updates).

    Example: `salescast gateway --host 0.0.0.0 --port 8765` (set SALESCAST_AUTH_SECRET and
    SALESCAST_ALLOWED_HOSTS before binding beyond loopback; docs/security.md).
    """
    import asyncio
    import logging

    from redis.exceptions import RedisError

    from gateway.server import Gateway

    bind = _bind_host(host)  # before the services: a bad argument is named first
    # timestamps and the gateway's own lines (slow clients closed, snapshots sent again);
    # the libraries' warnings only
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("salescast").setLevel(logging.INFO)
    settings = settings_with_services(("redis",))
    gw = Gateway.from_settings(settings, bind, port)

    async def run() -> None:
        try:
            await gw.start()
        except RedisError as exc:
            raise UserError(f"redis at {redacted(settings.redis)} does not answer: {exc}"
                            ) from None
        except OSError as exc:  # the bind: address in use, not this host's, unknown name
            raise UserError(f"cannot listen on {host_port(gw.host, gw.port)}: "
                            f"{exc.strerror or exc}"
                            ) from None
        console.print(f"gateway listening on {gw.url} (dashboard "
                      f"{make_url('http', gw.host, gw.port, '/')})")
        if settings.auth_secret is None:
            console.print("[yellow]auth is off (SALESCAST_AUTH_SECRET unset): local use only[/]")
        try:
            await asyncio.Future()
        finally:
            await gw.stop()

    asyncio.run(run())


@friendly
def watch(
    series: Annotated[str, typer.Argument(help="a series id, or a glob pattern like '85123*'")],
    url: Annotated[str | None, typer.Option(help=(
        "gateway WebSocket URL, ws:// or wss:// (default: ws://SALESCAST_GATEWAY_HOST:"
        "SALESCAST_GATEWAY_PORT/ws)"))] = None,
    count: Annotated[int | None, typer.Option(
        min=1, help="exit after N frames of data, snapshots included (default: never)")] = None,
    token: Annotated[str | None, typer.Option(envvar="SALESCAST_TOKEN",
                                              help="access token (`salescast token`)")] = None,
) -> None:
    """Print live forecast updates of a series in the terminal.

    Example: `salescast watch 85123A --count 5`, or a pattern: `salescast watch '2*'`.
    """
    from websockets.exceptions import WebSocketException

    from gateway.watch import BadTarget, Refused, run_watch

    settings = load_settings()
    if url is not None and not url.strip():  # it fell back to the default without a word
        raise UserError("--url needs a ws:// or wss:// URL, got ''")
    if url is None and settings.gateway_port == 0:
        raise UserError("SALESCAST_GATEWAY_PORT is 0 (the gateway picks a port when it "
                        "starts): pass --url with the address the gateway printed")
    target = url or make_url("ws", settings.gateway_host, settings.gateway_port, "/ws")
    _check_ws_url(target)
    try:
        run_watch(target, series, count, token)
    except BadTarget as exc:  # before connecting
        shown = series if len(series) <= 80 else f"{series[:60]}... ({len(series)} characters)"
        raise UserError(f"{shown!r} is no series or pattern to watch: {exc}") from None
    except Refused as exc:
        hint = ("; pass --token \"$(salescast token)\" (or set SALESCAST_TOKEN)"
                if str(exc).startswith(("unauthorized", "token_expired")) else "")
        raise UserError(f"the gateway refused {series!r}: {exc}{hint}") from None
    except (OSError, WebSocketException) as exc:
        raise UserError(f"cannot reach the gateway at {target}: {exc} (is `salescast gateway`"
                        f" or `salescast demo` running there?)") from None


def _bind_host(host: str | None) -> str | None:
    """``--host`` as the gateway binds it: an IPv6 address without its brackets; a
    :class:`UserError` for an empty one or one with a port.

    >>> _bind_host("[::1]"), _bind_host("0.0.0.0"), _bind_host(None)
    ('::1', '0.0.0.0', None)
    >>> _bind_host("127.0.0.1:80")
    Traceback (most recent call last):
    ...
    salescast.cliutil.UserError: --host '127.0.0.1:80': the address alone, the port goes in --port
    """
    if host is None:
        return None
    bare = host.strip().removeprefix("[").removesuffix("]")
    if not bare:
        raise UserError("--host must not be empty (default: SALESCAST_GATEWAY_HOST)")
    if ":" in bare:
        try:
            ipaddress.IPv6Address(bare)
        except ValueError:
            raise UserError(f"--host {host!r}: the address alone, the port goes in "
                            "--port") from None
    return bare


def _check_ws_url(url: str) -> None:
    """A :class:`UserError` unless ``url`` is a ws:// or wss:// URL with a host and, if it has
    one, a port that is a number in 0-65535 (websockets raises a ValueError on it).

    >>> _check_ws_url("ws://127.0.0.1:8765/ws"), _check_ws_url("wss://[::1]/ws")
    (None, None)
    >>> _check_ws_url("ws://127.0.0.1:99999/ws")
    Traceback (most recent call last):
    ...
    salescast.cliutil.UserError: --url 'ws://127.0.0.1:99999/ws': port out of range 0-65535
    """
    if not url.startswith(("ws://", "wss://")):
        raise UserError(f"--url must start with ws:// or wss://, got {url!r}")
    try:
        parts = urlsplit(url)
        _ = parts.port  # ValueError: not a number, or out of range
    except ValueError as exc:
        why = str(exc)
        raise UserError(f"--url {url!r}: {why[:1].lower() + why[1:]}") from None
    if not parts.hostname:
        raise UserError(f"--url {url!r} names no host")


@friendly
def token(
    channels: Annotated[str, typer.Option(help="comma-separated: forecasts,actuals,alerts,ops")] = (
        "forecasts,actuals,alerts,ops"),
    patterns: Annotated[str | None, typer.Option(help=(
        "comma-separated series globs (default: '*', every series, unless --series is given)"))
    ] = None,
    series: Annotated[list[str] | None, typer.Option(help=(
        "a series granted by its exact name, as it is (commas, spaces and glob characters "
        "included: 'AB[1]' grants AB[1], not AB1); repeatable"))] = None,
    ttl: Annotated[float, typer.Option(min=1, max=MAX_TTL, help=(
        "seconds the token is valid (at most ten years)"))] = 86400.0,
    action: Annotated[list[str] | None, typer.Option(
        help="an action the token may take besides reading (ack: acknowledge alerts); "
        "repeatable")] = None,
) -> None:
    """Mint a gateway access token signed with SALESCAST_AUTH_SECRET (prints it on stdout).

    Example: `salescast token --channels forecasts,alerts --patterns '851*' --ttl 3600`.
    """
    import glob
    import time

    from gateway.auth import MAX_TOKEN_LEN, mint

    secret = load_settings().secret
    if not secret:
        raise UserError("SALESCAST_AUTH_SECRET is not set: the gateway runs without auth")
    chans = [c.strip() for c in channels.split(",") if c.strip()]
    if "ack" in (action or []) and "alerts" not in chans:
        raise UserError("--action ack acknowledges alerts: add alerts to --channels")
    globs = [p.strip() for p in (patterns or "").split(",") if p.strip()]
    if patterns is not None and not globs:  # (an empty variable in a script: not every series)
        raise UserError(f"--patterns {patterns!r} names no glob: give '*' for every series")
    if any(not s for s in series or []):
        raise UserError("--series '' names no series")
    try:
        exact = [glob.escape(s) for s in series or []]  # "[" -> "[[]": matches itself only
        tok = mint(secret, chans, globs + exact or ["*"], ttl, time.time(),
                   actions=action or [])
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if len(tok) > MAX_TOKEN_LEN:  # the gateway would refuse it as malformed
        raise UserError(f"the token would be {len(tok)} characters, the gateway takes at most "
                        f"{MAX_TOKEN_LEN}: name fewer or shorter --patterns")
    print(tok)
