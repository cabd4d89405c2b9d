"""The report a partition sends to the aggregates' ledger (:mod:`stream.aggregates`): its
running sums per open bucket and child, and how far its buckets are complete.

A report travels on the events topic, keyed by ``total``, as JSON behind
:data:`REPORT_PREFIX`; the partition ``total`` hashes to takes it into its ledger. Anything
there that starts like a report but is none (:func:`decode_report`), or that no partition of
the topic could have sent (:func:`check_report`: another topic's partition, a bucket outside
the events' time range, sums that are no counts), is refused with a reason, which the worker
dead-letters: a stray record never stops the worker nor makes the ledger close decades.

>>> raw = encode_report(2, 7, 20, {10: {"country:EIRE": [3.0, 2]}})
>>> raw
b'{"aggregate_report":{"partition":2,"offset":7,"final_until":20,"sums":{"10":{"country:EIRE":[3.0,2]}}}}'
>>> decode_report(raw)
Report(partition=2, offset=7, final_until=20, sums={10: {'country:EIRE': [3.0, 2]}}, group=None)
>>> decode_report(encode_report(2, 7, 20, {}, group="salescast-worker")).group
'salescast-worker'
>>> decode_report(raw.replace(b'"partition":2', b'"partition":1e400'))
Traceback (most recent call last):
...
ValueError: not an aggregate report: cannot convert float infinity to integer
>>> decode_report(b'{"aggregate_report":{"partition":1}}')
Traceback (most recent call last):
...
ValueError: not an aggregate report: no field 'sums'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from contracts.events import MAX_ABS_QTY, MAX_TS, MIN_TS, is_text
from contracts.wire import MAX_NAME_LEN
from models.grid import position, start

__all__ = ["REPORT_PREFIX", "MAX_COUNT", "Report", "encode_report", "decode_report",
           "is_report", "check_report"]

REPORT_PREFIX = b'{"aggregate_report":'
#: the most events one report's sum may count (so that no sum a report carries, nor the sum
#: of one per partition, comes near the model bank's MAX_VALUE: a forged sum of 1e31 failed
#: the batch, and the worker, on every restart)
MAX_COUNT = 2**53


@dataclass(frozen=True)
class Report:
    partition: int
    offset: int
    final_until: int | None  # None: the partition has no watermark yet
    sums: dict[int, dict[str, list[float]]]
    #: the worker group that sent it (SALESCAST_WORKER_ID; None: a report of an older worker,
    #: or of one that names no group). Two groups can read one events topic (a daily and an
    #: hourly one): each ledger takes its own group's reports only
    group: str | None = None


def encode_report(partition: int, offset: int, final_until: int | None,
                  sums: Mapping[int, Mapping[str, list[float]]], group: str = "") -> bytes:
    body: dict[str, object] = {"partition": partition, "offset": offset,
                               "final_until": final_until,
                               "sums": {str(b): {c: [v[0], int(v[1])] for c, v in per.items()}
                                        for b, per in sums.items()}}
    if group:
        body["group"] = group
    return REPORT_PREFIX + json.dumps(body, separators=(",", ":")).encode() + b"}"


def decode_report(raw: bytes) -> Report:
    """A report's fields; ``ValueError`` when it is not a well-formed report (whatever the
    bytes: numbers too large for a float, nesting too deep)."""
    try:
        body = json.loads(raw)["aggregate_report"]
        sums = {int(b): {str(c): [float(v[0]), int(v[1])] for c, v in per.items()}
                for b, per in body["sums"].items()}
        until, group = body["final_until"], body.get("group")
        if group is not None and not isinstance(group, str):
            raise ValueError(f"group {group!r} is no worker id")
        return Report(int(body["partition"]), int(body["offset"]),
                      None if until is None else int(until), sums, group)
    except KeyError as exc:
        raise ValueError(f"not an aggregate report: no field {exc}") from None
    except (ValueError, TypeError, IndexError, AttributeError, OverflowError,
            RecursionError) as exc:
        raise ValueError(f"not an aggregate report: {exc}") from None


def is_report(raw: bytes) -> bool:
    """Whether ``raw`` is a well-formed report (any group's): never an event, also for a
    worker that keeps no aggregates (it dead-lettered another group's reports, one per batch
    of each of its partitions).

    >>> is_report(encode_report(0, 1, None, {})), is_report(REPORT_PREFIX + b"1}")
    (True, False)
    """
    try:
        decode_report(raw)
    except ValueError:
        return False
    return True


def check_report(report: Report, sources: int, width: int, lateness: int = 0,
                 children: str = "") -> None:
    """``ValueError`` unless ``report`` could come from a partition of a topic of ``sources``
    partitions with buckets of ``width`` and that ``lateness``: its partition is one of them,
    every bucket it names is a bucket start in the events' time range, its children are
    named ``children...`` (``country:``), and its sums are sums of events: at most
    :data:`MAX_COUNT` events, each within the events' bounds (MAX_ABS_QTY). (What such a report
    says, its offset and how far it is complete, is trusted: it is no proof of its sender.)

    >>> check_report(Report(9, 1, None, {}), sources=4, width=10)
    Traceback (most recent call last):
    ...
    ValueError: aggregate report of partition 9: the topic has partitions 0..3
    """
    low = start(MIN_TS - lateness, width)  # the first bucket an event (or a watermark) names

    def bucket(b: int, what: str) -> None:
        if not (low <= b < MAX_TS and position(low, b, width) is not None):
            raise ValueError(f"aggregate report of partition {report.partition}: {what} {b} "
                             f"is not a bucket start between {low} and {int(MAX_TS)}")

    if not 0 <= report.partition < sources:
        raise ValueError(f"aggregate report of partition {report.partition}: the topic has "
                         f"partitions 0..{sources - 1}")
    if report.final_until is not None:
        bucket(report.final_until, "final_until")
    for b, per in report.sums.items():
        bucket(b, "bucket")
        for c, (qty, n) in per.items():
            if not (c.startswith(children) and len(c) <= MAX_NAME_LEN and is_text(c)):
                raise ValueError(f"aggregate report of partition {report.partition}: {c[:80]!r}"
                                 f" is no child of the total ({children}...)")
            if not (math.isfinite(qty) and 0 <= n <= MAX_COUNT and abs(qty) <= n * MAX_ABS_QTY):
                raise ValueError(f"aggregate report of partition {report.partition}: bucket "
                                 f"{b}, {c!r}: {qty:g} is no sum of {n} events (a count "
                                 f"0..{MAX_COUNT}, each event within +-{MAX_ABS_QTY:g})")
