"""Sale events as Kafka message values: one event, or envelopes grouped per partition. Pure.

An envelope ``{"events": [...]}`` (the wire format of :mod:`contracts.events`) holds events of
one partition (:func:`~stream.partitioning.partition_for` of each series), so that every series
keeps to its partition; :func:`group_envelopes` keeps one buffer per partition.
:mod:`stream.replay` sends what these build.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator

from contracts.events import SaleEvent
from stream.partitioning import partition_for

__all__ = ["encode_event", "pack_envelope", "group_envelopes"]

_str = json.encoder.encode_basestring_ascii


def encode_event(e: SaleEvent) -> bytes:
    """The wire bytes of ``e``: the same as ``e.to_json()``, about 6x faster.

    >>> encode_event(SaleEvent("A", 10.0, 2, 1.5, id="x:0"))
    b'{"series":"A","ts":10.0,"qty":2,"price":1.5,"id":"x:0"}'
    """
    ts, qty, price = e.ts, e.qty, e.price
    if (
        type(ts) is float
        and type(price) is float
        and (type(qty) is int or type(qty) is float)
        and math.isfinite(ts + qty + price)
    ):  # repr is what json writes for these
        out = f'{{"series":{_str(e.series)},"ts":{ts!r},"qty":{qty!r},"price":{price!r}'
        if e.id is not None:
            out += f',"id":{_str(e.id)}'
        if e.country is not None:
            out += f',"country":{_str(e.country)}'
        return (out + "}").encode()
    return e.to_json()


def pack_envelope(events: list[SaleEvent]) -> tuple[str | None, bytes]:
    """``(key, value)`` of one envelope message; the key is the series if all share one.

    >>> pack_envelope([SaleEvent("A", 1.0, 1, 2.0), SaleEvent("A", 2.0, 1, 2.0)])[0]
    'A'
    >>> key, value = pack_envelope([SaleEvent("A", 1.0, 1, 2.0), SaleEvent("B", 2.0, 3, 1.0)])
    >>> key, value
    (None, b'{"events":[{"series":"A","ts":1.0,"qty":1,"price":2.0},{"series":"B","ts":2.0,"qty":3,"price":1.0}]}')
    """  # noqa: E501
    first = events[0].series
    key = first if all(e.series == first for e in events) else None
    return key, b'{"events":[' + b",".join(map(encode_event, events)) + b"]}"


def group_envelopes(
    events: Iterable[SaleEvent], size: int, partitions: int, max_span: float | None = None
) -> Iterator[tuple[int, list[SaleEvent]]]:
    """``(partition, events)`` of each envelope: one buffer per partition
    (:func:`~stream.partitioning.partition_for` of the series), yielded when it holds ``size``
    events, and all non-empty buffers at the end (lowest partition first). With ``max_span``
    (event-time seconds), buffers whose first event is more than ``max_span`` older than the
    incoming event are yielded first (oldest first). Events keep their order per partition.

    >>> evs = [SaleEvent(s, float(t), 1, 1.0) for t, s in enumerate("ABAAB")]
    >>> partition_for("A", 4), partition_for("B", 4)
    (2, 0)
    >>> [(p, "".join(e.series for e in chunk)) for p, chunk in group_envelopes(evs, 2, 4)]
    [(2, 'AA'), (0, 'BB'), (2, 'A')]
    >>> [(p, [e.ts for e in chunk]) for p, chunk in group_envelopes(evs, 9, 4, max_span=2.5)]
    [(2, [0.0, 2.0]), (0, [1.0]), (0, [4.0]), (2, [3.0])]
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    buffers: dict[int, list[SaleEvent]] = {}
    oldest = math.inf  # the smallest first ts of the non-empty buffers
    for e in events:
        if max_span is not None and e.ts - oldest > max_span:
            floor = e.ts - max_span
            old = sorted((b[0].ts, p) for p, b in buffers.items() if b[0].ts < floor)
            for _, p in old:
                yield p, buffers.pop(p)
            oldest = min((b[0].ts for b in buffers.values()), default=math.inf)
        p = partition_for(e.series, partitions)
        buf = buffers.get(p)
        if buf is None:
            buf = buffers[p] = []
            oldest = min(oldest, e.ts)
        buf.append(e)
        if len(buf) >= size:
            yield p, buffers.pop(p)
            if max_span is not None:
                oldest = min((b[0].ts for b in buffers.values()), default=math.inf)
    for p in sorted(buffers):
        yield p, buffers[p]
