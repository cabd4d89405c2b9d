"""Operators acknowledge alerts through a real gateway on a real ``redis-server`` of its own
(no Kafka, no worker: the test writes the alert's latest state into
``salescast:alerts:state`` itself, as the worker's sink does).

A token without the ``ack`` action is answered ``forbidden`` and its connection stays open; a
token with it is answered ``acked``, the acknowledgement lands in
``salescast:alerts:acks``, and both a plain Redis subscriber of the alerts channel and a
gateway client subscribed to alerts see the alert again with ``state`` ``acknowledged``; a
client that resumes from before the ack gets it from the alerts stream.

The ``redis-server`` is started by the test and stopped by its PID.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect

from contracts.wire import ALERTS_ACKS, ALERTS_CHANNEL, ALERTS_STATE, ALERTS_STREAM, dumps
from gateway.auth import mint
from gateway.server import Gateway
from infra.redis_server import RedisProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SECRET = "acks-secret"
ALERT: dict[str, Any] = {"id": "9f3c0a6d1e2b4c57", "series": "85123A", "bucket": 1291161600,
                         "bucket_end": 1291248000, "actual": 500.0, "expected": 72.0,
                         "severity": "critical", "kind": "spike", "state": "updated",
                         "event_id": "ev-2", "scope": "series"}


async def _next(ws: ClientConnection, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next frame of type ``kind`` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if frame["type"] == kind:
            return dict(frame)


async def _client(gw: Gateway, token: str) -> ClientConnection:
    ws = await connect(gw.url)
    await _next(ws, "hello")
    await ws.send(json.dumps({"type": "auth", "token": token}))
    await _next(ws, "authed")
    return ws


def test_an_operator_acknowledges_an_alert(local_redis: RedisProcess) -> None:
    r = redis.Redis.from_url(local_redis.url, decode_responses=True)
    r.hset(ALERTS_STATE, ALERT["id"], dumps(ALERT))
    opened = r.xadd(ALERTS_STREAM, {"a": dumps(ALERT)})
    pubsub = r.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(ALERTS_CHANNEL)
    now = time.time()
    reader = mint(SECRET, ["alerts"], ["*"], 60, now, jti="reader")
    operator = mint(SECRET, ["alerts"], ["851*"], 60, now, jti="op-1", actions=["ack"])

    async def scenario() -> None:
        gw = Gateway(local_redis.url, "127.0.0.1", 0, secret=SECRET)
        await gw.start()
        try:
            while not gw.feed.health.ok:
                await asyncio.sleep(0.05)
            watcher = await _client(gw, reader)
            await watcher.send(json.dumps({"type": "subscribe", "channel": "alerts"}))
            snapshot = await _next(watcher, "snapshot")
            assert [a["state"] for a in snapshot["data"]] == ["updated"]

            # a token without the ack action: forbidden, and the connection lives on
            await watcher.send(json.dumps({"type": "ack", "id": ALERT["id"]}))
            error = await _next(watcher, "error")
            assert error["code"] == "forbidden" and error["id"] == ALERT["id"]
            await watcher.send(json.dumps({"type": "ping", "id": "p"}))
            assert await _next(watcher, "pong") == {"type": "pong", "id": "p"}
            assert not r.hexists(ALERTS_ACKS, ALERT["id"])

            # with it: an unknown id is an error, the stored alert is acknowledged
            acker = await _client(gw, operator)
            await acker.send(json.dumps({"type": "ack", "id": "no-such-alert"}))
            assert (await _next(acker, "error"))["code"] == "unknown_alert"
            await acker.send(json.dumps({"type": "ack", "id": ALERT["id"], "note": "on it"}))
            assert await _next(acker, "acked") == {"type": "acked", "id": ALERT["id"]}

            update = await _next(watcher, "update")
            data = update["data"]
            assert update["channel"] == "alerts" and update["series"] == ALERT["series"]
            assert data["state"] == "acknowledged" and data["id"] == ALERT["id"]
            assert data["event_id"] != ALERT["event_id"] and data["scope"] == "series"
            assert data["ack"]["by"] == "op-1" and data["ack"]["note"] == "on it"
            assert {k: data[k] for k in ALERT if k not in ("state", "event_id")} == \
                {k: v for k, v in ALERT.items() if k not in ("state", "event_id")}
            record = json.loads(r.hget(ALERTS_ACKS, ALERT["id"]) or "{}")
            assert record == {"id": ALERT["id"], **data["ack"]}

            # a client resuming from before the ack gets it from the alerts stream
            late = await _client(gw, reader)
            await late.send(json.dumps({"type": "subscribe", "channel": "alerts",
                                        "since": opened}))
            (resumed,) = (await _next(late, "snapshot"))["data"]
            assert resumed["state"] == "acknowledged" and resumed["sid"] == update["sid"]
            for ws in (watcher, acker, late):
                await ws.close()
        finally:
            await gw.stop()

    try:
        asyncio.run(scenario())
        # a plain subscriber of the Redis channel saw the acknowledged alert, with its sid
        message = None
        deadline = time.monotonic() + 5
        while message is None and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.5)
        assert message is not None
        body = json.loads(message["data"])
        assert body["state"] == "acknowledged" and body["ack"]["by"] == "op-1"
        latest: Any = r.xrevrange(ALERTS_STREAM, count=1)
        assert body["sid"] == latest[0][0]
    finally:
        pubsub.close()
        r.close()
