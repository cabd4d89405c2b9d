"""The Kafka client's repeated complaints, one line per kind every so often.

While the broker is out of reach, aiokafka logs every failed connection, metadata refresh,
fetch and coordinator lookup: a network-fault probe counted 8,737 lines in a two-minute outage
(about 73 a second: ``Unable connect to node``, ``Unable to update metadata``, ``Failed
fetch``, ``Group Coordinator Request failed``), which buries the worker's own lines and fills
its log. :class:`Repeats`, on the worker's log handlers, lets the first record of each kind
(logger, level and message template) through, then one every ``window`` seconds that says how
many like it were held back.

>>> now = [0.0]
>>> f = Repeats(window=30.0, clock=lambda: now[0])
>>> def rec(msg): return logging.LogRecord("aiokafka.conn", 40, "", 0, msg, ("n1",), None)
>>> [f.filter(rec("Unable connect to node %s")) for _ in range(3)]
[True, False, False]
>>> now[0] = 31.0
>>> r = rec("Unable connect to node %s"); f.filter(r), r.getMessage()
(True, 'Unable connect to node n1 (and 2 more like it in the last 31 s)')
>>> f.filter(logging.LogRecord("salescast.worker", 40, "", 0, "mine", (), None))
True
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["Repeats", "WINDOW_S"]

WINDOW_S = 30.0


class Repeats(logging.Filter):
    """Collapses repeated records of the loggers under ``prefix`` (see the module docstring)."""

    def __init__(self, prefix: str = "aiokafka", window: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.prefix, self.window, self.clock = prefix, window, clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefix):
            return True
        # the template as logged (another handler's filter may have added its count)
        template = record.__dict__.setdefault("repeats_template", str(record.msg))
        key = (record.name, record.levelno, template)
        now = self.clock()
        first = self._seen.get(key)
        if first is not None and now - first[0] < self.window:
            self._seen[key] = (first[0], first[1] + 1)
            return False
        self._seen[key] = (now, 0)
        if first is not None and first[1]:
            record.msg = (f"{record.msg} (and {first[1]} more like it in the last "
                          f"{now - first[0]:.0f} s)")
        return True
