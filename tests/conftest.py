"""Shared fixtures: no network, and each model loaded once per test session."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.pop("FORCE_COLOR", None)
os.environ.pop("NO_COLOR", None)

import pytest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
