"""``salescast watch`` against a gateway of its own (an in-process websockets server): it
connects again after a close that is not final, and stops after one that is."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from rich.console import Console
from websockets.asyncio.server import ServerConnection, serve

from gateway.watch import watch

SNAPSHOT = {"type": "snapshot", "channel": "forecasts",
            "data": {"series": "A", "version": 3, "forecast": {"yhat": [2.0]}}}


async def _run(closes: list[tuple[int, str]], limit: int | None) -> tuple[int, str, int]:
    """A server that closes its first connections with ``closes``, then sends a snapshot;
    what the watch returned, printed, and how many connections it made."""
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.recv()  # the first subscribe
        if connections <= len(closes):
            await ws.close(*closes[connections - 1])
            return
        await ws.send(json.dumps(SNAPSHOT))
        await ws.wait_closed()

    console = Console(record=True, width=200)
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        seen = await asyncio.wait_for(
            watch(f"ws://127.0.0.1:{port}/ws", "A", limit, console, delay=0.01), 10)
    return seen, console.export_text(), connections


def test_a_watch_closed_for_being_too_far_behind_connects_again() -> None:
    """A pattern's watch closed with 4008 (too far behind) ended without a word (a soak)."""
    seen, said, connections = asyncio.run(_run([(4008, "too far behind"), (1001, "")], 1))
    assert (seen, connections) == (1, 3)
    assert "closed by the gateway (4008 too far behind); connecting again in 0.01 s" in said
    assert "closed by the gateway (1001); connecting again in 0.02 s" in said
    assert "snapshot" in said and "next 2.0" in said


@pytest.mark.parametrize("close", [(1008, "authentication timeout"), (1000, "")])
def test_a_final_close_ends_the_watch(close: Any) -> None:
    seen, said, connections = asyncio.run(_run([close], None))
    assert (seen, connections) == (0, 1) and "connecting again" not in said
    assert f"closed by the gateway ({close[0]}" in said


def test_a_watch_of_a_series_that_does_not_exist_says_it_waits() -> None:
    """`salescast watch NOPE` printed `subscribed` and then nothing, until killed (a probe)."""
    got: list[dict[str, Any]] = []

    async def handler(ws: ServerConnection) -> None:
        async for text in ws:
            frame = json.loads(text)
            got.append(frame)
            if frame["type"] == "list":
                await ws.send(json.dumps({"type": "series", "series": [], "id": frame["id"]}))
                await ws.send(json.dumps({**SNAPSHOT, "type": "update"}))  # its first write

    console = Console(record=True, width=200)

    async def main() -> int:
        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            return await asyncio.wait_for(
                watch(f"ws://127.0.0.1:{port}/ws", "NOPE", 1, console, delay=0.01), 10)

    assert asyncio.run(main()) == 1
    assert {"type": "list", "pattern": "NOPE", "limit": 1, "id": "exists"} in got
    assert "no series NOPE yet: waiting for its first write" in console.export_text()
