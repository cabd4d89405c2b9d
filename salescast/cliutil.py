"""What every ``salescast`` command shares: one-line errors, the console, settings."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from config import ConfigError, Settings, load_settings

__all__ = ["UserError", "console", "friendly", "load_settings", "settings_with_services"]

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
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def settings_with_services() -> Settings:
    return load_settings().with_services()


