"""Options declared once: each model command's own `def` stays short, and an option group reaches
the command as one typed value built from the options typer parsed."""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from attninspect.cli.app import app
from attninspect.cli.choices import ModelChoice
from attninspect.cli.groups import OptionGroup, grouped, only

MODEL_COMMANDS = ("run", "heads", "diff", "grid", "explore", "stats", "serve")
MOST_PARAMETERS = 15


def originals() -> dict[str, object]:
    """Each registered command's own function (under the signature typer is shown)."""
    found = {}
    for info in app.registered_commands:
        callback = info.callback
        found[info.name or callback.__name__] = inspect.unwrap(callback)  # type: ignore[arg-type]
    return found


@pytest.mark.parametrize("command", MODEL_COMMANDS)
def test_a_model_command_lists_few_parameters_of_its_own(command: str) -> None:
    function = originals()[command]
    parameters = inspect.signature(function).parameters  # type: ignore[arg-type]
    assert len(parameters) <= MOST_PARAMETERS, (command, len(parameters))
    hints = typing.get_type_hints(function, include_extras=True)
    groups = [
        typing.get_args(hint)[0] if typing.get_args(hint) else hint for hint in hints.values()
    ]
    assert ModelChoice in groups, command  # the model options as one value


@dataclass(frozen=True)
class Sizes(OptionGroup):
    width: Annotated[int, typer.Option("--width", rich_help_panel="View")] = 3
    height: Annotated[int, typer.Option("--height", rich_help_panel="View")] = 4
    depth: Annotated[int, typer.Option("--depth", rich_help_panel="View")] = 5


def test_a_group_reaches_the_command_as_one_value() -> None:
    seen: list[object] = []

    @grouped
    def shape(name: str, *, sizes: Annotated[Sizes, only("width", "depth")], loud: bool = False):
        seen.append((name, sizes, loud))

    shown = [parameter.name for parameter in inspect.signature(shape).parameters.values()]
    assert shown == ["name", "width", "depth", "loud"]  # the group's order, at its place
    tiny = typer.Typer()
    tiny.command()(shape)
    tiny.command()(lambda: None)  # two commands: "shape" is a subcommand
    result = CliRunner().invoke(tiny, ["shape", "box", "--depth", "9", "--loud"])
    assert result.exit_code == 0, result.output
    assert seen == [("box", Sizes(width=3, height=4, depth=9), True)]
    refused = CliRunner().invoke(tiny, ["shape", "box", "--height", "1"])
    assert refused.exit_code == 2  # not offered by this command


def test_groups_refuse_unknown_fields_and_clashing_names() -> None:
    def unknown(*, sizes: Annotated[Sizes, only("breadth")]) -> None: ...

    def clash(width: int, *, sizes: Sizes) -> None: ...

    with pytest.raises(TypeError, match="breadth"):
        grouped(unknown)
    with pytest.raises(TypeError, match="width"):
        grouped(clash)
