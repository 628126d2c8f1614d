"""The command line: the Typer app, one module per command, the error-to-exit mapping."""

# each module registers its command
from attninspect.cli import (  # noqa: F401
    diff,
    explore,
    grid,
    heads,
    run,
    serve,
    shapes,
)
from attninspect.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()
