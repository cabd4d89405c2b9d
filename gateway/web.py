"""The gateway's HTTP front, sans I/O: requests in, :class:`Response` objects out.

:class:`HttpFront` answers every HTTP request before a WebSocket handshake: ``/healthz``
(JSON; 503 while Redis cannot be read; before the Host check and rate limit, for probes),
then the handshake rate per address, the ``Host`` and ``Origin`` checks (:mod:`gateway.hosts`),
the connection caps (``/ws``: ``None`` lets the handshake go on), ``/metrics`` (Prometheus;
with auth on, a bearer token granting the ``ops`` channel unless the metrics are public) and
the dashboard's static files. Refusals are counted by reason.

>>> bearer_token("Bearer abc.def"), bearer_token("Basic xyz"), bearer_token(None)
('abc.def', None, None)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from importlib import resources
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from gateway.auth import AuthError, verify
from gateway.hosts import HostPolicy
from gateway.limits import Admission, Refusal
from gateway.prometheus import GatewayMetrics

__all__ = ["HttpFront", "respond", "json_response", "static_response", "metrics_response",
           "refusal_response", "bearer_token", "single_header", "address_of", "METRICS_SCOPE"]

METRICS_SCOPE = "ops"  #: the channel a token must grant to read /metrics
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml",
          ".txt": "text/plain; charset=utf-8"}


def respond(status: HTTPStatus, body: bytes | str, content_type: str = "text/plain; charset=utf-8",
            extra: tuple[tuple[str, str], ...] = ()) -> Response:
    """A complete response; the connection closes after it."""
    data = body.encode() if isinstance(body, str) else body
    headers = Headers([("Date", formatdate(usegmt=True)), ("Connection", "close"),
                       ("Content-Type", content_type), ("Content-Length", str(len(data))),
                       *extra])
    return Response(int(status), status.phrase, headers, data)


def json_response(status: int, body: dict[str, Any]) -> Response:
    return respond(HTTPStatus(status), json.dumps(body, separators=(",", ":")) + "\n",
                   "application/json", (("Cache-Control", "no-store"),))


def refusal_response(refusal: Refusal) -> Response:
    extra = () if refusal.retry_after is None else (("Retry-After", str(refusal.retry_after)),)
    return respond(refusal.status, refusal.message, extra=extra)


def static_response(path: str) -> Response | None:
    """The packaged dashboard file for a URL path, if there is one (no directory escapes)."""
    name = "index.html" if path == "/" else path.removeprefix("/static/")
    if name == path or not name or ".." in name or name.startswith("/"):
        return None
    suffix = name[name.rfind("."):] if "." in name else ""
    try:
        node = resources.files("gateway.static")
        for part in name.split("/"):
            node = node.joinpath(part)
        body = node.read_bytes()
    except (OSError, ValueError):  # no such file, a directory, a name too long, a NUL byte
        return None
    return respond(HTTPStatus.OK, body, _TYPES.get(suffix, "application/octet-stream"),
                   (("Cache-Control", "no-cache"),))


def single_header(headers: Headers, name: str) -> str | None:
    """A header that must appear at most once: its value, ``None`` if absent, ``""`` (which
    no check accepts) if repeated."""
    values = headers.get_all(name)
    return values[0] if len(values) == 1 else None if not values else ""


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def metrics_response(render: Callable[[], tuple[bytes, str]], authorization: str | None,
                     secret: str | None, public: bool,
                     clock: Callable[[], float] = time.time) -> Response:
    """``/metrics``: open without auth or when ``public``; else a bearer token granting the
    :data:`METRICS_SCOPE` channel (401 without a valid one, 403 with one that lacks it)."""
    if secret is not None and not public:
        challenge = (("WWW-Authenticate", 'Bearer realm="salescast"'),)
        token = bearer_token(authorization)
        if token is None:
            return respond(HTTPStatus.UNAUTHORIZED, "a bearer token is needed\n", extra=challenge)
        try:
            claims = verify(secret, token, clock())
        except AuthError as exc:
            return respond(HTTPStatus.UNAUTHORIZED, f"{exc}\n", extra=(
                ("WWW-Authenticate", 'Bearer realm="salescast", error="invalid_token"'),))
        if not claims.allows_channel(METRICS_SCOPE):
            return respond(HTTPStatus.FORBIDDEN,
                           f"the token does not grant the {METRICS_SCOPE!r} channel\n")
    body, ctype = render()
    return respond(HTTPStatus.OK, body, ctype, (("Cache-Control", "no-store"),))


def address_of(conn: Any) -> str:
    """The client address of a connection (its ``remote_address`` host)."""
    remote = conn.remote_address
    return str(remote[0]) if isinstance(remote, tuple) and remote else str(remote)


class HttpFront:
    """The answer to each HTTP request (``websockets``' ``process_request``; see the module
    docstring). ``health`` gives ``/healthz``'s status and body."""

    def __init__(self, hosts: HostPolicy, admission: Admission[Any], metrics: GatewayMetrics,
                 health: Callable[[], tuple[int, dict[str, Any]]], secret: str | None,
                 metrics_public: bool) -> None:
        self.hosts, self.admission, self.metrics, self.health = hosts, admission, metrics, health
        self.secret, self.metrics_public = secret, metrics_public

    def __call__(self, conn: Any, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if getattr(request, "method", "GET") != "GET":  # PUT /metrics was answered as a GET
            return respond(HTTPStatus.METHOD_NOT_ALLOWED, "only GET is served here\n",
                           extra=(("Allow", "GET"),))
        if path == "/healthz":
            status, body = self.health()
            return json_response(status, body)
        address = address_of(conn)
        headers = request.headers
        host, origin = single_header(headers, "Host"), single_header(headers, "Origin")
        refusal = self.admission.request(address) or self.hosts.check(host, origin,
                                                                      path == "/ws")
        if refusal is None and path == "/ws":
            refusal = self.admission.admit(address, conn)
            if refusal is None:
                return None
        if refusal is not None:
            self.metrics.rejected.labels(refusal.reason).inc()
            return refusal_response(refusal)
        if path == "/metrics":
            return metrics_response(self.metrics.render, single_header(headers, "Authorization"),
                                    self.secret, self.metrics_public)
        found = static_response(path)
        return found or respond(HTTPStatus.NOT_FOUND, "not found\n")

    def after(self, conn: Any, request: Request, response: Response) -> None:
        """``process_response``: a ``/ws`` request admitted above whose handshake failed (no
        upgrade header, a bad key: 400, 426) gives its connection slot back now, not at the
        next prune (10 s later: 64 bad requests locked an address out meanwhile)."""
        if response.status_code != HTTPStatus.SWITCHING_PROTOCOLS:
            self.admission.release(conn)
