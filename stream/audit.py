"""Reconcile the events topic, the dead-letter topic and Redis: did every event get counted?

Pure logic (no Kafka, no Redis) behind ``salescast audit``. Feed a :class:`Reconciler` the
dead letters first (:meth:`~Reconciler.add_dead_letter`), then the event messages
(:meth:`~Reconciler.add_event`), then the Redis event counts of :attr:`~Reconciler.series`
(:meth:`~Reconciler.finish`); or call :func:`reconcile` with everything at once.

It mirrors what the worker does. A valid event read on partition ``p`` is counted there only
when ``partition_for(series, partitions) == p`` (its home); otherwise the worker re-routes a
copy (``"rerouted_from": "P/OFFSET/INDEX"``) to the home partition, which is counted like any
event. The expected count of a series is its valid events read at home minus the distinct dead
letters of codes :data:`NOT_COUNTED` matched to them by ``(partition, offset, index)``
(``index``: position in an envelope, None for a message of one event, even an envelope of
one, as the worker keys it). Differences: a Redis
count that is not the expected one (a missing hash counts as 0), a validation rejection
without an ``invalid`` dead letter, a re-routed event without its copy. Dead letters are
at-least-once: repeats of a key are counted once (and reported); dead letters of another topic
are ignored. Dead letters written before ``code``/``index`` existed get them derived from their
stage and reason. With aggregates (``grouping``), every counted event is expected in ``total`` and
in its child (``country:...``) too, and the partitions' reports to the aggregates are skipped.

Retention deletes the oldest messages of a topic that the worker counted long ago: the audit
read only what is left, and every series with deleted events counted more in Redis than it
expected, so a deployment older than the topic's retention never reconciled (a probe). With
``starts`` (each partition's first offset still in the log), a series whose home partition
lost its head (and the aggregates, when any partition did) is checked as "at least": Redis may
count more than the log still holds, never less; those over are counted in
:attr:`AuditResult.unverifiable`, not as differences. A re-routed event whose home lost its
head may have lost its copy too: not a difference either. What retention deleted before the
worker read it is not in the log for the audit to miss: the workers record it in Redis
(``contracts.wire.LOST_KEY``), and ``lost`` (worker -> messages) is a difference each.

>>> ev = lambda s, i: f'{{"series":"{s}","ts":1e9,"qty":1,"price":1,"id":"{i}"}}'.encode()
>>> msgs = [Record(0, 0, ev("A", 1)), Record(0, 1, ev("A", 2)), Record(0, 2, b"oops")]
>>> dead = [Record(0, 0, b'{"code":"invalid","topic":"t","partition":0,"offset":2,"index":null}'),
...         Record(0, 1, b'{"code":"too_late","topic":"t","partition":0,"offset":1,"index":null}')]
>>> r = reconcile("t", 1, msgs, dead, {"A": 1})
>>> r.ok, r.total.valid, r.total.accepted, dict(r.total.dead)
(True, 2, 1, {'invalid': 1, 'too_late': 1})
>>> reconcile("t", 1, msgs, dead[1:], {"A": 2}).problems()
['series A: redis counts 2, expected 1', 'no dead letter for the invalid record 0/2/-']
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from stream.aggregates import REPORT_PREFIX, ROOT, Grouping, is_report
from stream.audit_result import CODES, AuditResult, PartitionTally
from stream.partitioning import partition_for
from stream.records import Key, legacy_code, parse_key
from stream.validation import parse_message

__all__ = ["CODES", "NOT_COUNTED", "AuditResult", "PartitionTally", "Reconciler", "Record",
           "reconcile"]

#: dead-letter codes of valid events the worker did not count
NOT_COUNTED = frozenset(CODES[1:])
_INDEX_PREFIX = re.compile(r"events\[(\d+)\]: ")


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka message as read: partition, offset, value (and key)."""

    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None


class Reconciler:
    """Streams dead letters, then events, then Redis counts into an :class:`AuditResult`."""

    def __init__(self, topic: str, partitions: int, grouping: Grouping | None = None,
                 starts: Mapping[int, int] | None = None) -> None:
        # grouping: the aggregates' (stream.aggregates): each counted event counts in the
        # total and in its child too, and the partitions' reports are not events; starts:
        # each partition's first offset left in the log (retention deleted those before)
        self.topic, self.n, self.grouping = topic, partitions, grouping
        self.truncated = {p: start for p, start in (starts or {}).items() if start > 0}
        self.tally: dict[int, PartitionTally] = defaultdict(PartitionTally)
        for p in range(partitions):
            self.tally[p] = PartitionTally()
        self.dead: dict[Key, tuple[str, bool]] = {}  # key -> (code, matched)
        self.expected: Counter[str] = Counter()
        self.missing_dead: list[tuple[Key, str]] = []
        self.rerouted: set[Key] = set()
        self.copies: set[Key] = set()
        self.repeats = self.other_topic = self.unreadable = 0
        self._rerouted_home: dict[Key, int] = {}  # (only with a truncated log)
        self._events_started = False

    @property
    def series(self) -> set[str]:
        """Every series with a valid event read (anywhere): the ones to look up in Redis."""
        return set(self.expected)

    def add_dead_letter(self, rec: Record) -> None:
        if self._events_started:
            raise ValueError("add every dead letter before the first event")
        try:
            d = json.loads(rec.value or b"")
            topic, partition, offset = str(d["topic"]), int(d["partition"]), int(d["offset"])
            if "index" in d:
                index = None if d["index"] is None else int(d["index"])
            else:  # legacy: "events[3]: why" names the envelope element
                m = _INDEX_PREFIX.match(str(d.get("reason", "")))
                index = int(m.group(1)) if m else None
            code = str(d.get("code") or legacy_code(str(d.get("stage", "")),
                                                     str(d.get("reason", ""))))
        except (ValueError, KeyError, TypeError):
            self.unreadable += 1
            return
        if topic != self.topic:
            self.other_topic += 1
            return
        key = (partition, offset, index)  # the dead letter's own key, less the topic
        if key in self.dead:
            self.repeats += 1
            return
        self.dead[key] = (code, False)
        self.tally[partition].dead[code] += 1

    def add_event(self, rec: Record) -> None:
        self._events_started = True
        raw = rec.value or b""
        p, offset = rec.partition, rec.offset
        t = self.tally[p]
        if raw.startswith(REPORT_PREFIX) and (  # as the worker: a report, or a bad one's
                self.grouping is not None and p == partition_for(ROOT, self.n)  # letter on
                or is_report(raw)):  # total's partition; another group's anywhere: nothing
            letter = self.dead.get((p, offset, None))  # a partition's sums, or a bad one's letter
            if letter is not None:
                self.dead[(p, offset, None)] = (letter[0], True)
            return
        t.messages += 1
        events, rejections = parse_message(raw)
        t.valid += len(events)
        t.rejected += len(rejections)
        for rej in rejections:
            key = (p, offset, rej.index)
            found = self.dead.get(key)
            if found is not None and found[0] == "invalid":
                self.dead[key] = (found[0], True)
            else:
                self.missing_dead.append((key, rej.reason))
                t.missing_dead += 1
        if not events:
            return
        indices: list[int | None] = [None]  # as the worker: one element, no index
        if len(events) + len(rejections) > 1:
            bad = {r.index for r in rejections}
            indices = [i for i in range(len(events) + len(bad)) if i not in bad]
        marks = _reroute_marks(raw, indices) if b"rerouted_from" in raw else [None] * len(events)
        for ev, index, mark in zip(events, indices, marks, strict=True):
            key = (p, offset, index)
            if mark is not None:
                self.copies.add(mark)
                t.rerouted_in += 1
            self.expected[ev.series] += 0  # the series is checked even if nothing counts
            if (home := partition_for(ev.series, self.n)) != p:
                t.rerouted += 1
                self.rerouted.add(key)
                if self.truncated:
                    self._rerouted_home[key] = home
                continue
            found = self.dead.get(key)
            if found is not None and found[0] in NOT_COUNTED:
                self.dead[key] = (found[0], True)
                continue
            t.accepted += 1
            self.expected[ev.series] += 1
            if self.grouping is not None:
                self.expected[ROOT] += 1
                self.expected[self.grouping.child_of(ev)] += 1

    def finish(self, counts: Mapping[str, int | None],
               lost: Mapping[str, int] | None = None) -> AuditResult:
        """The result, given the Redis event count of each of :attr:`series` (None: no hash)
        and what the workers lost to retention (``lost``: worker -> messages)."""
        diff, over = [], 0
        for s in sorted(self.expected):
            want, got = self.expected[s], counts.get(s)
            have = 0 if got is None else got
            if have > want and self._headless(s):
                over += 1  # its deleted events were counted: "at least" is all one can check
            elif have != want:
                diff.append((s, want, got))
        total = PartitionTally()
        for t in self.tally.values():
            total.add(t)
        copies = [k for k in self.rerouted - self.copies if not self._headless_at(k)]
        return AuditResult(
            self.topic, dict(sorted(self.tally.items())), total, diff, self.missing_dead,
            sorted(copies, key=_sort_key), len(self.expected), self.repeats, self.other_topic,
            sum(not m for _, m in self.dead.values()), self.unreadable, self.truncated, over,
            {w: n for w, n in (lost or {}).items() if n > 0})

    def _headless(self, series: str) -> bool:
        """Whether events of ``series`` may have been deleted: its home partition lost its
        head, or it is an aggregate and any partition did."""
        if not self.truncated:
            return False
        if self.grouping is not None and self.grouping.reserved(series):  # total, children
            return True
        return partition_for(series, self.n) in self.truncated

    def _headless_at(self, key: Key) -> bool:
        """Whether the copy of the re-routed event at ``key`` may have been deleted."""
        return bool(self.truncated) and self._rerouted_home.get(key) in self.truncated


def _sort_key(key: Key) -> tuple[int, int, int]:
    return key[0], key[1], -1 if key[2] is None else key[2]


def _reroute_marks(raw: bytes, indices: list[int | None]) -> list[Key | None]:
    """The ``rerouted_from`` key of the events at ``indices`` of a valid message (or None)."""
    obj = json.loads(raw)  # valid: parse_message found events in it
    items = obj.get("events", [obj])
    marks = [items[0 if i is None else i].get("rerouted_from") for i in indices]
    return [None if m is None else parse_key(str(m)) for m in marks]


def reconcile(topic: str, partitions: int, events: Iterable[Record],
              dead_letters: Iterable[Record], counts: Mapping[str, int | None],
              grouping: Grouping | None = None) -> AuditResult:
    """Everything at once (see the module docstring); ``counts``: series -> Redis count."""
    r = Reconciler(topic, partitions, grouping)
    for d in dead_letters:
        r.add_dead_letter(d)
    for e in events:
        r.add_event(e)
    return r.finish(counts)
