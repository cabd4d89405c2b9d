"""What every ``salescast`` command shares: one-line errors, the console, settings."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from config import ConfigError, Settings, load_settings

__all__ = ["UserError", "console", "friendly", "kafka_topics", "load_settings",
           "settings_with_services"]

console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


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
            console.print(f"[red]salescast: {exc}[/]", soft_wrap=True)  # one line, any width
            raise typer.Exit(2) from None
        except OSError as exc:
            if exc.filename is None:  # not a path (a socket, ...): not the user's to fix here
                raise
            console.print(f"[red]salescast: {exc.filename}: {exc.strerror}[/]", soft_wrap=True)
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

    try:
        meta = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(
            timeout=timeout)
    except KafkaException as exc:
        err = exc.args[0] if exc.args else exc
        why = err.str() if hasattr(err, "str") else str(err)
        raise UserError(f"kafka at {bootstrap} does not answer: {why}") from None
    return dict(meta.topics)
