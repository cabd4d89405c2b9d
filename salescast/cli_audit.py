"""``salescast audit``: reconcile the events topic, the dead-letter topic and Redis.

Reads both topics from the beginning up to their end offsets taken at the start (assign(), no
committed offsets, a throwaway group id), then the Redis event count of every series seen, and
hands everything to :mod:`stream.audit`. Exit status: 0 reconciled, 1 differences, 2 usage
error (Kafka or Redis unreachable, no events topic). ``--wait`` retries (re-reading everything)
while a worker may still be catching up. Run it on a quiet topic: events produced while it
reads are counted in Redis but not read, and show up as differences until a retry.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from config import Settings
from config.addresses import redacted
from salescast.cliutil import UserError, console, friendly, settings_with_services

if TYPE_CHECKING:  # stream.audit imports aiokafka (0.15 s): only when the command runs
    from stream.audit import AuditResult, Record

__all__ = ["audit", "run_audit"]

out = Console()
TIMEOUT = 10.0  #: seconds a metadata/offsets request may take
STALL = 30.0  #: seconds without a message before reading gives up
RETRY_PAUSE = 2.0
REDIS_BATCH = 1000
#: column titles of the dead-letter codes (duplicate ids are skips, not errors)
HEADERS = {"invalid": "invalid", "too_late": "late", "too_far_ahead": "ahead",
           "in_future": "future", "duplicate_id": "dup id"}


def _consumer(bootstrap: str) -> Any:
    from confluent_kafka import Consumer

    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"salescast-audit-{uuid.uuid4().hex[:12]}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
        "fetch.queue.backoff.ms": 100,
        "log_level": 0,
    })


def _offsets(consumer: Any, topic: str) -> dict[int, tuple[int, int]] | None:
    """``partition -> (low, high)`` watermarks of ``topic``; None when it does not exist."""
    from confluent_kafka import KafkaException, TopicPartition

    from infra.kafka_client import error_text

    try:
        meta = consumer.list_topics(topic, timeout=TIMEOUT).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            return None
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT)
                for p in sorted(meta.partitions)}
    except KafkaException as exc:
        raise UserError(f"kafka does not answer: {error_text(exc)}") from None


def _read(consumer: Any, topic: str, ends: dict[int, tuple[int, int]],
          sink: Callable[[Record], None], advance: Callable[[int], None]) -> None:
    """Feed ``sink`` every message of ``topic`` below the ``ends`` high watermarks."""
    from confluent_kafka import KafkaException

    from stream.audit import Record
    from stream.topic_read import read_to_end

    def record(msg: Any) -> None:
        sink(Record(msg.partition(), msg.offset(), msg.value(), msg.key()))

    try:
        read_to_end(consumer, topic, ends, record, stall=STALL, on_batch=advance, batch=1000)
    except TimeoutError as exc:
        raise UserError(str(exc)) from None
    except KafkaException as exc:
        raise UserError(f"reading {topic}: {exc.args[0]}") from None


@contextmanager
def _redis_at(url: str, *, also: tuple[type[Exception], ...] = (),
              decode_responses: bool = False) -> Iterator[Any]:
    """A client of the Redis at ``url``, closed after; its errors (and ``also``) one line."""
    import redis

    errors: tuple[type[Exception], ...] = (redis.RedisError, *also)
    r = redis.Redis.from_url(url, socket_timeout=TIMEOUT, decode_responses=decode_responses)
    try:
        yield r
    except errors as exc:
        raise UserError(f"redis at {redacted(url)} does not answer: {exc}") from None
    finally:
        r.close()


def lost_by_retention(url: str) -> dict[str, int]:
    """What the workers found deleted by retention before they read it (worker -> messages)."""
    from contracts.wire import LOST_KEY

    with _redis_at(url, also=(ValueError,), decode_responses=True) as r:
        return {str(w): int(float(n)) for w, n in r.hgetall(LOST_KEY).items()}


def redis_counts(url: str, series: Iterable[str]) -> dict[str, int | None]:
    """The ``events`` count of each series' live snapshot in Redis (None: none readable)."""
    from contracts.wire import LIVE_FIELD, series_hash

    names = sorted(series)
    counts: dict[str, int | None] = {}
    with _redis_at(url) as r:
        for i in range(0, len(names), REDIS_BATCH):
            chunk = names[i : i + REDIS_BATCH]
            pipe = r.pipeline(transaction=False)
            for s in chunk:
                pipe.hget(series_hash(s), LIVE_FIELD)
            for s, live in zip(chunk, pipe.execute(), strict=True):
                try:
                    value = json.loads(live)["events"] if live is not None else None
                    counts[s] = int(value) if value is not None else None
                except (ValueError, KeyError, TypeError):
                    counts[s] = None
    return counts


def run_audit(settings: Settings, progress: bool = True) -> AuditResult:
    """One pass: dead letters, events, Redis; the reconciliation."""
    from infra.kafka_client import unreachable
    from stream.aggregates import grouping_of
    from stream.audit import Reconciler
    from stream.partition_watch import mismatch

    if (why := unreachable(settings.kafka)) is not None:  # at once, not after 10 s of retries
        raise UserError(why)
    consumer = _consumer(settings.kafka)
    try:
        events = _offsets(consumer, settings.events_topic)
        if events is None:
            raise UserError(f"topic {settings.events_topic!r} does not exist on {settings.kafka}")
        dead = _offsets(consumer, settings.deadletter_topic)
        if dead is None:
            console.print(f"[yellow]no dead-letter topic {settings.deadletter_topic!r}: "
                          "read as empty[/]")
            dead = {}
        n = len(events)  # the worker's count, unless SALESCAST_PARTITIONS says another
        if "partitions" in settings.model_fields_set and (line := mismatch(
                settings.partitions, {settings.events_topic: n})):  # partitions added
            console.print(f"[yellow]{escape(line)}; the audit places series as such a worker "
                          f"does, by {settings.partitions} partitions[/]")
            n = settings.partitions
        rec = Reconciler(settings.events_topic, n, grouping_of(settings),
                         {p: lo for p, (lo, _) in events.items()})
        total = sum(h - lo for lo, h in [*events.values(), *dead.values()])
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True, disable=not progress) as bar:
            task = bar.add_task("reading dead letters", total=total)

            def advance(n: int) -> None:
                bar.advance(task, n)

            _read(consumer, settings.deadletter_topic, dead, rec.add_dead_letter, advance)
            bar.update(task, description="reading events")
            _read(consumer, settings.events_topic, events, rec.add_event, advance)
    finally:
        consumer.close()
    return rec.finish(redis_counts(settings.redis, rec.series), lost_by_retention(settings.redis))


def _row(name: str, t: Any, codes: list[str]) -> list[str]:
    return [name, f"{t.messages:,}", f"{t.valid:,}", f"{t.accepted:,}",
            *(f"{t.dead.get(c, 0):,}" for c in codes), f"{t.rerouted:,}", f"{t.missing_dead:,}"]


def render(result: AuditResult, max_series: int) -> None:
    """The reconciliation table, the differences and the verdict (stdout)."""
    from stream.audit import CODES
    from stream.records import fmt_key

    codes = [*CODES, *sorted(set(result.total.dead) - set(CODES))]
    table = Table(title=f"audit of {escape(result.topic)}", box=box.SIMPLE_HEAD, padding=0,
                  show_edge=False, caption="invalid .. dup id: dead letters by code; "
                  "no DL: invalid records without one")
    for col in ("part", "messages", "valid", "counted", *(escape(HEADERS.get(c, c)) for c in codes),
                "rerouted", "no DL"):
        table.add_column(col, justify="left" if col == "part" else "right")
    for p, t in result.partitions.items():
        table.add_row(*_row(str(p), t, codes))
    table.add_row(*_row("total", result.total, codes), style="bold")
    out.print(table)
    if result.counts:
        out.print(f"\n[bold]series whose Redis count differs ({len(result.counts):,})[/]")
        diff = Table(box=box.SIMPLE_HEAD, show_edge=False)
        for col in ("series", "expected", "redis"):
            diff.add_column(col, justify="left" if col == "series" else "right")
        for s, want, got in result.counts[:max_series]:
            diff.add_row(escape(s), f"{want:,}", "missing" if got is None else f"{got:,}")
        out.print(diff)
        if len(result.counts) > max_series:
            out.print(f"... and {len(result.counts) - max_series:,} more (--max-series)")
    for key, why in result.missing_dead[:max_series]:
        out.print(f"[red]no dead letter for the invalid record {fmt_key(key)}[/] ({escape(why)})")
    for key in result.missing_copies[:max_series]:
        out.print(f"[red]re-routed event {fmt_key(key)} has no copy[/]")
    for worker, n in sorted(result.lost.items()):
        out.print(f"[red]worker {escape(worker)}: {n:,} messages deleted by retention before "
                  f"it read them[/] (its log says which; once accounted for, `redis-cli DEL "
                  f"salescast:ops:lost` clears this)")
    out.print(f"[dim]{result.series:,} series checked; dead letters: {result.dead_repeats:,} "
              f"repeats deduped, {result.dead_other_topic:,} of other topics, "
              f"{result.dead_unmatched:,} unmatched, {result.dead_unreadable:,} unreadable[/]")
    if result.truncated:
        heads = ", ".join(f"{p} from offset {start:,}" for p, start in result.truncated.items())
        out.print(f"[yellow]retention deleted the oldest events of partitions {heads}: their "
                  f"series (and the aggregates) are checked as at least what the log holds; "
                  f"{result.unverifiable:,} count more, as events counted before were "
                  f"deleted[/]")
    n = result.differences
    out.print("[bold green]reconciled[/]" if result.ok else
              f"[bold red]NOT reconciled: {n:,} difference{'s' * (n != 1)}[/]")


@friendly
def audit(
    wait: Annotated[float, typer.Option(min=0, help="retry for up to N seconds until it "
                                                    "reconciles (a worker catching up)")] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    max_series: Annotated[int, typer.Option(min=0, help="differences listed per kind")] = 20,
) -> None:
    """Reconcile the events and dead-letter topics with Redis, event by event.

    Exit status 0 when every event is accounted for, 1 on any difference, 2 on a usage error
    or when Kafka or Redis does not answer.
    Needs the services (`salescast services up`, or KAFKA_BOOTSTRAP and REDIS_URL). Example:
    `salescast audit --json`.
    """
    settings = settings_with_services()
    deadline = time.monotonic() + wait
    attempts = 0
    while True:
        attempts += 1
        result = run_audit(settings, progress=not as_json)
        left = deadline - time.monotonic()
        if result.ok or left <= 0:
            break
        console.print(f"[dim]attempt {attempts}: {result.differences:,} differences; "
                      f"retrying ({left:.0f} s left)[/]")
        time.sleep(min(RETRY_PAUSE, left))
    if as_json:
        print(json.dumps({**result.to_dict(max_series), "attempts": attempts}, indent=2))
    else:
        render(result, max_series)
    raise typer.Exit(0 if result.ok else 1)
