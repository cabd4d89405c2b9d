"""What every ``salescast`` command shares: one-line errors, the console, settings."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from config import ConfigError, Settings, load_settings
from config.calendar import calendar_warning

if TYPE_CHECKING:
    from contracts.events import SaleEvent
    from sources.user_file import UserFile

__all__ = ["ColumnsOption", "FileOption", "TimeFormatOption", "UserError", "check_partitions",
           "check_redis_user", "check_state", "console", "friendly", "kafka_topics",
           "load_settings", "output_lost", "settings_with_services", "stop_on_term", "user_file",
           "warn_calendar", "warn_contract", "warn_producer_time", "warn_unknown_variables"]

console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

#: the options of the commands that read the user's own file (:mod:`sources.user_file`)
FileOption = Annotated[str | None, typer.Option(
    "--file", help="your own data instead of Online Retail II: a CSV (.gz/.xz/.bz2 too) or "
                   "JSON lines file with a series, a time and a value column, a row per sale "
                   "or per period, or a row per series and a column per period")]
ColumnsOption = Annotated[str | None, typer.Option(
    help="with --file: the columns series,time,value (series may be a+b); default: found by "
         "name (unique_id/ds/y, series/ts/qty, sku/date/sales, ...)")]
TimeFormatOption = Annotated[str | None, typer.Option(
    help="with --file: how the times are written, when not epoch seconds, ISO or '2024 Q1' "
         "(strptime, e.g. '%m/%d/%Y %H:%M'; on the shop's clock, SALESCAST_UTC_OFFSET, "
         "unless it has %z), or 'excel' (serial dates)")]


class UserError(Exception):
    """An error to show the user as one line."""


def friendly(fn: F) -> F:
    """Turn expected errors into one-line messages with exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from infra.services import ServiceError
        from sources.errors import DatasetError

        try:
            return fn(*args, **kwargs)
        except (ConfigError, ServiceError, DatasetError, UserError) as exc:
            console.print(f"[red]salescast: {escape(str(exc))}[/]", soft_wrap=True)  # one line
            raise typer.Exit(2) from None
        except OSError as exc:
            if exc.filename is None:  # not a path (a socket, ...): not the user's to fix here
                raise
            console.print(f"[red]salescast: {escape(f'{exc.filename}: {exc.strerror}')}[/]",
                          soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def stop_on_term() -> None:
    """SIGTERM stops this command as Ctrl-C does, and so what it started (Kafka, Redis, workers,
    a gateway): ``kill``, ``timeout`` and service managers send it, which left them orphaned."""
    import signal

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)


def warn_contract(events: list[SaleEvent]) -> None:
    """Say before sending which events the worker will refuse (they become dead letters
    with their reason, as any producer's would): a file is not held to the event contract
    (contracts/events.py) until it is streamed."""
    from collections import Counter

    from stream.validation import Rejection, validate

    why: Counter[str] = Counter()
    for e in events:
        if isinstance(got := validate(e.to_json()), Rejection):
            why[got.reason.split(", got")[0]] += 1
    if why:
        console.print(f"[yellow]{sum(why.values()):,} of {len(events):,} events break the "
                      f"event contract and will be dead letters:[/] " + "; ".join(
                          f"{n:,}: {escape(reason)}" for reason, n in why.most_common(3))
                      + (" (name a shorter key with --columns, an id column if the file has "
                         "one)" if any(r.startswith("series must be at most") for r in why)
                         else ""), soft_wrap=True)


def output_lost(exc: OSError) -> NoReturn:
    """End a command whose output could not be written (``exc``: a full disk, or a pipe its
    reader closed, as ``| head`` does): one line for the first, nothing for the second,
    status 1, and no traceback from the interpreter's last flush of stdout."""
    import errno
    import os
    import sys

    if exc.errno != errno.EPIPE:
        console.print(f"[red]salescast: cannot write the output: {escape(str(exc.strerror))}[/]")
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(1)


def warn_unknown_variables() -> None:
    """A yellow line for each ``SALESCAST_*`` variable that is no setting (a misspelt one
    would silently leave its default in force): :func:`config.rules.unknown_variables`."""
    import os

    from config.rules import unknown_variables
    from config.settings import ENV_VARS

    for line in unknown_variables(os.environ, ENV_VARS.values()):
        console.print(f"[yellow]salescast: {escape(line)}[/]", soft_wrap=True)


def settings_with_services(need: tuple[str, ...] = ("kafka", "redis")) -> Settings:
    """The settings with the addresses of the services the command ``need``s."""
    return load_settings().with_services(need)


def kafka_topics(bootstrap: str, timeout: float = 10.0) -> dict[str, Any]:
    """The topics (name -> metadata) of the Kafka at ``bootstrap``: a :class:`UserError` when
    it does not answer within ``timeout`` seconds (asks for the whole cluster's metadata, so
    that no broker creates a topic it is asked about)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from infra.kafka_client import error_text, unreachable

    if (why := unreachable(bootstrap)) is not None:
        raise UserError(why)
    try:
        meta = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(
            timeout=timeout)
    except KafkaException as exc:
        raise UserError(f"kafka at {bootstrap} does not answer: {error_text(exc)}") from None
    return dict(meta.topics)


def check_partitions(settings: Settings, topics: dict[str, Any]) -> None:
    """Refuse (:class:`UserError`) a worker whose events topic or state changelog (those that
    exist, in ``topics``: :func:`kafka_topics`) has another partition count than
    ``SALESCAST_PARTITIONS``: Faust would create or read the changelog with that count, and
    a series would be read on another partition than its state's (the worker crashes once
    it writes a state, after processing events).

    >>> from types import SimpleNamespace as NS
    >>> settings = load_settings({})
    >>> check_partitions(settings, {settings.events_topic: NS(partitions=dict.fromkeys(range(8)))})
    >>> check_partitions(settings, {settings.events_topic: NS(partitions=dict.fromkeys(range(4)))})
    Traceback (most recent call last):
    ...
    salescast.cliutil.UserError: SALESCAST_PARTITIONS is 8 but topic sales.events has 4 ...
    """
    from stream.app import state_changelog
    from stream.partition_watch import mismatch

    names = (settings.events_topic, state_changelog(settings.worker_id))
    line = mismatch(settings.partitions, {name: len(topics[name].partitions) for name in names
                                          if name in topics})
    if line is not None:
        raise UserError(line)


def check_state(settings: Settings, topics: dict[str, Any]) -> None:
    """Refuse (:class:`UserError`) a worker whose state changelog is missing from ``topics``
    while its group has committed offsets on the events topic: Faust made a new, empty one,
    and every series restarted from zero past events that are never read again (a probe
    deleted the changelog of a stopped worker: 1,006 series undercounted for good, and
    nothing said so)."""
    from confluent_kafka import KafkaException, TopicPartition

    from infra.kafka_client import offset_reader
    from stream.app import state_changelog

    changelog, events = state_changelog(settings.worker_id), settings.events_topic
    if changelog in topics or events not in topics:
        return
    consumer = offset_reader(settings.kafka, settings.worker_id)
    try:
        got = consumer.committed([TopicPartition(events, p) for p in topics[events].partitions],
                                 timeout=15)
    except KafkaException:  # no answer: nothing known to lose
        return
    finally:
        consumer.close()
    if any(tp.offset >= 0 for tp in got):
        raise UserError(
            f"the state changelog {changelog} is gone but group {settings.worker_id} has "
            f"committed offsets on {events}: the series would restart from zero, past events "
            f"never read again. Reset the group's offsets to the earliest (kafka-consumer-"
            f"groups --reset-offsets --to-earliest) and empty Redis, or start a new "
            f"SALESCAST_WORKER_ID with an empty Redis and replay the source")


def check_redis_user(settings: Settings) -> None:
    """Refuse (:class:`UserError`) a worker whose Redis refuses its credentials: it went on
    without Redis for good, logging an outage, while the gateway and the audit refused the
    same URL at once (a probe's wrong password). A Redis that does not answer is an outage
    the worker rides out: it starts, and writes once Redis is back."""
    import redis

    from config.addresses import redacted

    client = redis.Redis.from_url(settings.redis, socket_connect_timeout=2.0,
                                  socket_timeout=5.0)
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise UserError(f"redis at {redacted(settings.redis)} refuses the worker's "
                        f"credentials: {exc} (REDIS_URL: redis://user:password@host:port/db)"
                        ) from None
    except redis.RedisError:
        return
    finally:
        client.close()


def warn_calendar(settings: Settings) -> None:  # a shop off UTC on England's holidays
    if (line := calendar_warning(settings)) is not None:
        console.print(f"[yellow]salescast: {escape(line)}[/]", soft_wrap=True)


def warn_producer_time(settings: Settings, topics: dict[str, Any]) -> None:
    """A yellow line when a live worker's events topic (one of ``topics``) keeps the
    producers' timestamps (``CreateTime``, a topic made by hand): live mode bounds events by
    the message timestamp, which is then the producers' clock, not the broker's (a probe: a
    producer's stale timestamps sent correct events to the dead letters as ``in_future``)."""
    from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

    topic = settings.events_topic
    if settings.event_time != "live" or topic not in topics:
        return
    resource = ConfigResource(ResourceType.TOPIC, topic)
    admin = AdminClient({"bootstrap.servers": settings.kafka, "log_level": 0})
    try:
        entry = admin.describe_configs([resource])[resource].result(timeout=10).get(
            "message.timestamp.type")
    except Exception:  # noqa: BLE001 - a warning only: the worker starts either way
        return
    if entry is not None and entry.value == "CreateTime":
        console.print(f"[yellow]salescast: topic {escape(topic)} keeps the producers' "
                      f"timestamps (CreateTime): live mode then bounds events by the "
                      f"producers' clocks; set message.timestamp.type=LogAppendTime on it "
                      f"(kafka-configs --alter), as `salescast services up` does[/]",
                      soft_wrap=True)


def user_file(file: str, columns: str | None, time_format: str | None,
              utc_offset: int = 0) -> UserFile:
    """``--file`` with its ``--columns`` and ``--time-format``: the file, its header read, its
    times without a zone on the shop's clock (``utc_offset``, SALESCAST_UTC_OFFSET); a
    :class:`UserError` for a missing file or columns it lacks."""
    from config.paths import expand_user
    from sources.user_file import UserFile

    if not file.strip():
        raise UserError("--file needs a path, got ''")
    if time_format is not None and not time_format.strip():
        raise UserError("--time-format needs a format (strptime's, or excel), got ''")
    try:
        return UserFile(expand_user(file), columns, time_format, utc_offset)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def usage_line(message: str, argv: list[str]) -> str:
    """A usage error as one line; a range message about a value that is not a finite number
    (typer checks ``nan`` against the range and says it is too large) names the value.

    >>> usage_line("Invalid value for '--ttl':  Input should be less than or equal to 9",
    ...            ["token", "--ttl", "nan"])
    "Invalid value for '--ttl': nan is not a finite number"
    >>> usage_line("Invalid value for '--ttl': Input should be less than or equal to 9",
    ...            ["token", "--ttl=10"])
    "Invalid value for '--ttl': Input should be less than or equal to 9"
    """
    line = " ".join(message.split())
    head, sep, tail = line.partition(": Input should be ")
    if not sep:
        return line
    for arg in argv:
        value = arg.rpartition("=")[2].strip().lower().lstrip("+-")
        if value in ("nan", "inf", "infinity"):
            return f"{head}: {arg.rpartition('=')[2].strip()} is not a finite number"
    return line
