"""stream/lognoise.py: the Kafka client's repeats, one line per kind every window."""

from __future__ import annotations

import logging

from stream.lognoise import Repeats


def _record(name: str, msg: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, "", 0, msg, ("x",), None)


def test_an_outage_s_flood_is_one_line_per_kind_per_window() -> None:
    now = [0.0]
    f = Repeats(window=30.0, clock=lambda: now[0])
    kinds = ["Unable connect to node %s", "Unable to update metadata from %s", "Failed fetch %s"]
    passed = []
    for second in range(120):  # two minutes, each kind ~24 times a second
        now[0] = float(second)
        for _ in range(24):
            for kind in kinds:
                r = _record("aiokafka.conn", kind)
                if f.filter(r):
                    passed.append(r.getMessage())
    assert len(passed) == 3 * 4  # at 0, 30, 60 and 90 s
    assert passed[3].endswith(f"(and {24 * 30 - 1} more like it in the last 30 s)")


def test_other_loggers_levels_and_templates_are_their_own() -> None:
    f = Repeats(clock=lambda: 0.0)
    assert f.filter(_record("aiokafka.conn", "a %s"))
    assert f.filter(_record("aiokafka.conn", "a %s", logging.WARNING))  # another level
    assert f.filter(_record("aiokafka.cluster", "a %s"))  # another logger
    assert not f.filter(_record("aiokafka.conn", "a %s"))
    for _ in range(3):  # the worker's own lines are never held back
        assert f.filter(_record("salescast.worker", "a %s"))


def test_two_handlers_each_count_the_same_kinds() -> None:
    """A review found it: the first handler's count, added to the record, made a new kind
    for the second handler's filter."""
    now = [0.0]
    first, second = Repeats(clock=lambda: now[0]), Repeats(clock=lambda: now[0])
    seen = []
    for t in (0.0, 1.0, 31.0, 32.0):
        now[0] = t
        r = _record("aiokafka.conn", "Failed fetch %s")
        seen.append((first.filter(r), second.filter(r)))
    assert seen == [(True, True), (False, False), (True, True), (False, False)]
