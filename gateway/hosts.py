"""Which ``Host`` and ``Origin`` headers the gateway answers, sans I/O (the HTTP front's check).

The ``Host`` header must name this gateway (DNS rebinding: a page on ``evil.example`` whose name
was re-pointed at 127.0.0.1 sends ``Host: evil.example``), and a browser's ``Origin`` must be on
the allow-list (by default: the same origin as an allowed Host). The two are checked
independently; a failed check is a :class:`~gateway.limits.Refusal`. ``docs/security.md``
describes the rules and their settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

from gateway.limits import Refusal

__all__ = ["HostPolicy", "host_name", "LOOPBACK_NAMES"]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("", "0.0.0.0", "::")


def host_name(value: str | None) -> str | None:
    """The host name of a ``Host`` header or a ``host[:port]`` setting, lower case, without
    port, brackets or trailing dot; ``None`` if it is not one.

    >>> host_name("LocalHost:8765"), host_name("[::1]:80"), host_name("example.com."), \\
    ...     host_name("a b"), host_name("x:y")
    ('localhost', '::1', 'example.com', None, None)
    """
    if not value or any(ch.isspace() or ch in "/?#@\\" for ch in value):
        return None
    try:
        parts = urlsplit("//" + value)
        _ = parts.port  # raises on a bad port
    except ValueError:
        return None
    name = (parts.hostname or "").rstrip(".")
    return name or None


@dataclass
class HostPolicy:
    """Which ``Host`` and ``Origin`` headers the gateway answers.

    Hosts: the bind address; the loopback names when bound to loopback or to every interface;
    and ``allowed_hosts`` (``*``: any Host, for a proxy that checks it). Origins: ``origins``
    when given (``*``: any); otherwise an Origin whose host is an allowed host and whose
    ``host:port`` is the request's Host (same origin). Requests without an Origin (not from a
    browser) pass the Origin check.

    >>> p = HostPolicy("127.0.0.1")
    >>> p.host_allowed("127.0.0.1:8765"), p.host_allowed("localhost:8765"), \\
    ...     p.host_allowed("evil.example:8765"), p.host_allowed(None)
    (True, True, False, False)
    >>> p.origin_allowed("http://evil.example:8765", "evil.example:8765")
    False
    >>> p.origin_allowed("http://localhost:8765", "localhost:8765"), \\
    ...     p.origin_allowed("http://localhost:3000", "localhost:8765")
    (True, False)
    """

    bind_host: str
    allowed_hosts: Iterable[str] = ()
    origins: Iterable[str] = ()
    names: frozenset[str] = field(init=False)
    any_host: bool = field(init=False)

    def __post_init__(self) -> None:
        self.allowed_hosts = tuple(h.strip() for h in self.allowed_hosts if h.strip())
        self.origins = tuple(o.strip().rstrip("/").lower() for o in self.origins if o.strip())
        self.any_host = "*" in self.allowed_hosts
        names = {host_name(h) for h in self.allowed_hosts if h != "*"}
        bind = self.bind_host.strip("[]").lower()
        if bind in WILDCARD_BINDS or bind in LOOPBACK_NAMES or bind.startswith("127."):
            names.update(LOOPBACK_NAMES)
        if bind not in WILDCARD_BINDS:
            names.add(host_name(bind) if ":" not in bind else bind)
        self.names = frozenset(n for n in names if n)

    @property
    def wildcard_without_hosts(self) -> bool:
        """Bound to every interface with no names configured: only loopback names pass."""
        return self.bind_host.strip("[]") in WILDCARD_BINDS and not self.allowed_hosts

    def host_allowed(self, host: str | None) -> bool:
        name = host_name(host)
        return name is not None and (self.any_host or name in self.names)

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        if origin is None:
            return True
        if self.origins:
            return origin.rstrip("/").lower() in self.origins or "*" in self.origins
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or host is None:
            return False
        name = (parts.hostname or "").rstrip(".")
        same_origin = parts.netloc.lower().rstrip(".") == host.lower().rstrip(".")
        return same_origin and (self.any_host or name in self.names)

    def check(self, host: str | None, origin: str | None, websocket: bool) -> Refusal | None:
        """Host for every request; Origin for WebSocket handshakes."""
        if not self.host_allowed(host):
            return Refusal(HTTPStatus.MISDIRECTED_REQUEST, "host",
                           "this gateway does not answer for that Host\n")
        if websocket and not self.origin_allowed(origin, host):
            return Refusal(HTTPStatus.FORBIDDEN, "origin", "origin not allowed\n")
        return None
