"""The command line: the Typer app, one module per command, the error-to-exit mapping."""

# each module registers its command
from attninspect.cli import diff, explore, grid, heads, run, shapes  # noqa: F401
from attninspect.cli import serve  # noqa: F401  (attninspect serve)
from attninspect.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()
