"""`attninspect serve`: load the model once and serve a live page, a JSON API and `--server`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from attninspect.cli import feedback
from attninspect.cli.choices import PlainModel
from attninspect.cli.groups import grouped
from attninspect.cli.options import NoColorOption, usage_error

SERVE = "Serve"


@grouped
def serve(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on (anything but loopback needs --token).",
            rich_help_panel=SERVE,
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port", "-p", min=0, max=65535, help="Port (0: any free port).", rich_help_panel=SERVE
        ),
    ] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="ATTNINSPECT_TOKEN",
            help="Every request must carry it (Authorization: Bearer, or ?token= once).",
            rich_help_panel=SERVE,
        ),
    ] = None,
    time_limit: Annotated[
        float,
        typer.Option(
            "--time-limit",
            min=0.1,
            max=3600,
            help="Seconds one request may wait for the model.",
            rich_help_panel=SERVE,
        ),
    ] = 60.0,
    *,
    model: PlainModel,
    no_color: NoColorOption = False,
) -> None:
    """Load the model once and serve the live page, the JSON API and `--server` clients."""
    from attninspect.server.app import is_loopback, token_problem

    problem = token_problem(token) if token is not None else None
    if problem is not None:
        raise usage_error(problem, "'--token'")
    if not is_loopback(host) and token is None:
        raise usage_error(
            f"{host} is reachable from other machines: add --token TOKEN (or keep 127.0.0.1 "
            "and tunnel over SSH)",
            "'--host'",
        )
    engine = model.settings()
    from attninspect.server.runner import bind

    sock = bind(host, port)  # before the model loads: a busy port fails at once
    inspector = feedback.load_inspector(no_color, model.truncate, **engine)
    _serve(inspector, sock, host, token, time_limit, no_color)


def _serve(inspector, sock, host: str, token: str | None, time_limit: float, no_color: bool):
    from attninspect.server.app import Settings, create_app
    from attninspect.server.runner import serve, url_of
    from attninspect.server.service import ModelService

    service = ModelService(inspector, time_limit=time_limit)
    port = sock.getsockname()[1]
    application = create_app(service, Settings(host=host, token=token, port=port))
    url = url_of(sock, host, token)
    errors = feedback.stderr_console(no_color)

    def announce() -> None:
        errors.print(f"serving {inspector.model_name} · Ctrl-C stops", style="dim", markup=False)
        sys.stdout.write(url + "\n")
        sys.stdout.flush()

    try:
        serve(application, sock, announce, work=service)
    finally:
        service.close()
        sock.close()
