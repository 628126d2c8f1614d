"""The public API's signatures say what they take and give: no ``Any``."""

from __future__ import annotations

import inspect

import pytest

from attninspect.analysis.inspection import Inspection, TokenAxis
from attninspect.analysis.selection import View
from attninspect.api import Inspector


@pytest.mark.parametrize("cls", [Inspector, Inspection, TokenAxis, View])
def test_no_any_in_public_signatures(cls: type) -> None:
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") and name != "__init__":
            continue
        function = member.fget if isinstance(member, property) else member
        if not callable(function):
            continue
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            continue
        annotations = [str(p.annotation) for p in signature.parameters.values()]
        annotations.append(str(signature.return_annotation))
        assert not [a for a in annotations if "Any" in a], f"{cls.__name__}.{name}"
