"""The demo models shipped in the package: they load by name in every command, translate dates,
align their cross-attention, and hold a previous-token and an induction head (checked on inputs
made afresh here; the tests never train)."""

from __future__ import annotations

import asyncio
import datetime
import json
import random
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from attninspect.cli import app
from attninspect.model.demo_models import DEMO_MODELS, demo_model_path

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")  # fmt: skip
FIRST, LAST = datetime.date(1900, 1, 1), datetime.date(2099, 12, 31)
# The cross-attention that the documentation names for the alignment (see the model card).
ALIGNED_LAYER, ALIGNED_HEAD = 0, 0
# Source "YYYY-MM-DD </s>": the positions of the year's digits, the month's and the day's.
YEAR, MONTH, DAY = (0, 1, 2, 3), (5, 6), (8, 9)


def english(date: datetime.date) -> str:
    return f"{date.day} {MONTHS[date.month - 1]} {date.year}"


def fresh_dates(count: int, seed: int) -> list[datetime.date]:
    rng = random.Random(seed)
    days = (LAST - FIRST).days
    return [FIRST + datetime.timedelta(days=rng.randint(0, days)) for _ in range(count)]


def invoke(*args: str):
    result = CliRunner().invoke(app, [*args, "--no-color"])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def translator():
    from attninspect import Inspector

    return Inspector("demo-translate")


@pytest.fixture(scope="module")
def translations(translator):
    """200 fresh dates and their inspections (greedy generation, cross attention)."""
    dates = fresh_dates(200, seed=20261206)
    return dates, translator.run([date.isoformat() for date in dates])


def written(tokenizer, tokens: list[str]) -> str:
    words = [token for token in tokens if token not in tokenizer.all_special_tokens]
    return tokenizer.convert_tokens_to_string(words)


def test_info_lists_both_models() -> None:
    record = json.loads(invoke("info", "--format", "json").stdout)
    names = [model["name"] for model in record["demo_models"]]
    assert names == ["demo-translate", "demo-induction"]
    for model in record["demo_models"]:
        folder = Path(model["path"])
        assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
        assert sum(f.stat().st_size for f in folder.iterdir()) <= 3 * 1024**2
    table = invoke("info").stdout
    assert "demo-translate" in table and "demo-induction" in table


def test_names_resolve_to_the_package_and_only_those() -> None:
    assert set(DEMO_MODELS) == {"demo-translate", "demo-induction"}
    assert demo_model_path("demo-nothing") is None
    assert Path(demo_model_path("demo-induction") or "").parent.name == "demo_models"


def test_translation_is_right_for_fresh_dates(translator, translations) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(demo_model_path("demo-translate"))
    dates, inspections = translations
    right = sum(
        written(tokenizer, inspection.generated) == english(date)
        for date, inspection in zip(dates, inspections, strict=True)
    )
    assert right / len(dates) >= 0.99, f"{right} of {len(dates)}"


def aligned(tokens: list[str]) -> list[tuple[int, ...]]:
    """Each decoder token's source positions: day token(s) ↔ day digits, the month ↔ the month
    digits, the k-th year digit ↔ the k-th source digit; none for special tokens."""
    month = next(i for i, token in enumerate(tokens) if token in MONTHS)
    spans: list[tuple[int, ...]] = []
    for i, token in enumerate(tokens):
        if token.startswith("<"):
            spans.append(())
        else:
            spans.append(DAY if i < month else MONTH if i == month else (YEAR[i - month - 1],))
    return spans


def test_cross_attention_aligns_target_with_source(translations) -> None:
    _, inspections = translations
    hits = total = 0
    for inspection in inspections:
        assert inspection.kind == "cross"
        assert len(inspection.keys.tokens) == 11 and inspection.keys.tokens[4] == "-"
        matrix = inspection.view(layer=ALIGNED_LAYER, head=ALIGNED_HEAD).matrix  # (Tq, Tk)
        best = np.argmax(matrix, axis=-1)
        for row, span in enumerate(aligned(inspection.tokens)):
            if span:
                total += 1
                hits += int(best[row] in span)
    assert hits / total >= 0.9, f"{hits} of {total}"


def test_a_plain_run_generates_the_translation() -> None:
    record = json.loads(invoke("run", "2026-12-06", "--model", "demo-translate", "--format",
                               "json").stdout)  # fmt: skip
    assert record["attention_kind"] == "cross"
    assert record["generated"] == ["6", "December", "2", "##0", "##2", "##6", "</s>"]
    assert record["key_tokens"] == ["2", "##0", "##2", "##6", "-", "1", "##2", "-", "0", "##6",
                                    "</s>"]  # fmt: skip
    table = invoke("run", "2026-12-06", "--model", "demo-translate").stdout
    assert "December" in table


REPEATS = 40


@pytest.fixture(scope="module")
def repeated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fresh sequences of distinct random words, each written twice."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(demo_model_path("demo-induction"))
    words = sorted(set(tokenizer.get_vocab()) - set(tokenizer.all_special_tokens))
    rng = random.Random(4242)
    lines = []
    for _ in range(REPEATS):
        half = rng.sample(words, rng.randint(6, 20))
        lines.append(" ".join(half + half))
    path = tmp_path_factory.mktemp("induction") / "repeated.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def best(model: str, corpus: Path, statistic: str) -> float:
    record = json.loads(invoke("stats", "--file", str(corpus), "--model", model, "--stat",
                               statistic, "--format", "json").stdout)  # fmt: skip
    assert record["texts"] == REPEATS
    return max(entry[statistic] for entry in record["stats"])


@pytest.fixture(scope="module")
def untrained(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The same configuration and tokenizer, with freshly initialised weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    shipped = demo_model_path("demo-induction")
    folder = tmp_path_factory.mktemp("untrained")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(shipped))
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(shipped).save_pretrained(folder)
    return str(folder)


def test_induction_head(repeated_file, untrained) -> None:
    assert best("demo-induction", repeated_file, "induction") >= 0.7
    assert best(untrained, repeated_file, "induction") < 0.2


def test_previous_token_head(repeated_file, untrained) -> None:
    assert best("demo-induction", repeated_file, "previous") >= 0.7
    assert best(untrained, repeated_file, "previous") < 0.2


def test_every_command_loads_them_by_name(tmp_path) -> None:
    text = "cat sun map owl cat sun map owl"
    other = "owl map sun cat owl map sun cat"
    for command in (["run", text], ["grid", text, "--layers", "0"], ["diff", text, other],
                    ["stats", text]):  # fmt: skip
        result = invoke(*command, "--model", "demo-induction")
        assert "demo-induction" in result.stdout
    linked = invoke("heads", text, "--from", "cat#2", "--to", "sun", "--model", "demo-induction",
                    "--format", "json")  # fmt: skip
    first = json.loads(linked.stdout)["heads"][0]  # the induction head links them
    assert (first["layer"], first["head"]) == (1, 0) and first["weight"] > 0.5
    invoke("grid", "2026-12-06", "--model", "demo-translate")
    picture = tmp_path / "cross.svg"
    invoke("run", "2026-12-06", "--model", "demo-translate", "--save", str(picture))
    assert picture.stat().st_size > 0


def test_the_explorer_loads_a_demo_model_by_name() -> None:
    from attninspect import Inspector
    from attninspect.explorer.app import ExplorerApp

    async def drive() -> list[str]:
        explorer = ExplorerApp(lambda: Inspector("demo-induction"), "cat sun cat sun")
        async with explorer.run_test(size=(100, 30)) as pilot:
            await explorer.wait_until_loaded()
            await explorer.workers.wait_for_complete()
            await pilot.pause()
            return list(explorer.current[0].tokens)

    assert asyncio.run(drive()) == ["<s>", "cat", "sun", "cat", "sun"]


def test_serve_answers_with_a_demo_model() -> None:
    from tests.serve_helpers import serve

    with serve("--model", "demo-translate") as server:
        status, _, body = server.request("POST", "/api/run", {"text": "1999-01-31"})
    assert status == 200, body
    assert json.loads(body)["generated"][:3] == ["3", "##1", "January"]
