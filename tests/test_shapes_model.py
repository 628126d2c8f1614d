"""``shapes [TEXT] --model NAME``: a real model's stages from one forward pass (grouped keys
and their repeat shown as the tap saw them), the seed's shapes unchanged without --model."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from attninspect import Inspector
from attninspect.cli.app import app
from tests.conftest import CAT


def test_llama_stages_are_the_taps(runner: CliRunner, tiny_models) -> None:
    path = str(tiny_models["llama"])
    result = runner.invoke(app, ["shapes", CAT, "--model", path, "--layer", "1", "--format",
                                 "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    run = Inspector(path).run(CAT)
    tokens = len(run.tokens)
    assert record["layer"] == 1 and record["text"] == CAT
    assert record["input_ids"] == [1, tokens]
    assert record["query"] == [1, *run.queries(1).shape] == [1, 4, tokens, 8]
    assert record["key"] == record["value"] == [1, *run.keys(1).shape] == [1, 2, tokens, 8]
    assert record["key_repeated"] == record["head_outputs"] == [1, 4, tokens, 8]
    assert record["scores"] == record["weights"] == [1, 4, tokens, tokens]
    assert record["output"] == [1, tokens, 32]


def test_default_sentence_and_usage_errors(runner: CliRunner) -> None:
    table = runner.invoke(app, ["shapes", "--model", "default"])
    assert table.exit_code == 0, table.output
    assert "layer 5, stage by stage" in table.stdout and "(1, 12, 13, 32)" in table.stdout
    for args in (["shapes", CAT], ["shapes", "--model", "scratch"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert len(result.stderr.strip().splitlines()) == 1
    plain = json.loads(runner.invoke(app, ["shapes", "--format", "json"]).stdout)
    assert plain["weights"] == [1, 5, 5]  # the seed's module, as before
