"""The Faust floor of ``salescast bench``: a plain agent that only decodes each message.

Run as a child process (``salescast bench-faust-floor TOPIC N``); prints one JSON line
``{"events": N, "seconds": S, "cpu_seconds": C}`` measured from the first to the N-th message
(C: the process's CPU time over the same span), then exits.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any

from stream.app import Worker, create_app

__all__ = ["run_floor"]


def run_floor(bootstrap: str, topic: str, target: int) -> None:
    app = create_app(f"bench-floor-{uuid.uuid4().hex[:8]}", bootstrap)
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
