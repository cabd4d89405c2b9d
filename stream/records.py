"""Dead letters (the records the worker did not count) and keys (where a record was read).

A record that fails validation goes to ``sales.deadletter`` as a :class:`DeadLetter`; a
:data:`Key` is (partition, offset, index in its envelope). The sale events themselves, and
their wire format, are :mod:`contracts.events`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

__all__ = ["DeadLetter", "DEAD_LETTER_RAW_MAX", "Key", "fmt_key", "parse_key", "legacy_code"]


#: raw bytes a dead letter carries at most; the rest is named by size and sha256 (the original
#: stays in the source topic at ``topic/partition/offset``). Keeps every dead letter far below
#: the producer's 1 MB request limit, whatever was sent.
DEAD_LETTER_RAW_MAX = 16_384
DEAD_LETTER_REASON_MAX = 500


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that was not counted: why (``code``, ``reason``), at which ``stage``, and where
    it came from (``topic``, ``partition``, ``offset`` and, inside an envelope, ``index``).

    Codes: ``invalid`` (validation), ``too_late``, ``too_far_ahead``, ``in_future`` (event-time
    rules), ``duplicate_id`` (an id already counted for the series: a skip, not an error).
    :meth:`to_json` is bounded: at most :data:`DEAD_LETTER_RAW_MAX` raw bytes, plus their full
    size and sha256.

    >>> dl = DeadLetter("bad", "validation", b"x" * 2_000_000, "t", 1, 7, code="invalid")
    >>> len(dl.to_json()) < 30_000, dl.key
    (True, b't/1/7/-')
    >>> back = DeadLetter.from_json(dl.to_json())
    >>> back.truncated, back.raw_size, len(back.raw)
    (True, 2000000, 16384)
    """

    reason: str
    stage: str
    raw: bytes
    topic: str
    partition: int
    offset: int
    code: str = "invalid"
    index: int | None = None
    series: str | None = None
    raw_size: int | None = None  # size of the original (None: ``len(raw)``)
    raw_sha256: str | None = None

    @property
    def truncated(self) -> bool:
        return self.raw_size is not None and self.raw_size > len(self.raw)

    @property
    def key(self) -> bytes:
        """Stable across redeliveries: consumers dedupe dead letters by it."""
        index = "-" if self.index is None else str(self.index)
        return f"{self.topic}/{self.partition}/{self.offset}/{index}".encode()

    def to_json(self) -> bytes:
        raw = self.raw
        size = len(raw) if self.raw_size is None else self.raw_size
        digest = self.raw_sha256 or hashlib.sha256(raw).hexdigest()
        d = {
            "reason": self.reason[:DEAD_LETTER_REASON_MAX],
            "code": self.code,
            "stage": self.stage,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "index": self.index,
            "series": self.series,
            "raw_b64": base64.b64encode(raw[:DEAD_LETTER_RAW_MAX]).decode(),
            "raw_size": size,
            "raw_sha256": digest,
            "truncated": size > min(len(raw), DEAD_LETTER_RAW_MAX),
        }
        return json.dumps(d, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> DeadLetter:
        d = json.loads(data)
        raw = base64.b64decode(d["raw_b64"])
        return cls(
            reason=d["reason"],
            stage=d["stage"],
            raw=raw,
            topic=d["topic"],
            partition=int(d["partition"]),
            offset=int(d["offset"]),
            code=d.get("code") or ("invalid" if d["stage"] == "validation" else d["stage"]),
            index=d.get("index"),
            series=d.get("series"),
            # kept only for a truncated copy: a whole one carries its own size and digest
            raw_size=d.get("raw_size") if d.get("truncated") else None,
            raw_sha256=d.get("raw_sha256") if d.get("truncated") else None,
        )


#: where a record was read: (partition, offset, index in its envelope or None)
Key = tuple[int, int, int | None]


def fmt_key(key: Key) -> str:
    """``P/OFFSET/INDEX`` (``-`` for no index), as in dead-letter keys.

    >>> fmt_key((1, 42, None)), fmt_key((0, 7, 3))
    ('1/42/-', '0/7/3')
    """
    p, o, i = key
    return f"{p}/{o}/{'-' if i is None else i}"


def parse_key(text: str) -> Key | None:
    """The inverse of :func:`fmt_key`; None when malformed (``None``/``null`` index: None).

    >>> parse_key("1/42/-"), parse_key("0/7/3"), parse_key("x")
    ((1, 42, None), (0, 7, 3), None)
    """
    parts = text.split("/")
    try:
        index = None if parts[2] in ("-", "", "None", "null") else int(parts[2])
        return int(parts[0]), int(parts[1]), index
    except (IndexError, ValueError):
        return None


def legacy_code(stage: str, reason: str) -> str:
    """The code of a dead letter written before codes existed (best effort).

    >>> legacy_code("validate", "x"), legacy_code("bucketing", "event time 5 is in closed bucket 0")
    ('invalid', 'too_late')
    """
    if stage in ("validate", "validation"):
        return "invalid"
    if stage == "duplicate":
        return "duplicate_id"
    if "closed bucket" in reason:
        return "too_late"
    if "ahead of the" in reason:
        return "too_far_ahead"
    return "in_future" if "future" in reason else "unknown"
