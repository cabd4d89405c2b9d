"""The services' addresses: ``REDIS_URL`` and ``KAFKA_BOOTSTRAP`` checked when the settings
are read, and the local services' state file (``salescast services up``) read with a clear
error, so that a malformed address is one line at start, not a traceback from the client
library or a ten-second timeout later.

>>> check_redis_url("redis://127.0.0.1:6379/0"), check_bootstrap("127.0.0.1:9092,[::1]:9093")
('redis://127.0.0.1:6379/0', '127.0.0.1:9092,[::1]:9093')
>>> check_bootstrap("127.0.0.1")
Traceback (most recent call last):
...
ValueError: must be host:port[,host:port...]
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from config.messages import ConfigError

__all__ = ["check_bootstrap", "check_host", "check_origins", "check_redis_url", "host_port",
           "make_url", "read_services", "redacted", "split_server"]


def redacted(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part (and a ``password=`` query
    value) starred, for messages and logs.

    >>> redacted("redis://admin:s3cret@10.0.0.5:6379/0"), redacted("redis://:pw@h:1?password=x")
    ('redis://admin:***@10.0.0.5:6379/0', 'redis://:***@h:1?password=***')
    >>> redacted("redis://127.0.0.1:6379/0")
    'redis://127.0.0.1:6379/0'
    """
    scheme, sep, rest = url.partition("://")
    if sep:
        netloc, slash, tail = rest.partition("/")
        user, at, host = netloc.rpartition("@")
        if at and ":" in user:
            netloc = f"{user.split(':', 1)[0]}:***@{host}"
        rest = f"{netloc}{slash}{tail}"
    return re.sub(r"(?i)(password=)[^&#]*", r"\1***", f"{scheme}{sep}{rest}")


def check_redis_url(url: str | None) -> str | None:
    """``url`` when it is a URL that redis-py reads (``redis://`` or ``rediss://`` with a port
    that is a number in range, or ``unix://``); ValueError otherwise. None stays None (not
    set). (urllib, not redis-py: settings import no I/O library.)"""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError("the scheme must be redis://, rediss:// or unix://")
        _ = parts.port  # ValueError: not a number, or out of range
        for name, values in parse_qs(parts.query).items():  # numbers, as redis-py reads them
            number = _NUMBERS.get(name)  # (its first value; its booleans take any text)
            if number is not None:
                try:
                    number(values[0])
                except ValueError:
                    raise ValueError(f"{name} must be {'an int' if number is int else 'a number'}"
                                     ) from None
    except ValueError as exc:
        raise ValueError(f"is not a Redis URL ({exc})") from None
    return url


#: redis-py's numeric URL options (``redis.connection.URL_QUERY_ARGUMENT_PARSERS``)
_NUMBERS: dict[str, type[int] | type[float]] = {
    **dict.fromkeys(("db", "socket_read_size", "max_connections", "protocol",
                     "health_check_interval", "ssl_min_version"), int),
    **dict.fromkeys(("socket_timeout", "socket_connect_timeout", "timeout"), float)}


def check_bootstrap(value: str | None) -> str | None:
    """``value`` when every comma-separated server is ``host:port`` (an optional
    ``PLAINTEXT://``-like prefix, ``[v6]:port``), the port 1-65535; ValueError otherwise."""
    if value is None:
        return None
    for server in value.split(","):
        host, port = split_server(server)
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port[,host:port...]")
    return value


_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?")


def check_host(value: str) -> str:
    """``value`` when it is a host to bind or reach: an IP address (v4, or v6 without
    brackets) or a DNS name, no port; ValueError otherwise.

    >>> check_host("0.0.0.0"), check_host("::"), check_host("gateway.internal")
    ('0.0.0.0', '::', 'gateway.internal')
    >>> check_host("127.0.0.1:80")
    Traceback (most recent call last):
    ...
    ValueError: must be a bare host (a name, an IP address), no port
    """
    import ipaddress

    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if len(value) > 253 or not _HOST.fullmatch(value) or value.replace(".", "").isdigit():
        raise ValueError("must be a bare host (a name, an IP address), no port")
    return value


def split_server(server: str) -> tuple[str, str]:
    """The host (an IPv6 literal without its brackets) and the port text of one bootstrap
    server, ``host:port`` with an optional ``PLAINTEXT://``-like prefix.

    >>> split_server(" PLAINTEXT://[::1]:9092"), split_server("kafka:9093")
    (('::1', '9092'), ('kafka', '9093'))
    """
    host, _, port = server.strip().split("://", 1)[-1].rpartition(":")
    return host.strip("[]"), port


def host_port(host: str, port: int) -> str:
    """``host:port``, an IPv6 literal host in brackets (as a URL and Kafka write it); a host
    given in brackets is kept as it is.

    >>> host_port("127.0.0.1", 8765), host_port("::1", 8765), host_port("[::1]", 80)
    ('127.0.0.1:8765', '[::1]:8765', '[::1]:80')
    """
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return f"[{bare}]:{port}" if ":" in bare else f"{bare}:{port}"


def make_url(scheme: str, host: str, port: int, path: str = "") -> str:
    """``scheme://host:port`` + ``path``: every URL salescast builds from a host and a port.

    >>> make_url("ws", "::1", 8765, "/ws"), make_url("http", "localhost", 80, "/")
    ('ws://[::1]:8765/ws', 'http://localhost:80/')
    """
    return f"{scheme}://{host_port(host, port)}{path}"


def read_services(path: Path) -> dict[str, Any]:
    """The JSON object in the services state file at ``path`` ({} when there is none);
    :class:`ConfigError` when it is not one (the settings take their addresses from it,
    ``infra.services.read_state`` the whole state)."""
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"unreadable services state {path} ({exc}): remove it and retry"
                          ) from None
    if not isinstance(state, dict):
        raise ConfigError(f"unreadable services state {path} (not a JSON object): remove it "
                          "and retry")
    try:  # the addresses, as the settings check them (a hand-edited file)
        check_bootstrap(state.get("kafka_bootstrap")), check_redis_url(state.get("redis_url"))
    except (ValueError, AttributeError, TypeError) as exc:
        raise ConfigError(f"unreadable services state {path} (an address {exc}): remove it "
                          "and retry") from None
    return state


def check_origins(origins: Any) -> Any:
    """The gateway's Origin allow-list: ``*``, or origins as browsers send them (a scheme and
    a host, a port if any: ``https://shop.example.com``); an entry that no browser sends
    would never match, so it is refused.

    >>> check_origins(("https://shop.example.com", "http://127.0.0.1:8765/", "*"))[0]
    'https://shop.example.com'
    >>> check_origins(("shop.example.com",))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: must be origins such as https://shop.example.com (a scheme and a host, ...
    """
    for origin in origins if isinstance(origins, tuple) else ():
        if origin != "*" and not _is_origin(origin):
            raise ValueError(f"must be origins such as https://shop.example.com (a scheme and "
                             f"a host, no path; * for any): {origin[:80]} is none")
    return origins


def _is_origin(text: str) -> bool:
    """Whether ``text`` is an origin a browser sends: http(s), a host, a port if any (1-65535),
    nothing else (a trailing ``/`` is forgiven; case does not matter).

    >>> [_is_origin(t) for t in ("https://a.example:8443", "HTTPS://A.example/",
    ...                          "https://*.example", "https://a.example:99999", "http://:80")]
    [True, True, False, False, False]
    """
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return False
    return (parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and port_ok
            and "*" not in parts.netloc and "@" not in parts.netloc
            and parts.path in ("", "/") and not parts.query and not parts.fragment)
