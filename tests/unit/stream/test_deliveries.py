"""Sends of batches not delivered yet: what the flushes wait for (stream.deliveries)."""

from __future__ import annotations

import asyncio

from stream.deliveries import Deliveries


def test_a_send_that_fails_stops_the_worker_before_anything_is_flushed() -> None:
    failures: list[BaseException] = []

    async def main() -> None:
        sent = Deliveries(on_failure=failures.append)
        fut = asyncio.get_running_loop().create_future()
        sent.add([fut])
        asyncio.get_running_loop().call_later(
            0.01, fut.set_exception, RuntimeError("broker refused the record"))
        try:
            await sent.delivered()  # a flush step waits here
        except RuntimeError:
            failures.append(RuntimeError("raised"))
        assert sent.pending()  # a failed send is never delivered: nothing is flushed

    asyncio.run(main())
    assert [str(e) for e in failures] == ["broker refused the record", "raised"]
