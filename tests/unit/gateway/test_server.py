"""The gateway's server glue: what websockets does with odd HTTP, as the gateway runs it."""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus

import pytest
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from gateway.server import Gateway, _Connection
from gateway.web import respond


def test_a_request_pipelined_behind_another_logs_no_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    """Two GETs in one read made websockets close the stream twice: an AssertionError with
    its traceback in the log for every such connection (a probe wrote 50 a second)."""

    def http(conn: object, request: Request) -> Response:
        return respond(HTTPStatus.OK, "ok\n")

    async def pipelined() -> bytes:
        async with serve(lambda c: c.wait_closed(), "127.0.0.1", 0, process_request=http,
                         create_connection=_Connection) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
            writer.write(request * 2)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return answer

    caplog.set_level(logging.ERROR, logger="websockets")
    for _ in range(3):
        asyncio.run(pipelined())
    assert not caplog.records, [r.getMessage() for r in caplog.records]


def test_only_get_is_served() -> None:
    gw = Gateway("redis://127.0.0.1:1/0", "127.0.0.1", 8765)
    for method in ("PUT", "DELETE", "POST"):
        answer = gw.http(object(), Request("/metrics", Headers([("Host", "127.0.0.1:8765")]),
                                           method=method))
        assert answer is not None and answer.status_code == 405
        assert answer.headers["Allow"] == "GET"
