"""What every ``salescast`` command shares: one-line errors, the console, settings."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from sources.user_file import UserFile

__all__ = ["ColumnsOption", "FileOption", "TimeFormatOption", "UserError", "check_partitions",
           "console", "friendly", "kafka_topics", "load_settings", "settings_with_services",
           "user_file"]

console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

#: the options of the commands that read the user's own file (:mod:`sources.user_file`)
FileOption = Annotated[str | None, typer.Option(
    "--file", help="your own data instead of Online Retail II: a CSV (.gz/.xz/.bz2 too) or "
                   "JSON lines file with a series, a time and a value column, a row per sale "
                   "or per period")]
ColumnsOption = Annotated[str | None, typer.Option(
    help="with --file: the columns series,time,value (series may be a+b); default: found by "
         "name (unique_id/ds/y, series/ts/qty, sku/date/sales, ...)")]
TimeFormatOption = Annotated[str | None, typer.Option(
    help="with --file: how the times are written, when not epoch seconds, ISO or '2024 Q1' "
         "(strptime, e.g. '%m/%d/%Y %H:%M'; UTC unless it has %z), or 'excel' (serial "
         "dates)")]


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


def settings_with_services() -> Settings:
    return load_settings().with_services()




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


def user_file(file: str, columns: str | None, time_format: str | None) -> UserFile:
    """``--file`` with its ``--columns`` and ``--time-format``: the file, its header read; a
    :class:`UserError` for a missing file or columns it lacks."""
    from config.paths import expand_user
    from sources.user_file import UserFile

    try:
        return UserFile(expand_user(file), columns, time_format)
    except ValueError as exc:
        raise UserError(str(exc)) from None
