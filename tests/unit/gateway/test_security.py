"""The gateway's defences without sockets: Host/Origin, caps and rates, the auth deadline,
the nesting bound, slow clients, /metrics auth (docs/security.md)."""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from gateway.auth import mint
from gateway.hosts import HostPolicy, host_name
from gateway.limits import Admission, StallWatch, TokenSlots
from gateway.messages import MAX_DEPTH, nests_deeper_than
from gateway.protocol import Close, Reply, Session
from gateway.server import Gateway
from gateway.web import METRICS_SCOPE, metrics_response, single_header

SECRET = "s3cret"


# -- E: nesting bound ---------------------------------------------------------------------------

@pytest.mark.parametrize("secret", [None, SECRET])
def test_deep_nesting_is_a_bad_json_error_frame_before_auth(secret: str | None) -> None:
    s = Session(secret=secret, max_frame=1 << 20)
    for text in ("[" * 4096, "[" * 2048 + "]" * 2048, '{"a":' * 600 + "1" + "}" * 600,
                 "[" * 200_000,
                 '{"type": "ping", "pad": ' + "[" * 33 + "]" * 33 + "}"):
        out = s.receive(text)
        assert len(out) == 1 and isinstance(out[0], Reply), out
        frame = json.loads(out[0].text)
        assert frame["type"] == "error" and frame["code"] == "bad_json", frame


def test_nesting_up_to_the_bound_and_brackets_in_strings_are_fine() -> None:
    s = Session()
    ok = '{"type": "ping", "id": 1, "pad": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"
    assert json.loads(s.receive(ok)[0].text) == {"type": "pong", "id": 1}
    in_string = '{"type": "ping", "id": 2, "pad": "' + "[" * 500 + '"}'
    assert json.loads(s.receive(in_string)[0].text) == {"type": "pong", "id": 2}
    assert not nests_deeper_than('["\\"' + "[" * 40 + '"]', 3)  # an escaped quote
    assert nests_deeper_than('["\\\\"' + ",[" * 4 + "]" * 4 + "]", 3)  # an escaped backslash
    assert nests_deeper_than("[" * 40, 32)


# -- D: auth deadline ---------------------------------------------------------------------------

def test_auth_deadline_closes_unauthenticated_connections() -> None:
    t = [1000.0]
    s = Session(secret=SECRET, clock=lambda: t[0], auth_timeout=10)
    s.receive('{"type": "ping"}')  # frames before auth do not stop the clock
    t[0] = 1009.9
    assert s.overdue() is None
    t[0] = 1010.0
    assert s.overdue() == Close(1008, "authentication timeout")


def test_auth_deadline_is_met_by_a_token_and_restarts_when_it_expires() -> None:
    t = [1000.0]
    s = Session(secret=SECRET, clock=lambda: t[0], auth_timeout=10)
    token = mint(SECRET, ["forecasts"], ["*"], ttl=100, now=1000.0)
    assert json.loads(s.receive(json.dumps({"type": "auth", "token": token}))[0].text)[
        "type"] == "authed"
    t[0] = 1099.0
    assert s.overdue() is None
    t[0] = 1105.0  # expired at 1100: 5 s into the new deadline
    assert s.overdue() is None
    t[0] = 1110.0
    assert s.overdue() == Close(1008, "the token expired and no new one came")


def test_without_auth_a_connection_must_send_one_valid_frame() -> None:
    t = [0.0]
    idle = Session(clock=lambda: t[0], auth_timeout=10)
    chatty = Session(clock=lambda: t[0], auth_timeout=10)
    junk = Session(clock=lambda: t[0], auth_timeout=10)
    chatty.receive('{"type": "subscribe", "channel": "ops"}')
    junk.receive("not json")
    t[0] = 10.0
    assert idle.overdue() == Close(1008, "no request within 10 s")
    assert junk.overdue() is not None
    assert chatty.overdue() is None
    assert Session(clock=lambda: t[0], auth_timeout=None).overdue() is None


# -- D: caps and rates --------------------------------------------------------------------------

def test_admission_caps_per_address_and_in_all() -> None:
    a: Admission[str] = Admission(per_address=2, total=3, rate=100, burst=100)
    assert a.admit("10.0.0.1", "a1") is None and a.admit("10.0.0.1", "a2") is None
    refusal = a.admit("10.0.0.1", "a3")
    assert refusal is not None and refusal.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert refusal.reason == "address_cap"
    assert a.admit("10.0.0.2", "b1") is None
    refusal = a.admit("10.0.0.3", "c1")
    assert refusal is not None and refusal.reason == "global_cap" and refusal.status == 503
    a.release("a1")
    a.release("a1")  # twice is harmless
    assert a.open_from("10.0.0.1") == 1 and len(a) == 2
    assert a.admit("10.0.0.3", "c1") is None
    assert a.prune(lambda key: key != "b1") == 1 and a.open_from("10.0.0.2") == 0


def test_handshake_rate_is_a_token_bucket_per_address() -> None:
    t = [0.0]
    a: Admission[str] = Admission(rate=20, burst=40, clock=lambda: t[0])
    answers = [a.request("10.0.0.1") for _ in range(41)]
    assert all(r is None for r in answers[:40])
    assert answers[40] is not None and answers[40].status == HTTPStatus.TOO_MANY_REQUESTS
    assert answers[40].retry_after == 1
    assert a.request("10.0.0.2") is None  # another address has its own bucket
    t[0] = 0.1  # 2 tokens back
    assert [a.request("10.0.0.1") is None for _ in range(3)] == [True, True, False]


def test_idle_rate_buckets_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.limits as limits

    monkeypatch.setattr(limits, "MAX_BUCKETS", 10)
    t = [0.0]
    a: Admission[str] = Admission(rate=1, burst=2, clock=lambda: t[0])
    for i in range(10):
        a.request(f"10.0.0.{i}")
    t[0] = 5.0  # all refilled
    a.request("10.0.1.1")
    assert len(a._buckets) == 1


def test_token_slots() -> None:
    slots: TokenSlots[str] = TokenSlots(limit=2)
    assert slots.take("c1", "t1") and slots.take("c2", "t1") and not slots.take("c3", "t1")
    assert slots.take("c1", "t2")  # re-auth with another token frees the old slot
    assert slots.take("c3", "t1") and slots.counts == {"t1": 2, "t2": 1}
    for key in ("c1", "c2", "c3"):
        slots.release(key)
    assert not slots.counts


# -- C: Host and Origin -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("bind", "allowed", "host", "ok"),
    [
        ("127.0.0.1", (), "127.0.0.1:8765", True),
        ("127.0.0.1", (), "localhost:8765", True),
        ("127.0.0.1", (), "[::1]:8765", True),
        ("127.0.0.1", (), "evil.example:8765", False),
        ("127.0.0.1", (), "evil.example", False),
        ("127.0.0.1", (), "127.0.0.1.nip.io", False),
        ("127.0.0.1", (), None, False),
        ("127.0.0.1", (), "", False),
        ("127.0.0.1", (), "127.0.0.1:bad", False),
        ("127.0.0.1", ("gw.example.com",), "GW.Example.com.:443", True),
        ("0.0.0.0", (), "localhost:8765", True),
        ("0.0.0.0", (), "10.1.2.3:8765", False),
        ("0.0.0.0", ("10.1.2.3", "gw.example.com:8765"), "10.1.2.3:8765", True),
        ("0.0.0.0", ("10.1.2.3", "gw.example.com:8765"), "gw.example.com", True),
        ("10.1.2.3", (), "10.1.2.3:8765", True),
        ("10.1.2.3", (), "localhost:8765", False),
        ("::1", (), "[::1]:8765", True),
        ("127.0.0.1", ("*",), "anything.example", True),
    ],
)
def test_host_check(bind: str, allowed: tuple[str, ...], host: str | None, ok: bool) -> None:
    assert HostPolicy(bind, allowed).host_allowed(host) is ok


def test_dns_rebinding_is_refused_with_421_though_origin_matches_host() -> None:
    policy = HostPolicy("127.0.0.1")
    refusal = policy.check("evil.example:8765", "http://evil.example:8765", websocket=True)
    assert refusal is not None and refusal.status == HTTPStatus.MISDIRECTED_REQUEST
    assert policy.check("127.0.0.1:8765", "http://127.0.0.1:8765", websocket=True) is None


@pytest.mark.parametrize(
    ("origins", "origin", "host", "ok"),
    [
        ((), None, "127.0.0.1:8765", True),  # not a browser
        ((), "http://127.0.0.1:8765", "127.0.0.1:8765", True),
        ((), "http://localhost:8765", "127.0.0.1:8765", False),  # not the same origin
        ((), "http://127.0.0.1:3000", "127.0.0.1:8765", False),
        ((), "https://evil.example", "127.0.0.1:8765", False),
        ((), "null", "127.0.0.1:8765", False),
        ((), "", "127.0.0.1:8765", False),  # a repeated Origin header
        (("https://dash.example.com",), "https://dash.example.com", "127.0.0.1:8765", True),
        (("https://dash.example.com",), "https://dash.example.com/", "127.0.0.1:8765", True),
        (("https://dash.example.com",), "http://127.0.0.1:8765", "127.0.0.1:8765", False),
        (("*",), "https://anything.example", "127.0.0.1:8765", True),
        (("HTTPS://Dash.Example.com",), "https://dash.example.com", "127.0.0.1:8765", True),
    ],
)
def test_origin_check(origins: tuple[str, ...], origin: str | None, host: str,
                      ok: bool) -> None:
    assert HostPolicy("127.0.0.1", (), origins).origin_allowed(origin, host) is ok


def test_origin_is_checked_on_websocket_handshakes_only_and_host_on_everything() -> None:
    policy = HostPolicy("127.0.0.1")
    assert policy.check("127.0.0.1", "https://evil.example", websocket=False) is None
    refusal = policy.check("127.0.0.1", "https://evil.example", websocket=True)
    assert refusal is not None and refusal.status == HTTPStatus.FORBIDDEN
    assert policy.check("evil.example", None, websocket=False) is not None


def test_host_names_and_repeated_headers() -> None:
    assert host_name("[::1]") == "::1" and host_name("a/b") is None and host_name(None) is None
    headers = Headers([("Host", "a"), ("Host", "b"), ("Origin", "http://a")])
    assert single_header(headers, "Host") == "" and single_header(headers, "Origin") == \
        "http://a" and single_header(headers, "Authorization") is None


def test_wildcard_bind_without_hosts_is_flagged() -> None:
    assert HostPolicy("0.0.0.0").wildcard_without_hosts
    assert not HostPolicy("0.0.0.0", ("gw.example.com",)).wildcard_without_hosts
    assert not HostPolicy("127.0.0.1").wildcard_without_hosts


# -- F: slow clients ----------------------------------------------------------------------------

def test_stall_watch_needs_a_full_buffer_for_the_whole_period() -> None:
    w: StallWatch[str] = StallWatch(stall_bytes=16_384, stall_seconds=5, hard_bytes=1 << 20)
    samples = [(0.0, 20_000), (2.0, 70_000), (4.0, 16_384), (5.0, 30_000)]
    assert [w.observe("c", b, t) for t, b in samples] == [None, None, None, "not reading"]
    # a client that drains now and then is left alone
    assert [w.observe("d", b, t) for t, b in
            [(0.0, 70_000), (4.0, 70_000), (4.5, 0), (8.0, 70_000), (12.0, 70_000)]] == \
        [None] * 5
    assert w.observe("e", (1 << 20) + 1, 0.0) is not None
    w.observe("f", 70_000, 0.0)
    w.forget("f")
    assert w.observe("f", 70_000, 6.0) is None


# -- G: /metrics --------------------------------------------------------------------------------

def _render() -> tuple[bytes, str]:
    return b"salescast_gateway_connections 0.0\n", "text/plain; version=0.0.4"


def _token(channels: list[str], ttl: float = 60, now: float = 1000.0) -> str:
    return "Bearer " + mint(SECRET, channels, ["*"], ttl=ttl, now=now)


@pytest.mark.parametrize(
    ("secret", "public", "authorization", "status"),
    [
        (None, False, None, 200),  # auth off: open
        (SECRET, True, None, 200),  # public by choice
        (SECRET, False, None, 401),
        (SECRET, False, "Basic dXNlcjpwdw==", 401),
        (SECRET, False, "Bearer not-a-token", 401),
        (SECRET, False, _token(["ops"], ttl=10, now=900.0), 401),  # expired
        (SECRET, False, "", 401),  # a repeated header
        (SECRET, False, _token(["forecasts", "alerts"]), 403),
        (SECRET, False, _token([METRICS_SCOPE]), 200),
        (SECRET, False, _token(["forecasts", "ops"]).replace("Bearer", "bearer"), 200),
    ],
)
def test_metrics_auth(secret: str | None, public: bool, authorization: str | None,
                      status: int) -> None:
    response = metrics_response(_render, authorization, secret, public, clock=lambda: 1000.0)
    assert response.status_code == status
    if status == 200:
        assert response.body.startswith(b"salescast_gateway_connections")
    else:
        assert b"salescast" not in response.body
    if status == 401:
        assert "Bearer" in response.headers["WWW-Authenticate"]


# -- the wiring, with a gateway that is not started (no sockets, no Redis) ----------------------

class _Conn:
    def __init__(self, address: str) -> None:
        self.remote_address = (address, 40000)


def _request(path: str, **headers: str) -> Request:
    return Request(path, Headers(list(headers.items())))


def test_gateway_http_answers() -> None:
    gw = Gateway("redis://127.0.0.1:1/0", "127.0.0.1", 8765, secret=SECRET,
                 max_connections_per_address=1, handshake_rate=1, handshake_burst=5)
    health = gw.http(_Conn("10.0.0.9"), _request("/healthz"))
    assert health is not None and health.status_code == 503
    body = json.loads(health.body)
    assert body["status"] == "unhealthy" and body["redis"].startswith("down since ")
    first = _Conn("10.0.0.1")
    host = "127.0.0.1:8765"
    assert gw.http(first, _request("/ws", Host=host)) is None
    second = gw.http(_Conn("10.0.0.1"), _request("/ws", Host=host))
    assert second is not None and second.status_code == 503
    rebound = gw.http(_Conn("10.0.0.2"), _request(
        "/ws", Host="evil.example", Origin="http://evil.example"))
    assert rebound is not None and rebound.status_code == 421
    metrics = gw.http(_Conn("10.0.0.2"), _request("/metrics", Host=host))
    assert metrics is not None and metrics.status_code == 401
    answers = [gw.http(_Conn("10.0.0.3"), _request("/", Host=host))
               for _ in range(6)]
    assert [a.status_code for a in answers if a is not None] == [200] * 5 + [429]
    rejected = gw.metrics.rejected
    assert rejected.labels("host")._value.get() == 1
    assert rejected.labels("address_cap")._value.get() == 1
    assert rejected.labels("rate")._value.get() == 1
    gw.admission.release(first)  # type: ignore[arg-type]
    assert gw.http(_Conn("10.0.0.1"), _request("/ws", Host=host)) is None


def test_a_handshake_that_fails_gives_its_connection_slot_back_at_once() -> None:
    """Admitted at the request, refused by the handshake (no upgrade: 426; a bad key: 400):
    the slot came back only at the next prune, 10 s later."""
    from websockets.http11 import Response

    gw = Gateway("redis://127.0.0.1:1/0", "127.0.0.1", 8765, max_connections_per_address=1)
    host = "127.0.0.1:8765"
    bad = _Conn("10.0.0.1")
    assert gw.http(bad, _request("/ws", Host=host)) is None  # admitted
    gw.http.after(bad, _request("/ws", Host=host), Response(426, "Upgrade Required", Headers()))
    good = _Conn("10.0.0.1")
    assert gw.http(good, _request("/ws", Host=host)) is None  # the address's one slot again
    gw.http.after(good, _request("/ws", Host=host), Response(101, "Switching", Headers()))
    refused = gw.http(_Conn("10.0.0.1"), _request("/ws", Host=host))
    assert refused is not None and refused.status_code == 503  # held by the upgraded one


@pytest.mark.parametrize("path", ["/static/a\x00b", "/static/" + "a" * 300,
                                  "/static/core.js/x", "/static/nope.js"])
def test_odd_static_paths_are_404_not_a_server_error(path: str) -> None:
    gw = Gateway("redis://127.0.0.1:1/0", "127.0.0.1", 8765)
    answer = gw.http(_Conn("10.0.0.4"), _request(path, Host="127.0.0.1:8765"))
    assert answer is not None and answer.status_code == 404


def test_a_non_ascii_bearer_token_on_metrics_is_401() -> None:
    gw = Gateway("redis://127.0.0.1:1/0", "127.0.0.1", 8765, secret=SECRET)
    # header values are read as ISO-8859-1: any byte over 0x7f is a non-ASCII character
    answer = gw.http(_Conn("10.0.0.5"), _request(
        "/metrics", Host="127.0.0.1:8765", Authorization="Bearer abc.\u00e9"))
    assert answer is not None and answer.status_code == 401


class _Transport:
    def __init__(self, buffered: int) -> None:
        self.buffered = buffered
        self.aborted = False

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def abort(self) -> None:
        self.aborted = True


class _Closable:
    def __init__(self, buffered: int = 0, answers: bool = True) -> None:
        self.transport = _Transport(buffered)
        self.answers = answers
        self.closed: tuple[int, str] | None = None

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        if not self.answers:  # a client that never reads never completes the handshake
            await asyncio.sleep(3600)


def test_housekeeping_closes_late_authenticators_and_unread_clients() -> None:
    t = [0.0]
    gw = Gateway("redis://127.0.0.1:1/0", "127.0.0.1", 0, secret=SECRET, auth_timeout=10)
    late, reader, stalled = _Closable(), _Closable(), _Closable(70_000, answers=False)
    gw.sessions[late] = Session(secret=SECRET, clock=lambda: t[0])  # type: ignore[index]
    for conn in (reader, stalled):
        gw.sessions[conn] = Session()  # type: ignore[index]

    async def main() -> None:
        gw.clients.sweep(0.0)
        t[0] = 10.0
        gw.clients.sweep(5.0)
        await asyncio.sleep(0)
        gw.clients.sweep(5.5)  # already closing: not closed twice
        await asyncio.sleep(1.2)  # CLOSE_GRACE_S

    asyncio.run(main())
    assert late.closed == (1008, "authentication timeout") and not late.transport.aborted
    assert stalled.closed == (4008, "too far behind") and stalled.transport.aborted
    assert reader.closed is None
    assert gw.metrics.closes.labels("auth_timeout")._value.get() == 1
    assert gw.metrics.closes.labels("not_reading")._value.get() == 1
    assert gw.metrics.slow_closes._value.get() == 1


def test_the_expiry_notice_counts_as_an_error_frame() -> None:
    """/metrics counted one token_expired where a client was sent three (a probe): the notice
    sent when a token expires under an open connection was not counted."""
    t = [0.0]
    gw = Gateway("redis://127.0.0.1:1/0", "127.0.0.1", 0, secret=SECRET, auth_timeout=10)
    conn = _Closable()
    sent: list[str] = []

    async def send(frame: str) -> None:
        sent.append(frame)

    conn.send = send  # type: ignore[attr-defined]
    session = Session(secret=SECRET, clock=lambda: t[0])
    session.receive(json.dumps({"type": "auth", "token": mint(SECRET, ["ops"], ["*"], 5, 0.0)}))
    gw.sessions[conn] = session  # type: ignore[index]

    async def main() -> None:
        t[0] = 6.0
        gw.clients.sweep(6.0)
        await asyncio.sleep(0)

    asyncio.run(main())
    assert len(sent) == 1 and json.loads(sent[0])["code"] == "token_expired"
    assert gw.metrics.errors.labels("token_expired")._value.get() == 1


def test_the_gateway_takes_every_setting_from_the_environment() -> None:
    from config import load_settings

    settings = load_settings({
        "REDIS_URL": "redis://127.0.0.1:1/0", "SALESCAST_GATEWAY_PORT": "0",
        "SALESCAST_AUTH_SECRET": SECRET, "SALESCAST_AUTH_TIMEOUT": "0",
        "SALESCAST_MAX_CONNECTIONS": "7", "SALESCAST_MAX_CONNECTIONS_PER_ADDRESS": "3",
        "SALESCAST_HANDSHAKE_RATE": "2.5", "SALESCAST_HANDSHAKE_BURST": "9",
        "SALESCAST_SLOW_CLIENT_SECONDS": "1.5", "SALESCAST_METRICS_PUBLIC": "1",
        "SALESCAST_ALLOWED_HOSTS": "gw.example", "SALESCAST_ALLOWED_ORIGINS": "https://a.example"})
    gw = Gateway.from_settings(settings, host="0.0.0.0")
    assert (gw.host, gw.port, gw.secret, gw.auth_timeout) == ("0.0.0.0", 0, SECRET, None)
    a = gw.admission
    assert (a.total, a.per_address, a.rate, a.burst) == (7, 3, 2.5, 9.0)
    assert gw.clients.stalls.stall_seconds == 1.5 and gw.http.metrics_public
    assert gw.hosts.host_allowed("gw.example") and gw.origins == ("https://a.example",)
