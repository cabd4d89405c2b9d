"""``salescast alerts tail|eval`` and ``salescast monitor``: the alert and ops feeds."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from salescast.cliutil import UserError, friendly, settings_with_services

__all__ = ["alerts_app", "monitor"]

alerts_app = typer.Typer(no_args_is_help=True, help="Anomaly alerts: follow them, measure them.")
console = Console(stderr=True)
out = Console()

SEVERITY_STYLE = {"info": "dim", "warning": "yellow", "critical": "bold red"}
LEVELS = ("info", "warning", "critical")


@alerts_app.command("tail")
@friendly
def alerts_tail(
    from_beginning: Annotated[bool, typer.Option(help="start at the oldest alert")] = False,
    severity: Annotated[str, typer.Option(help="lowest severity shown: warning or critical")] = (
        "warning"),
    max_alerts: Annotated[int | None, typer.Option("--max", min=1, help="exit after N")] = None,
    idle: Annotated[float | None, typer.Option(min=0.1, help="exit after N s without one")] = None,
) -> None:
    """Follow the alerts topic (an example confluent-kafka consumer; dedupes by alert id)."""
    import time
    import uuid

    from confluent_kafka import Consumer

    if severity not in LEVELS:
        raise UserError(f"--severity must be one of {', '.join(LEVELS)}, got {severity!r}")
    floor = LEVELS.index(severity)
    settings = settings_with_services()
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
                sev, aid = alert["severity"], alert["id"]
            except (ValueError, KeyError, TypeError):
                console.print(f"[red]skipping a malformed alert at offset {msg.offset()}[/]")
                continue
            if aid in seen or sev not in LEVELS or LEVELS.index(sev) < floor:
                continue
            seen.add(aid)
            shown += 1
            style = SEVERITY_STYLE.get(sev, "")
            out.print(f"[{style}]{sev:8}[/] {alert['kind']:11} {alert['series']:>12} "
                      f"bucket {alert['bucket']}  actual {alert['actual']:g}  expected "
                      f"{alert['expected']:g} [{alert['lo95']:g}, {alert['hi95']:g}]  "
                      f"score {alert['score']:+.2f}  id {aid}")
    finally:
        consumer.close()


@alerts_app.command("eval")
@friendly
def alerts_eval(
    series: Annotated[int, typer.Option(min=8, help="synthetic series")] = 400,
    days: Annotated[int, typer.Option(min=90, help="days per series")] = 180,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Precision and recall of the alerts on synthetic spikes, drops and level shifts."""
    from models.evaluation.anomaly_eval import evaluate

    with console.status(f"scoring {series} synthetic series x {days} days ..."):
        r = evaluate(series, days, seed)
    table = Table(title=f"alerts on {series} synthetic series x {days} days (seed {seed})")
    for col in ("kind", "injected", "detected", "recall", "false alarms"):
        table.add_column(col, justify="right" if col != "kind" else "left")
    for kind in ("spike", "drop", "level_shift"):
        table.add_row(kind, str(r.injected[kind]), str(r.detected[kind]),
                      f"{r.recall.get(kind, 1.0):.2f}", str(r.false_by_kind[kind]))
    table.add_row("all", str(sum(r.injected.values())), str(sum(r.detected.values())),
                  f"{r.overall_recall:.2f}", str(sum(r.false_by_kind.values())))
    out.print(table)
    out.print(f"alerts {r.alerts}, true {r.true_alerts}: precision {r.precision:.2f}; "
              f"overall recall {r.overall_recall:.2f}")


@friendly
def monitor(
    interval: Annotated[float, typer.Option(min=0.1, help="seconds between snapshots")] = 1.0,
    group: Annotated[list[str] | None, typer.Option(help="consumer group(s) to watch")] = None,
    count: Annotated[int | None, typer.Option(min=1, help="stop after N snapshots")] = None,
) -> None:
    """Ops monitor: consumer lag per partition, events/s, latency, dead letters, model age."""
    from stream.monitor import LagMonitor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = settings_with_services()
    mon = LagMonitor(settings.kafka, settings.redis, group or [settings.worker_id],
                     [settings.events_topic], settings.deadletter_topic, settings.lag_alert)
    console.print(f"[dim]ops snapshots every {interval:g} s to Redis (lag alert above "
                  f"{settings.lag_alert}); Ctrl-C stops[/]")
    try:
        mon.run(interval, count)
    finally:
        mon.close()
