"""``salescast services up|down|status``: the local Kafka and Redis (:mod:`infra.services`)."""

from __future__ import annotations

import typer
from rich.markup import escape

from config.addresses import redacted
from salescast.cliutil import console, friendly, load_settings

__all__ = ["services_app"]

services_app = typer.Typer(no_args_is_help=True, help="Start/stop the local Kafka and Redis.")


@services_app.command("up")
@friendly
def services_up() -> None:
    """Start a local Apache Kafka (KRaft) and Redis on 127.0.0.1 (free ports), create topics.

    The addresses go to SALESCAST_HOME/services.json, where every other command finds them.
    Example: `salescast services up && salescast worker`.
    """
    from infra import services

    settings = load_settings()
    state = services.up(settings)
    services.create_topics(state.kafka_bootstrap, settings)
    console.print(escape(f"kafka  {state.kafka_bootstrap}\nredis  {redacted(state.redis_url)}"))
    external = [name for name, value in (("KAFKA_BOOTSTRAP", settings.kafka_bootstrap),
                                         ("REDIS_URL", settings.redis_url)) if value]
    console.print(f"[dim]addresses written to {escape(str(settings.services_file))}"
                  + (f" (the settings' {' and '.join(external)} used above; a local service "
                     "still up stays there)" if external else "") + "[/]")


@services_app.command("down")
@friendly
def services_down() -> None:
    """Stop the local Kafka and Redis started by `services up`, and delete their data.

    Topics, committed offsets, model state changelogs and Redis's forecasts go with them:
    the next `services up` starts both empty (a stopped worker's state is rebuilt only by
    replaying its source again).
    """
    from infra import services

    stopped = services.down(load_settings())
    console.print(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")


@services_app.command("status")
@friendly
def services_status() -> None:
    """Show whether the local services are up and healthy.

    Exit status 0 when each answers, 1 when one is not running or does not answer.
    """
    from infra import services

    lines = services.status(load_settings())
    for name, info in lines.items():
        console.print(f"{name:6} {escape(info)}")
    down = [name for name, info in lines.items() if info == "down"]
    bad = [f"{name} does not answer" for name, info in lines.items()
           if info != "down" and not info.startswith("healthy")]
    if down:  # (one configured elsewhere that does not answer is not for services up to start)
        bad.insert(0, f"{' and '.join(down)} {'are' if len(down) > 1 else 'is'} not running "
                      f"(`salescast services up` starts {'them' if len(down) > 1 else 'it'})")
    if bad:
        console.print(f"[red]salescast: {escape(', '.join(bad))}[/]", soft_wrap=True)
        raise typer.Exit(1)
