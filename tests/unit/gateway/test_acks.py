"""Acknowledging alerts, without sockets: the ``ack`` frame, the ``actions`` claim, the
session's answers, the decision on the stored alert, and the server's reads and writes against
a fake Redis."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from contracts.wire import (
    ALERT_FIELD,
    ALERTS_ACKS,
    ALERTS_CHANNEL,
    ALERTS_STATE,
    ALERTS_STREAM,
    dumps,
)
from gateway.acks import AckWrite, ack_of, acknowledge
from gateway.auth import OPEN, AuthError, Claims, _b64, _sign, mint, verify
from gateway.messages import ERROR_CODES, Ack, FrameError, parse_client_frame
from gateway.outputs import AckRequest, Close, Reply
from gateway.protocol import Session, SnapshotRequest
from gateway.routing import route
from gateway.server import Gateway
from gateway.store import Store

SECRET = "test-secret"
NOW = 1_000_000.0


def _frames(outs: list) -> list[dict]:
    return [json.loads(o.text) for o in outs if isinstance(o, Reply)]


def _authed(channels=("alerts",), patterns=("*",), actions=("ack",)) -> Session:
    s = Session(secret=SECRET, clock=lambda: NOW)
    tok = mint(SECRET, list(channels), list(patterns), 60, NOW, jti="t1", actions=list(actions))
    s.receive(json.dumps({"type": "auth", "token": tok}))
    assert s.claims is not None
    return s


def _alert(aid: str = "a1", series: str = "85123A", **extra: Any) -> dict[str, Any]:
    return {"id": aid, "series": series, "bucket": 0, "kind": "spike", "severity": "warning",
            "actual": 9.0, "expected": 3.0, "state": "open", "event_id": f"{aid}-e1",
            "scope": "series", **extra}


# -- the frame ------------------------------------------------------------------------------

def test_an_ack_frame_parses_with_an_optional_note() -> None:
    assert parse_client_frame('{"type": "ack", "id": "a1"}', 4096) == Ack("a1", None)
    assert parse_client_frame('{"type": "ack", "id": "a1", "note": "on it"}', 4096) == \
        Ack("a1", "on it")
    assert parse_client_frame('{"type": "ack", "id": "a1", "note": ""}', 4096) == Ack("a1")
    assert Ack.parse({"id": "a1", "note": "x" * 200}).note == "x" * 200


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({}, "ack needs an 'id'"),
        ({"id": 7}, "ack 'id' must be an alert id"),
        ({"id": ["a1"]}, "ack 'id' must be an alert id"),
        ({"id": ""}, "ack 'id' must be an alert id"),
        ({"id": "x" * 65}, "ack 'id' must be an alert id"),
        ({"id": "a\u0000b"}, "ack 'id' must be an alert id"),
        ({"id": "a1", "note": 5}, "ack 'note' must be one line of at most 200"),
        ({"id": "a1", "note": "x" * 201}, "ack 'note' must be one line of at most 200"),
        ({"id": "a1", "note": "two\nlines"}, "ack 'note' must be one line of at most 200"),
    ],
)
def test_bad_ack_frames_get_precise_frame_errors(frame: dict, message: str) -> None:
    with pytest.raises(FrameError, match=message) as err:
        parse_client_frame(json.dumps({"type": "ack", **frame}), 4096)
    assert err.value.code == "bad_frame"
    (reply,) = _frames(Session().receive(json.dumps({"type": "ack", **frame})))
    assert reply["code"] == "bad_frame" and reply["message"].startswith(message)


# -- the claim ------------------------------------------------------------------------------

def test_the_actions_claim() -> None:
    with_ack = verify(SECRET, mint(SECRET, ["alerts"], ["*"], 60, NOW, actions=["ack"]), NOW)
    without = verify(SECRET, mint(SECRET, ["alerts"], ["*"], 60, NOW), NOW)
    assert with_ack.can("ack") and with_ack.actions == ("ack",)
    assert not without.can("ack") and without.actions == ()
    assert OPEN.can("ack") and not OPEN.can("delete")
    with pytest.raises(ValueError, match="actions must be some of ack"):
        mint(SECRET, ["alerts"], ["*"], 60, NOW, actions=["delete"])


def test_old_tokens_have_no_actions_and_a_bad_claim_is_malformed() -> None:
    def signed(claims: dict) -> str:
        body = _b64(json.dumps(claims).encode())
        return f"{body}.{_sign(SECRET, body)}"

    old = {"ch": ["alerts"], "p": ["*"], "exp": NOW + 60, "jti": "old"}
    assert verify(SECRET, signed(old), NOW).actions == ()
    with pytest.raises(AuthError, match="malformed token claims"):
        verify(SECRET, signed({**old, "actions": "ack"}), NOW)  # a string, not a list


def test_authed_says_which_actions_the_token_grants() -> None:
    tok = mint(SECRET, ["alerts"], ["*"], 60, NOW, actions=["ack"])
    s = Session(secret=SECRET, clock=lambda: NOW)
    assert _frames(s.receive(json.dumps({"type": "auth", "token": tok})))[0]["actions"] == ["ack"]
    tok = mint(SECRET, ["alerts"], ["*"], 60, NOW)
    assert "actions" not in _frames(s.receive(json.dumps({"type": "auth", "token": tok})))[0]
    assert _frames(Session().receive('{"type": "auth", "token": "x"}'))[0]["actions"] == ["ack"]


def test_group_alerts_need_the_star_pattern() -> None:
    claims = Claims(("alerts",), ("8*", "?", "[*]"), NOW + 60, "t")
    assert claims.allows_alert("85123A") and not claims.allows_alert("*")
    assert Claims(("alerts",), ("*",), NOW + 60, "t").allows_alert("*")
    assert not Claims(("forecasts",), ("*",), NOW + 60, "t").allows_alert("85123A")


# -- the session ----------------------------------------------------------------------------

def test_without_the_ack_action_an_ack_is_forbidden_and_the_connection_stays() -> None:
    s = _authed(actions=())
    out = s.receive('{"type": "ack", "id": "a1"}')
    (frame,) = _frames(out)
    assert frame == {"type": "error", "code": "forbidden", "id": "a1",
                     "message": "the token does not grant the 'ack' action"}
    assert not any(isinstance(o, Close | AckRequest) for o in out)
    assert _frames(s.receive('{"type": "ping"}'))[0]["type"] == "pong"


def test_the_ack_action_without_the_alerts_channel_is_forbidden() -> None:
    (frame,) = _frames(_authed(channels=("forecasts",)).receive('{"type": "ack", "id": "a1"}'))
    assert frame["code"] == "forbidden" and "alerts" in frame["message"]


def test_an_ack_asks_the_server_to_acknowledge() -> None:
    s = _authed(patterns=("851*",))
    (req,) = s.receive('{"type": "ack", "id": "a1", "note": "on it"}')
    assert req == AckRequest("a1", "on it", s.claims, NOW)  # type: ignore[arg-type]
    (req,) = Session(clock=lambda: 5.0).receive('{"type": "ack", "id": "a1"}')
    assert req == AckRequest("a1", None, OPEN, 5.0)  # auth off: everything granted


def test_an_ack_before_auth_is_unauthorized() -> None:
    s = Session(secret=SECRET, clock=lambda: NOW)
    assert _frames(s.receive('{"type": "ack", "id": "a1"}'))[0]["code"] == "unauthorized"


# -- the decision ---------------------------------------------------------------------------

def _request(patterns=("*",), note: str | None = None, aid: str = "a1") -> AckRequest:
    return AckRequest(aid, note, Claims(("alerts",), tuple(patterns), NOW + 60, "t1", ("ack",)),
                      NOW)


def test_acknowledging_a_stored_alert() -> None:
    stored = dumps({**_alert(), "sid": "5-0"})
    reply, write = acknowledge(_request(note="on it"), stored, "e9")
    assert json.loads(reply.text) == {"type": "acked", "id": "a1"} and reply.error is None
    assert write is not None
    assert json.loads(write.record) == {"id": "a1", "by": "t1", "at": NOW, "note": "on it"}
    message = json.loads(write.message)
    assert message == {**_alert(), "state": "acknowledged", "event_id": "e9",
                       "ack": {"by": "t1", "at": NOW, "note": "on it"}}  # no stale sid


@pytest.mark.parametrize(("stored", "patterns", "code"), [
    (None, ("*",), "unknown_alert"),
    ("not json", ("*",), "unknown_alert"),
    ('["a1"]', ("*",), "unknown_alert"),
    # out of the token's scope: as if it did not exist (alert ids are derived from the series,
    # bucket and kind: "forbidden" told whether an alert fired, and named its series)
    (dumps(_alert(series="22423")), ("851*",), "unknown_alert"),
    (dumps(_alert(series="*", scope="group", series_affected=12)), ("8*", "?"), "unknown_alert"),
])
def test_unknown_and_unreadable_alerts_are_errors(stored: str | None, patterns: tuple,
                                                  code: str) -> None:
    reply, write = acknowledge(_request(patterns), stored, "e9")
    frame = json.loads(reply.text)
    assert write is None and reply.error == code == frame["code"] and code in ERROR_CODES
    assert frame["id"] == "a1" and "22423" not in frame["message"]


def test_a_group_alert_is_acknowledged_with_the_star_pattern() -> None:
    group = dumps(_alert(series="*", scope="group", series_affected=12))
    reply, write = acknowledge(_request(("*",)), group, "e9")
    assert reply.error is None and write is not None
    assert json.loads(write.message)["series_affected"] == 12


def test_acknowledging_twice_answers_acked_twice_and_the_latest_ack_wins() -> None:
    stored = dumps(_alert())
    first = acknowledge(_request(note="one"), stored, "e1")
    second = acknowledge(_request(note="two"), stored, "e2")
    assert first[0] == second[0]
    assert first[1] is not None and second[1] is not None
    assert json.loads(second[1].record)["note"] == "two"
    assert ack_of(second[1].record) == {"by": "t1", "at": NOW, "note": "two"}


# -- the server, against a fake Redis ------------------------------------------------------

class _FakeRedis:
    """The alerts stream, the state and acks hashes, pub/sub: what acks read and write."""

    def __init__(self) -> None:
        self.stream: list[tuple[str, dict[str, str]]] = []
        self.hashes: dict[str, dict[str, str]] = {ALERTS_STATE: {}, ALERTS_ACKS: {}}
        self.published: list[tuple[str, str]] = []

    def add(self, alert: dict[str, Any]) -> str:
        sid = f"{len(self.stream) + 1}-0"
        self.stream.append((sid, {ALERT_FIELD: dumps(alert)}))
        self.hashes[ALERTS_STATE][alert["id"]] = dumps(alert)
        return sid

    async def xrevrange(self, key: str, top: str, bottom: str, count: int) -> list:
        assert key == ALERTS_STREAM and bottom == "-"
        below = (lambda sid: True) if top == "+" else (  # "(N-0": before entry N, exclusive
            lambda sid: int(sid.split("-")[0]) < int(top[1:].split("-")[0]))
        return [e for e in reversed(self.stream) if below(e[0])][:count]

    async def hget(self, key: str, field: str) -> str | None:
        return self.hashes[key].get(field)

    async def hmget(self, key: str, fields: list[str]) -> list[str | None]:
        return [self.hashes[key].get(f) for f in fields]

    def register_script(self, text: str) -> Any:
        async def run(keys: list[str], args: list[Any]) -> str:
            assert keys == [ALERTS_ACKS, ALERTS_STREAM] and args[3] == ALERTS_CHANNEL
            self.hashes[keys[0]][args[0]] = args[1]
            sid = f"{len(self.stream) + 1}-0"
            self.stream.append((sid, {ALERT_FIELD: args[2]}))
            self.published.append((args[3], args[2][:-1] + f',"sid":"{sid}"}}'))
            return sid
        return run


class _Conn:
    transport = None

    def __init__(self) -> None:
        self.sent: list[dict] = []

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))


def _gateway(fake: _FakeRedis) -> Gateway:
    gw = Gateway("redis://127.0.0.1:1/0", "127.0.0.1", 0, secret=SECRET)
    gw.clients.store = Store(fake)  # type: ignore[arg-type]
    gw.clients.redis_ok = lambda: True
    return gw


def test_the_server_carries_out_acks_and_snapshots_carry_the_ack() -> None:
    fake = _FakeRedis()
    fake.add(_alert("a1"))
    fake.add(_alert("g1", series="*", scope="group", series_affected=3))
    gw = _gateway(fake)
    conn, session = _Conn(), _authed(actions=("ack",))
    gw.sessions[conn] = session  # type: ignore[index]

    async def send(text: str) -> None:
        assert await gw.clients._carry_out_all(conn, session.receive(text))  # type: ignore

    async def main() -> None:
        await send('{"type": "ack", "id": "a1", "note": "looking"}')
        await send('{"type": "ack", "id": "nope"}')
        await send('{"type": "subscribe", "channel": "alerts"}')

    asyncio.run(main())
    acked, unknown, subscribed, snapshot = conn.sent
    assert acked == {"type": "acked", "id": "a1"}
    assert unknown["code"] == "unknown_alert" and unknown["id"] == "nope"
    assert gw.metrics.errors.labels("unknown_alert")._value.get() == 1
    assert subscribed["type"] == "subscribed"
    ack = {"by": "t1", "at": NOW, "note": "looking"}
    assert json.loads(fake.hashes[ALERTS_ACKS]["a1"]) == {"id": "a1", **ack}
    (channel, published), = fake.published
    assert channel == ALERTS_CHANNEL
    message = json.loads(published)
    assert message["sid"] == "3-0" and message["state"] == "acknowledged"
    assert message["ack"] == ack and message["event_id"] not in ("a1-e1", "")
    # the snapshot passes state, id and scope through; every entry of a1 carries its ack
    data = snapshot["data"]
    assert [(a["id"], a["state"], a["scope"], a["sid"]) for a in data] == [
        ("a1", "open", "series", "1-0"), ("g1", "open", "group", "2-0"),
        ("a1", "acknowledged", "series", "3-0")]
    assert [a.get("ack") for a in data] == [ack, None, ack]


def test_a_token_without_the_star_pattern_sees_no_group_alerts() -> None:
    fake = _FakeRedis()
    fake.add(_alert("a1"))
    fake.add(_alert("g1", series="*", scope="group", series_affected=3))
    session = _authed(patterns=("8*", "?"))
    request = SnapshotRequest(None, "*", "alerts")

    async def main() -> list[dict]:
        return await Store(fake).alerts(session, request)  # type: ignore[arg-type]

    assert [a["id"] for a in asyncio.run(main())] == ["a1"]
    session.receive('{"type": "subscribe", "channel": "alerts", "pattern": "?"}')
    assert session.wants("alerts", "8") and not session.wants("alerts", "*")  # "?" matches "*"


def test_a_series_snapshot_finds_its_alerts_behind_other_series_entries() -> None:
    """A series' alerts came back empty once 50 entries of other series (acks add one each)
    followed them in the stream (a probe): the snapshot reads further back for them."""
    fake = _FakeRedis()
    fake.add(_alert("mine", series="STEADY1"))
    for i in range(1200):
        fake.add(_alert(f"o{i}", series="SHIFT"))
    for request in (SnapshotRequest("STEADY1", None, "alerts"),
                    SnapshotRequest(None, "STEADY*", "alerts")):
        got = asyncio.run(Store(fake).alerts(_authed(), request))  # type: ignore[arg-type]
        assert [a["id"] for a in got] == ["mine"]
    latest = asyncio.run(Store(fake).alerts(  # type: ignore[arg-type]
        _authed(), SnapshotRequest(None, "*", "alerts")))
    assert len(latest) == 50 and latest[-1]["id"] == "o1199"


def test_every_entry_of_an_acknowledged_alert_carries_its_latest_ack() -> None:
    fake = _FakeRedis()
    fake.add(_alert("a1"))
    fake.add(_alert("a1", state="acknowledged", ack={"by": "t1", "at": 1.0, "note": "old"}))
    fake.hashes[ALERTS_ACKS]["a1"] = json.dumps({"by": "t2", "at": 2.0, "note": "latest"})
    got = asyncio.run(Store(fake).alerts(  # type: ignore[arg-type]
        _authed(), SnapshotRequest("85123A", None, "alerts")))
    assert [a["ack"]["note"] for a in got] == ["latest", "latest"]


def test_a_pattern_also_grants_and_routes_the_series_of_that_very_name() -> None:
    """A series named ``AB[1]`` subscribed to as a pattern: ``list`` named it, but the
    snapshot and the live updates passed it by (a probe: `salescast watch 'AB[1]'`)."""
    session = _authed(channels=("alerts", "forecasts"), patterns=("AB[1]",))
    session.receive('{"type": "subscribe", "channel": "forecasts", "pattern": "AB[1]"}')
    assert session.wants("forecasts", "AB[1]") and session.wants("forecasts", "AB1")
    fake = _FakeRedis()
    fake.add(_alert("x", series="AB[1]"))
    got = asyncio.run(Store(fake).alerts(  # type: ignore[arg-type]
        _authed(patterns=("AB[1]",)), SnapshotRequest(None, "AB[1]", "alerts")))
    assert [a["id"] for a in got] == ["x"]


def test_a_write_failure_is_unavailable_and_the_connection_stays() -> None:
    fake = _FakeRedis()
    fake.add(_alert("a1"))
    gw = _gateway(fake)
    gw.clients.redis_ok = lambda: False
    conn, session = _Conn(), _authed()
    gw.sessions[conn] = session  # type: ignore[index]
    outs = session.receive('{"type": "ack", "id": "a1"}')
    assert asyncio.run(gw.clients._carry_out_all(conn, outs))  # type: ignore[arg-type]
    assert conn.sent == [{"type": "error", "code": "unavailable", "id": "a1",
                          "message": "the state store is unavailable; retry"}]
    assert not fake.published


# -- live frames ----------------------------------------------------------------------------

def test_live_alert_frames_pass_the_lifecycle_through_and_never_merge() -> None:
    opened = dumps({**_alert(), "sid": "1-0"})
    acked = dumps({**_alert(), "state": "acknowledged", "event_id": "e2", "sid": "2-0",
                   "ack": {"by": "t1", "at": NOW, "note": None}})
    (r1,), (r2,) = route(ALERTS_CHANNEL, opened), route(ALERTS_CHANNEL, acked)
    assert json.loads(r2.frame)["data"] == json.loads(acked)
    assert json.loads(r1.frame)["data"]["scope"] == "series"
    assert r1.slot != r2.slot  # a slow client keeps both states of the alert
    (legacy,) = route(ALERTS_CHANNEL, '{"id": "x1", "series": "A"}')  # before event_id
    assert legacy.slot == "alerts\0x1"


def test_ack_write_is_plain_data() -> None:
    assert AckWrite("r", "m") == AckWrite("r", "m")
