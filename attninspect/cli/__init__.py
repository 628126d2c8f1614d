"""The command line: the Typer app, one module per command, the error-to-exit mapping."""

from attninspect.cli import diff, explore, grid, heads, info, run, serve, shapes, stats
from attninspect.cli.app import app, register

# Every command, in the order `attninspect --help` lists them: one line each.
register(run.run)
register(shapes.shapes)
register(heads.heads)
register(diff.diff)
register(grid.grid)
register(explore.explore)
register(stats.stats)
register(serve.serve)
register(info.info)


def main() -> None:
    """Console-script entry point."""
    app()
