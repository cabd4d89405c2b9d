"""``salescast demo``: services up, data fetched, worker + gateway started, real data replayed.

Everything it starts is stopped on exit or Ctrl-C (by PID); services it found already
running are left running.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Iterable, Mapping

from rich.console import Console
from rich.markup import escape

from config import Settings
from config.addresses import make_url
from contracts.events import SaleEvent
from infra.kafka import free_port
from infra.procs import child_env, port_free, salescast_cmd, spawn, stop, wait_http
from models import grid
from salescast.cliutil import UserError, stop_on_term

__all__ = ["file_settings", "run_demo"]

#: where a gateway bound to every interface is reached
WILDCARD_BINDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}


def file_settings(settings: Settings, events: list[SaleEvent], env: Mapping[str, str]
                  ) -> tuple[Settings, str | None]:
    """The demo's settings for the user's ``events`` (in time order), and what to say of them:
    buckets of a week, a month or a quarter when a series' rows come that far apart
    (:func:`models.grid.width_for`), with the backtest's horizon for that width, and no
    lateness when every time is a bucket's start (rows labelled by their period: with an
    hour's lateness, the period before the last never closed at the end of a replay). What
    the environment sets (``SALESCAST_BUCKET_SECONDS``, ``_HORIZON``, ``_LATENESS_SECONDS``)
    stands.

    >>> s = Settings()
    >>> months = [SaleEvent("A", float(grid.shift(1704067200, k, grid.MONTH)), 1, 1.0)
    ...           for k in range(24)]
    >>> got, said = file_settings(s, months, {})
    >>> got.bucket_seconds, got.horizon, got.lateness_seconds, said[:37]
    (2629800, 12, 0, "your file's rows come a month apart o")
    >>> file_settings(s, months, {"SALESCAST_BUCKET_SECONDS": "86400"})[0].bucket_seconds
    86400
    >>> sundays = [SaleEvent("A", 1704585600.0 + k * grid.WEEK, 1, 1.0) for k in range(9)]
    >>> got = file_settings(s, sundays, {})[0]  # week-ending dates: not a bucket's start
    >>> got.bucket_seconds, got.horizon, got.lateness_seconds
    (604800, 13, 3600)
    >>> tokyo = s.model_copy(update={"utc_offset": 9 * 3600})  # its months start 9 h earlier
    >>> local = [SaleEvent("A", e.ts - 9 * 3600, 1, 1.0) for e in months]
    >>> [file_settings(c, local, {})[0].lateness_seconds for c in (tokyo, s)]
    [0, 3600]
    """
    from models.evaluation.file_panel import REGIMES

    grid.use_offset(settings.utc_offset)  # the worker's grid: the shop's clock
    if "SALESCAST_BUCKET_SECONDS" in env:
        return settings, None
    by_series: dict[str, list[float]] = {}
    for e in events:
        by_series.setdefault(e.series, []).append(e.ts)
    width = grid.width_for(by_series.values())
    if width == settings.bucket_seconds:
        return settings, None
    update: dict[str, int] = {"bucket_seconds": width}
    if "SALESCAST_HORIZON" not in env:
        update["horizon"] = REGIMES[width].horizon
    if "SALESCAST_LATENESS_SECONDS" not in env and all(
            grid.start(e.ts, width) == e.ts for e in events):
        update["lateness_seconds"] = 0
    unit = REGIMES[width].bucket
    return settings.model_copy(update=update), (
        f"your file's rows come a {unit} apart or so: buckets of a {unit} "
        "(SALESCAST_BUCKET_SECONDS chooses another)")


def run_demo(settings: Settings, speed: float, limit: int | None, console: Console,
             envelope: int = 100, events: list[SaleEvent] | None = None) -> None:
    """``envelope``: events per message (grouped per partition, each sent within 0.5 s of its
    first event); a single worker on a small machine falls behind the data set's busiest days
    on single-event messages. ``events``: the user's own (``--file``), in time order, instead
    of Online Retail II's."""
    from infra import services
    from sources.online_retail import fetch_dataset, iter_events
    from stream.replay import replay

    stop_on_term()  # SIGTERM stops everything too, like Ctrl-C
    was_up = settings.services_file.exists() or bool(settings.kafka_bootstrap)
    console.print("[bold]1/4[/] starting Kafka and Redis on 127.0.0.1 ...")
    state = services.up(settings)
    services.create_topics(state.kafka_bootstrap, settings)
    children: list[subprocess.Popen[bytes]] = []
    try:
        if events is None:
            console.print("[bold]2/4[/] fetching UCI Online Retail II ...")
            data: Iterable[SaleEvent] = iter_events(fetch_dataset(settings.data_dir),
                                                    limit=limit)
        else:
            console.print(f"[bold]2/4[/] your file: {len(events):,} events")
            data = events
        # 0 ("a free one") is chosen here: the demo must know the port to wait on and print
        port = settings.gateway_port if settings.gateway_port and port_free(
            settings.gateway_port) else free_port()
        host = WILDCARD_BINDS.get(settings.gateway_host, settings.gateway_host)
        env = child_env(state.kafka_bootstrap, state.redis_url,
                        SALESCAST_GATEWAY_PORT=str(port),
                        SALESCAST_BUCKET_SECONDS=str(settings.bucket_seconds),
                        SALESCAST_HORIZON=str(settings.horizon),
                        SALESCAST_LATENESS_SECONDS=str(settings.lateness_seconds))
        logs = settings.home / "logs"
        console.print(f"[bold]3/4[/] starting worker, ops monitor, LSTM trainer and gateway "
                      f"(logs in {logs}) ...")
        children.append(spawn(salescast_cmd("worker"), env, logs / "worker.log"))
        # the demo watches its children itself: its monitor waits out an outage
        children.append(spawn(salescast_cmd("monitor", "--give-up", "0"), env,
                              logs / "monitor.log"))
        # the LSTM: first training once 20 series have 84 days of buckets, then every minute
        children.append(spawn(salescast_cmd("trainer", "--every", "60", "--min-buckets", "5000",
                                            "--budget", "60"), env, logs / "trainer.log"))
        gw = spawn(salescast_cmd("gateway", "--port", str(port)), env, logs / "gateway.log")
        children.append(gw)
        try:
            wait_http(make_url("http", host, port, "/healthz"), 30, gw)
        except TimeoutError as exc:  # (the gateway died, or never answered)
            raise UserError(f"the gateway did not start ({exc}): see "
                            f"{logs / 'gateway.log'}") from None
        url = make_url("ws", host, port, "/ws")
        console.print(f"\n[bold green]dashboard:[/] {make_url('http', host, port, '/')}")
        console.print(f"[bold green]websocket:[/] {url}")
        example = "85123A" if not events else shlex.quote(events[-1].series)  # one of yours
        token = ' --token "$(salescast token)"' if settings.auth_secret is not None else ""
        console.print(f"try: [cyan]salescast watch {escape(example)} --url {url}"
                      f"{escape(token)}[/]  (or a pattern: '2*')")
        console.print("     [cyan]salescast alerts tail[/]  (anomaly alerts as they happen)\n")
        how = f"envelopes of up to {envelope} events" if envelope else "one event per message"
        console.print(f"[bold]4/4[/] replaying at {speed:g}x, {how} (Ctrl-C stops everything) "
                      "...")
        summary = replay(data, state.kafka_bootstrap, settings.events_topic, speed=speed,
                         total=limit if events is None else len(events), envelope=envelope)
        if summary.interrupted:  # Ctrl-C / SIGTERM during the replay stops everything
            raise KeyboardInterrupt
        console.print("replay finished; the worker and gateway keep serving. Ctrl-C to stop.")
        while all(c.poll() is None for c in children):
            time.sleep(1)
        console.print("[red]a child process exited; see the logs above[/]")
    finally:
        for child in children:
            stop(child)
        if not was_up:
            services.down(settings)
        console.print("demo stopped")
