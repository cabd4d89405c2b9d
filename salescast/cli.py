"""The ``salescast`` command line."""

import typer

app = typer.Typer(no_args_is_help=True, help="salescast: real-time streaming sales forecaster.")


def main() -> None:
    app()
