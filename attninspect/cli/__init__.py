"""The command line: the Typer app, one module per command, the error-to-exit mapping."""

from attninspect.cli import diff, grid, heads, run, shapes  # noqa: F401 - each registers its command
from attninspect.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()
