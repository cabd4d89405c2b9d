"""Signed access tokens for the gateway: HMAC-SHA256, with an expiry and scopes.

A token is ``base64url(JSON claims) + "." + base64url(HMAC-SHA256(secret, first part))``. The
claims say which channels (``forecasts``, ``actuals``, ``alerts``, ``ops``) and which series
patterns (globs) the holder may read, until when (``exp``, unix seconds), which
:data:`ACTIONS` it may take besides reading (``actions``, optional: ``ack`` acknowledges
alerts; a token without the claim may take none), and carry a token id (``jti``) that the
gateway uses to limit connections per token. The secret is ``SALESCAST_AUTH_SECRET``; without
one, auth is off and :data:`OPEN` grants everything (local development only).
``salescast token`` mints tokens.

>>> tok = mint("s3cret", channels=["forecasts"], patterns=["851*"], ttl=60, now=1000)
>>> c = verify("s3cret", tok, now=1030)
>>> c.channels, c.patterns, c.allows("forecasts", "85123A"), c.allows("alerts", "85123A")
(('forecasts',), ('851*',), True, False)
>>> verify("s3cret", tok, now=2000)
Traceback (most recent call last):
...
gateway.auth.AuthError: token expired at 1060
>>> verify("other", tok, now=1030)
Traceback (most recent call last):
...
gateway.auth.AuthError: bad token signature
>>> c.can("ack"), verify("s3cret", mint("s3cret", ["alerts"], ["*"], 60, 1000,
...                                     actions=["ack"]), now=1030).can("ack"), OPEN.can("ack")
(False, True, True)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from fnmatch import fnmatchcase

from contracts.wire import CHANNELS, GROUP_SERIES, MAX_NAME_LEN
from gateway.errors import GatewayError

__all__ = ["ACTIONS", "CHANNELS", "Claims", "AuthError", "OPEN", "matches", "mint", "verify"]

MAX_TOKEN_LEN = 2048
MAX_EXP = 4_102_444_800  #: 2100-01-01 UTC: no later expiry (a signed 1e308 never ran out)
#: What a token may grant besides reading: ``ack``, acknowledging alerts.
ACTIONS = ("ack",)


class AuthError(GatewayError, ValueError):
    """A token is missing, malformed, badly signed, expired or out of scope.

    ``code`` is the error frame's code: ``unauthorized`` or ``token_expired``.
    """

    def __init__(self, message: str, code: str = "unauthorized") -> None:
        super().__init__(message)
        self.code = code


def matches(series: str, pattern: str) -> bool:
    """Whether glob ``pattern`` matches ``series``, or is that very name (a SKU ``AB[1]``: as
    a glob it matches ``AB1`` only). Scopes and the gateway's search both go by it.

    >>> matches("AB[1]", "AB[1]"), matches("AB1", "AB[1]"), matches("851A", "851*")
    (True, True, True)
    """
    return series == pattern or fnmatchcase(series, pattern)


@dataclass(frozen=True)
class Claims:
    """What a token grants."""

    channels: tuple[str, ...]
    patterns: tuple[str, ...]
    exp: float
    jti: str
    actions: tuple[str, ...] = ()

    def can(self, action: str) -> bool:
        """May the holder take ``action`` (one of :data:`ACTIONS`)?"""
        return action in self.actions

    def allows_channel(self, channel: str) -> bool:
        return channel in self.channels

    def allows_series(self, series: str) -> bool:
        """A granted glob matches ``series``, or a granted pattern is that very name (a SKU
        ``AB[1]``: as a glob it matches ``AB1`` only).

        >>> Claims(("forecasts",), ("AB[1]",), 1e9, "t").allows_series("AB[1]")
        True
        """
        return any(matches(series, p) for p in self.patterns)

    def allows(self, channel: str, series: str | None) -> bool:
        """May the holder read ``series`` (``None``: a channel without series, ops) on
        ``channel``?"""
        return self.allows_channel(channel) and (series is None or self.allows_series(series))

    def allows_alert(self, series: str) -> bool:
        """May the holder read an alert of ``series``? A group alert (series ``*``) needs the
        ``*`` pattern itself, not just a glob that happens to match the text ``*``.

        >>> c = Claims(("alerts",), ("851*", "?"), 1e9, "t")
        >>> c.allows_alert("85123A"), c.allows_alert("22423"), c.allows_alert("*")
        (True, False, False)
        >>> OPEN.allows_alert("*")
        True
        """
        if not self.allows_channel("alerts"):
            return False
        return self.allows_pattern("*") if series == GROUP_SERIES else self.allows_series(series)

    def allows_pattern(self, pattern: str) -> bool:
        """A pattern subscription is allowed when a granted pattern covers every series it can
        match: ``*``, the same pattern, or a granted ``prefix*`` the pattern starts with."""
        for p in self.patterns:
            if p == "*" or p == pattern:
                return True
            if p.endswith("*") and not any(ch in p[:-1] for ch in "*?[") and \
                    pattern.startswith(p[:-1]):
                return True
        return False

    def refuses(self, channel: str, series: str | None, pattern: str | None) -> str | None:
        """Why a subscription to ``series`` or ``pattern`` on ``channel`` is outside this
        token (``None``: it is inside)."""
        if not self.allows_channel(channel):
            return f"the token does not grant channel {channel!r}"
        if series is not None and not self.allows_series(series):
            return f"the token does not grant series {series!r}"
        if pattern is not None and not self.allows_pattern(pattern):
            return f"the token does not grant pattern {pattern!r}"
        return None


#: What everybody gets when the gateway runs without a secret.
OPEN = Claims(CHANNELS, ("*",), float("inf"), "open", ACTIONS)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())


def mint(secret: str, channels: list[str], patterns: list[str], ttl: float, now: float,
         jti: str | None = None, actions: list[str] | None = None) -> str:
    """A signed token valid for ``ttl`` seconds from ``now`` (``actions``: some of
    :data:`ACTIONS`; none by default)."""
    if not secret:
        raise ValueError("an auth secret is needed to mint tokens (SALESCAST_AUTH_SECRET)")
    bad = [c for c in channels if c not in CHANNELS]
    if bad or not channels:
        raise ValueError(f"channels must be some of {', '.join(CHANNELS)}; got {channels}")
    if not patterns or not all(isinstance(p, str) and 0 < len(p) <= MAX_NAME_LEN
                               for p in patterns):
        raise ValueError(f"patterns must be 1..{MAX_NAME_LEN}-character globs, at least one")
    if ttl <= 0:
        raise ValueError(f"ttl must be > 0 seconds, got {ttl}")
    if any(a not in ACTIONS for a in actions or ()):
        raise ValueError(f"actions must be some of {', '.join(ACTIONS)}; got {actions}")
    claims: dict[str, object] = {"ch": channels, "p": patterns, "exp": int(now + ttl),
                                 "jti": jti or secrets.token_hex(6)}
    if actions:
        claims["actions"] = sorted(set(actions))
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{body}.{_sign(secret, body)}"


def _strings(items: object, allowed: tuple[str, ...] | None) -> tuple[str, ...]:
    """A claim's list of strings (each one of ``allowed``, when given); TypeError else."""
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise TypeError("a list of strings")
    if allowed is not None and any(i not in allowed for i in items):
        raise TypeError(f"some of {', '.join(allowed)}")
    return tuple(items)


def verify(secret: str, token: object, now: float) -> Claims:
    """The token's claims, or :class:`AuthError` saying precisely what is wrong."""
    if not isinstance(token, str) or not token:
        raise AuthError("token must be a non-empty string")
    if len(token) > MAX_TOKEN_LEN or token.count(".") != 1 or not token.isascii():
        raise AuthError("malformed token")  # base64url: HMAC compares and signs ASCII only
    body, sig = token.split(".")
    if not hmac.compare_digest(sig, _sign(secret, body)):
        raise AuthError("bad token signature")
    try:
        raw = json.loads(_unb64(body))
        # what mint writes, and nothing else: a signed "ops" string read as channels o, p, s
        channels, patterns = _strings(raw["ch"], CHANNELS), _strings(raw["p"], None)
        exp, jti = raw["exp"], raw["jti"]
        if type(exp) not in (int, float) or not 0 < exp < MAX_EXP:  # NaN, inf, 1e308: never
            raise TypeError("exp must be a time before 2100")
        if not isinstance(jti, str):
            raise TypeError("jti must be a string")
        actions = _strings(raw.get("actions", []), ACTIONS)  # absent before actions existed
    except (ValueError, KeyError, TypeError, OverflowError):
        raise AuthError("malformed token claims") from None
    if now >= exp:
        raise AuthError(f"token expired at {int(exp)}", code="token_expired")
    return Claims(channels, patterns, exp, jti, actions)
