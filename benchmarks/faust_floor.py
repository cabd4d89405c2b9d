"""The Faust floor of ``salescast bench``: a plain agent that only decodes each message.

Run as a child process (``salescast bench-faust-floor TOPIC N``); prints one JSON line
``{"events": N, "seconds": S, "cpu_seconds": C}`` measured from the first to the N-th message
(C: the process's CPU time over the same span), then exits.

The agent runs on Faust's own aiokafka transport, as shipped: that is the floor the worker's
ratio is taken to. With ``transport="salescast"`` it runs on :class:`stream.transport.Transport`
instead, the worker's own, whose consumer delivers a message that needs no wait without
mode's four tasks (:mod:`stream.eager`): the bench prints that run too, so the two floors
show what the transport saves and the worker's ratio to each can be read.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any

from faust.transport.drivers import aiokafka as driver

from stream.app import Worker, create_app

__all__ = ["TRANSPORTS", "run_floor"]

TRANSPORTS = ("faust", "salescast")


def run_floor(bootstrap: str, topic: str, target: int, transport: str = "faust") -> None:
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {TRANSPORTS}, not {transport!r}")
    app = create_app(f"bench-floor-{uuid.uuid4().hex[:8]}", bootstrap)
    if transport == "faust":
        app.transport = driver.Transport(app.conf.broker_consumer, app)  # Faust's, as shipped
    source = app.topic(topic, key_serializer="raw", value_serializer="raw", value_type=bytes)
    seen = {"n": 0, "start": 0.0, "cpu": 0.0}

    @app.agent(source)
    async def decode(stream: Any) -> None:
        async for value in stream:
            if not seen["n"]:
                seen["start"], seen["cpu"] = time.perf_counter(), time.process_time()
            json.loads(value)
            seen["n"] += 1
            if seen["n"] >= target:
                elapsed = time.perf_counter() - seen["start"]
                cpu = time.process_time() - seen["cpu"]
                print(json.dumps({"events": seen["n"], "seconds": elapsed, "cpu_seconds": cpu}),
                      flush=True)
                os._exit(0)

    sys.argv = sys.argv[:1]
    Worker(app, loglevel="warning").execute_from_commandline()
