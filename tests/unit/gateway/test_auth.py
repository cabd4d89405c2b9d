"""Gateway auth and limits, sans I/O: every violation is an error frame, never a crash."""

from __future__ import annotations

import json

import pytest

from gateway.auth import AuthError, mint, verify
from gateway.limits import RateLimit
from gateway.protocol import AuthRequest, Close, Reply, Session, SnapshotRequest

SECRET = "test-secret"
NOW = 1_000_000.0


def _frames(outs: list) -> list[dict]:
    return [json.loads(o.text) for o in outs if isinstance(o, Reply)]


def _session(**kw) -> Session:
    clock = kw.pop("clock", lambda: NOW)
    return Session(secret=SECRET, clock=clock, **kw)


def _auth(s: Session, token: str) -> list:
    return s.receive(json.dumps({"type": "auth", "token": token}))


def _token(channels=("forecasts", "alerts"), patterns=("851*",), ttl=60.0) -> str:
    return mint(SECRET, list(channels), list(patterns), ttl, NOW)


@pytest.mark.parametrize("token", ["abc.\u00e9", "\u00e9.abc", "\ud800.x", "abc.\ud800"])
def test_non_ascii_tokens_are_malformed_not_a_crash(token: str) -> None:
    with pytest.raises(AuthError, match="malformed token"):
        verify(SECRET, token, NOW)
    s = _session()
    frame = json.dumps({"type": "auth", "token": token, "id": 1})
    assert _frames(s.receive(frame)) == [
        {"type": "error", "code": "unauthorized", "message": "malformed token", "id": 1}]
    assert s.claims is None


def test_everything_before_auth_is_unauthorized() -> None:
    s = _session()
    for frame in ('{"type": "ping"}', '{"type": "subscribe", "series": "85123A"}',
                  '{"type": "list"}', '{"type": "movers"}'):
        assert _frames(s.receive(frame))[0]["code"] == "unauthorized"
    assert not s.wants("forecasts", "85123A")


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("garbage", "unauthorized"),
        ("a.b", "unauthorized"),
        ("a.b.c", "unauthorized"),
        (mint("other-secret", ["forecasts"], ["*"], 60, NOW), "unauthorized"),
        (mint(SECRET, ["forecasts"], ["*"], 10, NOW - 60), "token_expired"),
    ],
)
def test_bad_tokens_get_error_frames(token: str, code: str) -> None:
    s = _session()
    frames = _frames(_auth(s, token))
    assert frames[0]["type"] == "error" and frames[0]["code"] == code
    assert s.claims is None


def test_tampered_claims_fail_the_signature() -> None:
    body, sig = _token().split(".")
    forged = mint("x", ["forecasts", "ops"], ["*"], 60, NOW).split(".")[0]
    with pytest.raises(AuthError, match="signature"):
        verify(SECRET, f"{forged}.{sig}", NOW)
    assert verify(SECRET, f"{body}.{sig}", NOW).patterns == ("851*",)


def test_scopes_limit_channels_series_and_patterns() -> None:
    s = _session()
    outs = _auth(s, _token())
    assert _frames(outs)[0]["type"] == "authed" and isinstance(outs[1], AuthRequest)
    ok = s.receive('{"type": "subscribe", "series": "85123A"}')
    assert isinstance(ok[1], SnapshotRequest)
    for frame in ('{"type": "subscribe", "series": "22423"}',
                  '{"type": "subscribe", "pattern": "*"}',
                  '{"type": "subscribe", "pattern": "2*"}',
                  '{"type": "subscribe", "channel": "ops"}',
                  '{"type": "subscribe", "channel": "actuals", "series": "85123A"}'):
        assert _frames(s.receive(frame))[0]["code"] == "forbidden", frame
    assert isinstance(s.receive('{"type": "subscribe", "pattern": "8512*"}')[1], SnapshotRequest)
    # an alerts subscription without a target is "every series", filtered to the grant
    s.receive('{"type": "subscribe", "channel": "alerts", "pattern": "851*"}')
    assert s.wants("alerts", "85123A") and not s.wants("alerts", "22423")


def test_token_expiry_mid_session() -> None:
    now = [NOW]
    s = _session(clock=lambda: now[0])
    _auth(s, _token(ttl=30))
    s.receive('{"type": "subscribe", "series": "85123A"}')
    assert s.wants("forecasts", "85123A")
    now[0] = NOW + 31
    assert not s.wants("forecasts", "85123A")  # no more updates
    assert _frames(s.receive('{"type": "ping"}'))[0]["code"] == "token_expired"


def test_rate_limit_answers_errors_then_closes() -> None:
    t = [0.0]
    s = Session(rate=RateLimit(rate=1, burst=3, clock=lambda: t[0]), max_rate_errors=5)
    codes = [(_frames(s.receive('{"type": "ping"}')) or [{}])[0].get("code") for _ in range(7)]
    assert codes[:3] == [None, None, None] and codes[3:7] == ["rate_limited"] * 4
    assert s.receive('{"type": "ping"}') == [Close(1008, "message rate limit exceeded")]
    t[0] = 10.0
    assert _frames(s.receive('{"type": "ping"}'))[0]["type"] == "pong"


def test_rate_limit_closes_a_client_that_stays_over_its_rate() -> None:
    """A frame every 0.1 s against 1 a second: a frame gets through now and then, which does
    not forgive the refusals in between (the budget never refills to half the burst)."""
    t = [0.0]
    s = Session(rate=RateLimit(rate=1, burst=4, clock=lambda: t[0]), max_rate_errors=20)
    outs = []
    for _ in range(60):
        t[0] += 0.1
        outs.append(s.receive('{"type": "ping"}'))
    close = [Close(1008, "message rate limit exceeded")]
    closes = [i for i, out in enumerate(outs) if out == close]
    assert closes and closes[0] < 40
    assert any(_frames(o) and _frames(o)[0]["type"] == "pong" for o in outs[4:closes[0]])


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('{"type": "subscribe", "channel": "weather", "series": "A"}', "bad_frame"),
        ('{"type": "subscribe", "channel": "ops", "series": "A"}', "bad_frame"),
        ('{"type": "subscribe", "series": "A", "since": "x"}', "bad_frame"),
        ('{"type": "subscribe", "channel": "alerts", "since": 5}', "bad_frame"),
        ('{"type": "auth"}', "bad_frame"),
        ('{"type": "auth", "token": 5}', "bad_frame"),
        ('{"type": "movers", "limit": 1000}', "bad_frame"),
    ],
)
def test_bad_new_frames(frame: str, code: str) -> None:
    assert _frames(Session().receive(frame))[0]["code"] == code


def test_resume_point_and_channels_reach_the_snapshot_request() -> None:
    s = Session()
    out = s.receive('{"type": "subscribe", "channel": "actuals", "series": "A", "since": 41}')
    assert out[1] == SnapshotRequest("A", None, "actuals", 41)
    out = s.receive('{"type": "subscribe", "channel": "alerts", "since": "1700-0"}')
    assert out[1] == SnapshotRequest(None, "*", "alerts", "1700-0")
    out = s.receive('{"type": "subscribe", "channel": "ops"}')
    assert out[1] == SnapshotRequest(None, None, "ops", None) and s.wants("ops")


def test_mint_rejects_bad_scopes() -> None:
    with pytest.raises(ValueError):
        mint(SECRET, ["weather"], ["*"], 60, NOW)
    with pytest.raises(ValueError):
        mint(SECRET, ["ops"], [], 60, NOW)
    with pytest.raises(ValueError):
        mint("", ["ops"], ["*"], 60, NOW)


@pytest.mark.parametrize("claims", [
    {"ch": "ops", "p": ["*"], "exp": 2e9, "jti": "t"},  # read as the channels o, p and s
    {"ch": ["secrets"], "p": ["*"], "exp": 2e9, "jti": "t"},
    {"ch": ["ops"], "p": ["*"], "exp": 2e9, "jti": "t", "actions": ["admin"]},
    {"ch": ["ops"], "p": ["*"], "exp": 2e9, "jti": {"a": 1}},
    {"ch": ["ops"], "p": ["*"], "exp": 1e308, "jti": "t"},  # never expires
    {"ch": ["ops"], "p": [7], "exp": 2e9, "jti": "t"},
])
def test_signed_claims_of_another_shape_than_mint_writes_are_refused(claims: dict) -> None:
    """Only someone with the secret can sign these, but the gateway took each one as it came."""
    from gateway.auth import _b64, _sign

    body = _b64(json.dumps(claims).encode())
    with pytest.raises(AuthError, match="malformed token claims"):
        verify("k", f"{body}.{_sign('k', body)}", now=1e9)


def test_a_token_that_expires_under_the_connection_is_said_once_then_closed() -> None:
    """The updates stopped without a word, and the close 10 s later said "authentication
    timeout"."""
    t = [1000.0]
    s = Session(secret="k", clock=lambda: t[0], auth_timeout=10)
    s.receive(json.dumps({"type": "auth", "token": mint("k", ["forecasts"], ["*"], ttl=60,
                                                         now=1000.0)}))
    assert s.expiry_notice() is None and s.overdue() is None
    t[0] = 1060.0
    notice = json.loads(s.expiry_notice() or "{}")
    assert notice["code"] == "token_expired" and "within 10 s" in notice["message"]
    assert s.expiry_notice() is None  # once
    t[0] = 1070.0
    assert s.overdue() == Close(1008, "the token expired and no new one came")
    s.receive(json.dumps({"type": "auth", "token": mint("k", ["forecasts"], ["*"], ttl=60,
                                                         now=1070.0)}))
    assert s.overdue() is None and s.expiry_notice() is None  # a new token: told again later
    t[0] = 1130.0
    assert s.expiry_notice() is not None


def test_a_client_may_name_an_aggregate_of_a_long_country() -> None:
    """A probe: a country of 64 characters makes the series ``country:`` + 64 characters, which
    the worker writes, but a subscribe to it (and a token naming it) was refused at 64."""
    from gateway.messages import parse_client_frame

    name = "country:" + "C" * 64
    frame = parse_client_frame(json.dumps({"type": "subscribe", "series": name}), 4096)
    assert frame.series == name  # type: ignore[union-attr]
    claims = verify("k", mint("k", ["forecasts"], [name], 60, 0.0), 1.0)
    assert claims.allows_series(name)
