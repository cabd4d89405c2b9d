"""``salescast bench ...``: the benchmarks' commands (the benchmarks live in :mod:`benchmarks`)."""

from __future__ import annotations

from typing import Annotated

import typer

from config import load_settings
from contracts.events import MAX_ENVELOPE_EVENTS
from salescast.cliutil import UserError, console, friendly, settings_with_services, stop_on_term

__all__ = ["bench_app", "bench_faust_floor"]

bench_app = typer.Typer(short_help="Benchmarks: the pipeline (default), the gateway, scale-out, "
                        "stalls, aggregates, the LSTM, the models.", help=(
    "Benchmarks, each printing its figures beside a reference measured in the same run. "
    "`salescast bench` alone runs the pipeline benchmark (Kafka -> worker -> Redis throughput "
    "and latency against bare confluent-kafka and a plain Faust agent; ~5 min; it starts the "
    "local Kafka and Redis when they are not up); the commands below measure one part each. "
    "On a shared machine use `--rounds 3` and quote the median ratios; run a benchmark alone "
    "(pinned with taskset)."))


@bench_app.callback(invoke_without_command=True)
@friendly
def bench(
    ctx: typer.Context,
    events: Annotated[int, typer.Option(min=1000, help="synthetic events to push")] = 200_000,
    series: Annotated[int, typer.Option(min=1, help="distinct series")] = 2_000,
    envelope: Annotated[int, typer.Option(min=0, max=MAX_ENVELOPE_EVENTS,
                                          help="also run with N events/message")] = 100,
    rate: Annotated[float, typer.Option(min=10, max=100_000,
                                        help="events/s of the latency run (10 s)")] = 2_000.0,
    rounds: Annotated[int, typer.Option(min=1, max=10, help=(
        "repeat the ceiling, floor and worker runs alternately; the median ratio is the "
        "figure to quote on a shared machine"))] = 1,
) -> None:
    """Kafka -> worker -> Redis throughput and latency, with reference rates from the same run.

    On a machine shared with other work, one run's rates move by a third from run to run:
    use `--rounds 3` and quote the median ratios. `salescast bench gateway` measures the
    WebSocket fan-out instead.
    """
    stop_on_term()  # every benchmark starts processes: SIGTERM stops them as Ctrl-C does
    if ctx.invoked_subcommand is not None:
        given = [f"--{name.replace('_', '-')}" for name in ctx.params
                 if getattr(ctx.get_parameter_source(name), "name", None) != "DEFAULT"]
        if given:  # typer would run the subcommand and drop them without a word
            raise UserError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for "
                            f"`salescast bench` alone; `salescast bench "
                            f"{ctx.invoked_subcommand} --help` lists that benchmark's options")
        return
    from benchmarks.pipeline import run_bench

    run_bench(load_settings(), events=events, series=series, envelope=envelope, console=console,
              rate=rate, rounds=rounds)


@bench_app.command("gateway")
@friendly
def bench_gateway(
    clients: Annotated[int, typer.Option(min=1, max=20_000, help="WebSocket clients")] = 1000,
    slow_fraction: Annotated[float, typer.Option(min=0, max=0.9,
                                                 help="share of clients that never read")] = 0.1,
    seconds: Annotated[float, typer.Option(min=1, max=300, help="seconds per run")] = 10.0,
    rate: Annotated[float, typer.Option(min=1, max=10_000, help="updates published a second")] = (
        20.0),
    series: Annotated[int, typer.Option(min=1, help="distinct series updated")] = 100,
) -> None:
    """Gateway fan-out: frames/s, p50/p99 push latency and RSS, with slow clients (loopback)."""
    from benchmarks.gateway_fanout import run_gateway_bench

    run_gateway_bench(clients, slow_fraction, seconds, rate, series, load_settings().home,
                      console)


@bench_app.command("scale")
@friendly
def bench_scale(
    events: Annotated[int, typer.Option(min=1000, help="synthetic events for the throughput "
                                                      "runs")] = 100_000,
    series: Annotated[list[int] | None, typer.Option(
        min=100, help="series held when a worker joins (repeat for several sizes; default: "
                       "10000 and 100000)")] = None,
) -> None:
    """The worker group: throughput with 1 and 2 workers, rebalance and failover times.

    Throughput with 1 and 2 workers (and the CPU split), rebalance and failover time with 10k
    and 100k series, failover with a standby replica.

    Run it alone: every figure shares this machine's cores with the broker and Redis.
    """
    from benchmarks.scale import run_scale_bench

    run_scale_bench(load_settings(), events, sorted(series or [10_000, 100_000]), console)


@bench_app.command("stall")
@friendly
def bench_stall(
    series: Annotated[int, typer.Option(min=100, help="series the worker takes, two events "
                                                     "each, a day apart")] = 100_000,
    runs: Annotated[int, typer.Option(min=1, max=20, help="fresh workers, one after the "
                                                           "other")] = 3,
) -> None:
    """The longest event-loop stall of one worker's day close, over several runs.

    The worker takes a day of every series and closes it (the day close of bench scale); the
    figure varies a lot from run to run.

    Run it alone: the worker shares this machine's cores with the broker and Redis.
    """
    from benchmarks.stall import run_stall_bench

    run_stall_bench(load_settings(), series, runs, console)


@bench_app.command("aggregates")
@friendly
def bench_aggregates(
    events: Annotated[int, typer.Option(min=1000, help="synthetic events")] = 100_000,
    series: Annotated[int, typer.Option(min=1, help="distinct series")] = 2_000,
    envelope: Annotated[int, typer.Option(min=0, max=MAX_ENVELOPE_EVENTS,
                                          help="events per message (0: one)")] = 100,
) -> None:
    """Worker throughput with aggregates (total + countries) on and off, alternately.

    The cost of `SALESCAST_AGGREGATE_BY`, both measured in the same run. Run it alone.
    """
    from benchmarks.aggregates_cost import run_aggregates_bench

    run_aggregates_bench(load_settings(), events, series, envelope, console)


@bench_app.command("lstm")
@friendly
def bench_lstm(
    series: Annotated[int, typer.Option(min=10, help="synthetic series")] = 2000,
    days: Annotated[int, typer.Option(min=90, help="daily buckets per series")] = 365,
    budget: Annotated[float, typer.Option(min=5, help="training time budget, seconds")] = 120.0,
) -> None:
    """LSTM training time (2k series x 1 year), batched inference latency (1k, 10k), memory."""
    from benchmarks.lstm_costs import run_lstm_bench

    run_lstm_bench(series, days, budget, console)


@bench_app.command("models")
@friendly
def bench_models(
    series: Annotated[int | None, typer.Option(
        min=10, help="synthetic daily series (bank: 10000; --by-model: 300)")] = None,
    buckets: Annotated[int | None, typer.Option(
        min=1, help="timed buckets (bank: 5; --by-model: 60)")] = None,
    object_series: Annotated[int, typer.Option(
        min=10, help="series of the per-object stack timed beside the bank")] = 1000,
    by_model: Annotated[bool, typer.Option(
        help="the per-object cost model by model instead")] = False,
) -> None:
    """Per-series cost of a closed bucket: the bank against the per-object stack."""
    if by_model:
        from benchmarks.model_costs import run_models_bench

        run_models_bench(series or 300, buckets or 60, console)
        return
    from benchmarks.bank_costs import run_bank_bench

    run_bank_bench(series or 10_000, buckets or 5, object_series, console)


@friendly
def bench_faust_floor(topic: str, events: int, transport: Annotated[str, typer.Option(
        help="faust: Faust's own transport; salescast: the worker's")] = "faust") -> None:
    """(internal) The plain-Faust reference of `salescast bench`."""
    from benchmarks.faust_floor import TRANSPORTS, run_floor

    if transport not in TRANSPORTS:
        raise UserError(f"--transport must be one of {', '.join(TRANSPORTS)}")
    run_floor(settings_with_services(("kafka",)).kafka, topic, events, transport)
