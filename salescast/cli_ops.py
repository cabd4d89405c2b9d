"""``salescast alerts tail|eval`` and ``salescast monitor``: the alert and ops feeds."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from config import load_settings
from salescast.cliutil import UserError, friendly, kafka_topics, settings_with_services

__all__ = ["alerts_app", "alert_line", "monitor"]

alerts_app = typer.Typer(no_args_is_help=True, help="Anomaly alerts: follow them, measure them.")
console = Console(stderr=True)
out = Console()

#: ``alerts eval``'s bounds: its synthetic panel's size (the run takes seconds at 400 x 180,
#: about as much longer as series x days is larger) and numpy's seed range
MAX_SERIES, MAX_DAYS, MAX_SEED = 10_000, 1_830, 2**32 - 1
SEVERITY_STYLE = {"info": "dim", "warning": "yellow", "critical": "bold red"}
LEVELS = ("info", "warning", "critical")


@alerts_app.command("tail")
@friendly
def alerts_tail(
    from_beginning: Annotated[bool, typer.Option(help="start at the oldest alert")] = False,
    severity: Annotated[str, typer.Option(help="lowest severity shown: info, warning or "
                                               "critical")] = "warning",
    max_alerts: Annotated[int | None, typer.Option(
        "--max", min=1, help="exit after N (default: follow until Ctrl-C)")] = None,
    idle: Annotated[float | None, typer.Option(
        min=0.1, help="exit after N s without one (default: never)")] = None,
) -> None:
    """Follow the alerts topic: each alert's lifecycle and the shop-wide group alerts.

    Open, updated and resolved (acknowledgements go to the gateway's alerts channel, not
    to this topic); an example confluent-kafka consumer that dedupes by event id. Needs the
    services. Example: `salescast alerts tail --severity critical`.
    """
    import uuid

    from confluent_kafka import Consumer

    if severity not in LEVELS:
        raise UserError(f"--severity must be one of {', '.join(LEVELS)}, got {severity!r}")
    floor = LEVELS.index(severity)
    settings = settings_with_services(("kafka",))
    if settings.alerts_topic not in kafka_topics(settings.kafka):  # else it would wait silently
        raise UserError(f"topic {settings.alerts_topic} does not exist: run `salescast services "
                        "up` first")
    consumer = Consumer({
        "bootstrap.servers": settings.kafka,
        "group.id": f"salescast-alerts-tail-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest" if from_beginning else "latest",
        "enable.auto.commit": False,
        "fetch.queue.backoff.ms": 100,
        "log_level": 0,
    })
    consumer.subscribe([settings.alerts_topic])
    console.print(f"[dim]following {settings.alerts_topic} on {settings.kafka} "
                  f"(Ctrl-C stops)[/]")
    seen: set[str] = set()
    shown, last = 0, time.monotonic()
    try:
        while max_alerts is None or shown < max_alerts:
            if idle is not None and time.monotonic() - last > idle:
                break
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            last = time.monotonic()
            try:
                alert = json.loads(msg.value() or b"")
                sev, event = alert["severity"], alert.get("event_id", alert["id"])
            except (ValueError, KeyError, TypeError):
                console.print(f"[red]skipping a malformed alert at offset {msg.offset()}[/]")
                continue
            if event in seen or sev not in LEVELS or LEVELS.index(sev) < floor:
                continue
            seen.add(event)
            shown += 1
            out.print(alert_line(alert, settings.utc_offset))
    finally:
        consumer.close()


def alert_line(alert: dict[str, Any], utc_offset: int = 0) -> str:
    """One lifecycle message as a line of rich markup.

    >>> from models.anomaly import group_message
    >>> line = alert_line(group_message("closure", 0, 86400, 172800, "updated", 480, 2, 482, 3))
    >>> line.split("  ")[4:6]
    ['since 1970-01-01 bucket 1970-01-02', '480 series affected (2 active, usually 482)']
    """
    sev, state = alert["severity"], alert.get("state", "open")
    style = SEVERITY_STYLE.get(sev, "")
    day = lambda t: datetime.fromtimestamp(t + utc_offset, tz=UTC).strftime(  # noqa: E731
        "%Y-%m-%d %H:%M" if (t + utc_offset) % 86400 else "%Y-%m-%d")  # the shop's clock
    head = f"[{style}]{escape(sev):8}[/] {escape(state):8} {escape(alert['kind']):11}"
    since = f"since {day(alert.get('since', alert['bucket']))} bucket {day(alert['bucket'])}"
    if alert.get("scope") == "group":
        where = ("shop-wide" if alert.get("partition") is None
                 else f"shop-wide p{alert['partition']}")
        return (f"{head} {where}  {since}  {alert['series_affected']} series affected "
                f"({alert['active']} active, usually {alert['usual']:g})  id {alert['id']}")
    series = escape(str(alert["series"]))
    return (f"{head} {series:>12}  {since}  actual {alert['actual']:g}  expected "
            f"{alert['expected']:g} [{alert['lo95']:g}, {alert['hi95']:g}]  "
            f"score {alert['score']:+.2f}  buckets {alert.get('buckets', 1)}  id {alert['id']}")


@alerts_app.command("eval")
@friendly
def alerts_eval(
    series: Annotated[int, typer.Option(
        min=8, max=MAX_SERIES, help=f"synthetic series (8 to {MAX_SERIES:,})")] = 400,
    days: Annotated[int, typer.Option(
        min=90, max=MAX_DAYS, help=f"days per series (90 to {MAX_DAYS:,}: five years)")] = 180,
    seed: Annotated[int, typer.Option(
        min=0, max=MAX_SEED, help=f"random seed (0 to {MAX_SEED:,})")] = 0,
    real: Annotated[str, typer.Option(
        help="comma-separated Online Retail II panels to inject into (top500, sampled, "
             "tuning, tuning_top), or '' for none")] = "top500,sampled",
    rate: Annotated[bool, typer.Option(
        help="also replay every real series as it is: alerts per 1,000 series-days")] = True,
) -> None:
    """Precision and recall of the alerts, and their rate on the real data as it is.

    On synthetic series and on real series with injected spikes, drops, level shifts and
    stock-outs. Example: `salescast alerts eval --real top500`.
    """
    from models.evaluation import anomaly_eval as ae
    from models.evaluation.anomaly_lookalikes import ceiling, count_lookalikes
    from models.evaluation.backtest_panels import PANELS

    panels = [p.strip() for p in real.split(",") if p.strip()]
    bad = [p for p in panels if p not in PANELS]
    if bad:  # before the synthetic panel, not after it
        raise UserError(f"--real: unknown panel {bad[0]!r} (one of {', '.join(PANELS)})")
    results: list[tuple[str, Any]] = []
    alike: dict[str, dict[str, int]] = {}  # panel -> look-alikes per kind
    with console.status(f"scoring {series} synthetic series x {days} days ..."):
        results.append((f"synthetic {series}x{days}", ae.evaluate_synthetic(series, days, seed)))
    if panels or rate:
        from models.evaluation.backtest_panels import daily_series, last_day, select_panel
        from sources.online_retail import fetch_dataset

        path = fetch_dataset(load_settings().data_dir)
        with console.status("reading Online Retail II ..."):
            daily, end = daily_series(path), last_day(path)
        for p in panels:
            with console.status(f"scoring the {p} panel with injections ..."):
                codes = select_panel(daily, p)
                results.append((f"{p} + injected", ae.evaluate_real(daily, codes, end, seed)))
                alike[f"{p} + injected"] = count_lookalikes([daily[c] for c in codes])
        if rate:
            with console.status(f"replaying all {len(daily):,} real series ..."):
                results.append(("all real, as is", ae.alert_rate(daily, end)))
    table = Table(title="anomaly alerts: precision / recall per kind (alerts counted once per id)")
    for col in ("panel", "spike P / R", "drop P / R", "level shift P / R", "stock-out R",
                "alerts", "per 1k series-days", "groups", "look-alikes", "P ceiling"):
        table.add_column(col, justify="left" if col == "panel" else "right")
    for name, r in results:
        cells = [f"{r.precision_of(k):.2f} / {r.recall[k]:.2f}" if k in r.recall else "-"
                 for k in ae.EVAL_KINDS]
        stock = f"{r.recall['stockout']:.2f}" if "stockout" in r.recall else "-"
        la = alike.get(name)
        table.add_row(name, *cells, stock, f"{r.alerts:,}", f"{r.per_1000:.2f}", str(r.groups),
                      "-" if la is None else " / ".join(f"{la[k]:,}" for k in ae.EVAL_KINDS),
                      "-" if la is None else " / ".join(
                          f"{ceiling(r.injected[k], la[k]):.2f}" for k in ae.EVAL_KINDS))
    out.print(table)
    if alike:
        out.print("[dim]look-alikes: days of the panel, as it is, that meet an injection's own "
                  "definition (spike / drop / level shift); P ceiling: the precision of a "
                  "detector that finds as many of them as of the injections "
                  "(models/evaluation/anomaly_lookalikes.py)[/]")


@friendly
def monitor(
    interval: Annotated[float, typer.Option(min=0.1, max=3600,
                                            help="seconds between snapshots")] = 1.0,
    group: Annotated[list[str] | None, typer.Option(help=(
        "consumer group(s) to watch (default: SALESCAST_WORKER_ID's)"))] = None,
    count: Annotated[int | None, typer.Option(min=1, help="stop after N snapshots")] = None,
    give_up: Annotated[float, typer.Option(
        min=0, max=86400, help="exit with status 2 once no snapshot was published for this many "
        "seconds, since the start or the last one (Kafka or Redis down or unreachable; a poll "
        "of a Kafka that does not answer takes 10 s); 0: retry forever")] = 60.0,
) -> None:
    """Ops monitor: consumer lag per partition, events/s, latency, dead letters, model age.

    A failed poll is retried every --interval; after --give-up seconds without a published
    snapshot the monitor exits with one line. Example: `salescast monitor --interval 5`
    (the dashboard's ops panel and `salescast watch` read what it publishes).
    """
    from stream.monitor import LagMonitor

    if any(not g.strip() for g in group or []):  # confluent-kafka aborts on an empty group id
        raise UserError("--group must name a consumer group (got an empty one)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = settings_with_services()
    from infra.kafka_client import unreachable

    if (why := unreachable(settings.kafka)) is not None:  # at start: down, not a hiccup
        raise UserError(f"{why} (`salescast services up` starts the local one)")
    mon = LagMonitor(settings.kafka, settings.redis, group or [settings.worker_id],
                     [settings.events_topic], settings.deadletter_topic, settings.lag_alert)
    gives_up = f"gives up after {give_up:g} s without one" if give_up else "never gives up"
    console.print(f"[dim]ops snapshots every {interval:g} s to Redis (lag alert above "
                  f"{settings.lag_alert}; {gives_up}); Ctrl-C stops[/]")
    try:
        _run_monitor(mon, interval, count, give_up)
    finally:
        mon.close()


def _run_monitor(mon: Any, interval: float, count: int | None, give_up: float) -> None:
    """``mon.run`` (:meth:`stream.monitor.LagMonitor.run`), its ends as one line."""
    try:
        error = mon.run(interval, count, give_up)
    except TimeoutError as exc:
        raise UserError(f"no snapshot published for {give_up:g} s, giving up (--give-up): "
                        f"{exc.__cause__}") from None
    if error is not None:  # --count snapshots, none published
        raise UserError(f"no snapshot published: every poll failed ({error})")
