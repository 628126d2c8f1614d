"""Option groups: options declared once, as the fields of a frozen dataclass, that reach a command
as one typed value.

A group is a frozen dataclass deriving from `OptionGroup` whose fields are ``Annotated[...,
typer.Option(...)]`` aliases with their defaults (`choices.ModelChoice`, `choices.ViewChoice`,
`choices.OutputChoice`). A command names the group once, as one parameter::

    @grouped
    def grid(
        text: Annotated[str, typer.Argument(help="The text to inspect.")],
        *,
        view: Annotated[ViewChoice, only("words", "hide_special", "rollout")],
        model: ModelChoice,
        ...
    ) -> None:
        ... model.settings() ... view.options() ...

`grouped` gives typer a signature in which each such parameter stands replaced by the group's
fields (all of them, those ``only(...)`` names, or all ``without(...)`` those), in the group's
own order and at the parameter's place, so `--help` lists every option under its panel
(`app.AttnInspectCommand` sorts the panels); the command is then called with one group value
built from them. The fields not shown keep their defaults. `cli.choices` says how to add an
option to every model command.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

Command = TypeVar("Command", bound=Callable[..., None])


class OptionGroup:
    """Base of the frozen dataclasses whose fields are command-line options."""


@dataclasses.dataclass(frozen=True)
class Pick:
    """Which fields of a group a command shows (``Annotated[Group, only(...)]`` or
    ``Annotated[Group, without(...)]``); the others keep their defaults."""

    names: tuple[str, ...]
    shown: bool  # True: only these names; False: all but these

    def keeps(self, name: str) -> bool:
        return (name in self.names) == self.shown


def only(*names: str) -> Pick:
    """The fields of the group that this command offers, and no others."""
    return Pick(names, shown=True)


def without(*names: str) -> Pick:
    """Every field of the group but these."""
    return Pick(names, shown=False)


def _group_of(hint: Any) -> tuple[type[OptionGroup], tuple[str, ...]] | None:
    """The group a parameter's annotation names and the fields it shows, or None."""
    pick = Pick((), shown=False)  # every field
    if typing.get_origin(hint) is Annotated:
        hint, *extras = typing.get_args(hint)
        pick = next((extra for extra in extras if isinstance(extra, Pick)), pick)
    if not (isinstance(hint, type) and issubclass(hint, OptionGroup)):
        return None
    names = tuple(field.name for field in dataclasses.fields(hint))  # type: ignore[arg-type]
    unknown = set(pick.names) - set(names)
    if unknown:
        raise TypeError(f"{hint.__name__} has no option field {sorted(unknown)[0]}")
    return hint, tuple(name for name in names if pick.keeps(name))


def _fields(group: type[OptionGroup], names: tuple[str, ...]) -> list[inspect.Parameter]:
    """The group's fields ``names`` as keyword parameters carrying their typer options."""
    hints = typing.get_type_hints(group, include_extras=True)
    defaults = {field.name: field.default for field in dataclasses.fields(group)}  # type: ignore[arg-type]
    if any(defaults[name] is dataclasses.MISSING for name in names):
        raise TypeError(f"{group.__name__}: every option field needs a plain default")
    return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=defaults[name],
                              annotation=hints[name]) for name in names]  # fmt: skip


def grouped(command: Command) -> Command:
    """``command`` as typer should see it: each `OptionGroup` parameter spread into its fields
    (see the module's docstring); the original stays at ``__wrapped__``."""
    hints = typing.get_type_hints(command, include_extras=True)
    parameters: list[inspect.Parameter] = []
    groups: dict[str, tuple[type[OptionGroup], tuple[str, ...]]] = {}
    for parameter in inspect.signature(command).parameters.values():
        hint = hints.get(parameter.name, parameter.annotation)
        found = _group_of(hint)
        if found is None:
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY,
                                                annotation=hint))  # fmt: skip
            continue
        groups[parameter.name] = found
        parameters.extend(_fields(*found))
    names = [parameter.name for parameter in parameters]
    clash = sorted({name for name in names if names.count(name) > 1})
    if clash:
        raise TypeError(f"{command.__name__}: two options are named {clash[0]}")

    @functools.wraps(command)
    def spread(**values: Any) -> None:
        for name, (group, fields) in groups.items():
            values[name] = group(**{field: values.pop(field) for field in fields})
        command(**values)

    signature = inspect.signature(command).replace(parameters=parameters)
    spread.__signature__ = signature  # type: ignore[attr-defined]
    spread.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    return typing.cast(Command, spread)
