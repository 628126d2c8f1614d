"""The command line: the Typer app, one module per command, the error-to-exit mapping."""

# each module registers its command
from attninspect.cli import diff, explore, grid, heads, run, shapes, stats  # noqa: F401
from attninspect.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()
