"""`run` with encoder–decoder models, generation and pairs: every format carries the kind, both
token axes, each side's tokens, the generated tokens and where a pair's second text starts."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from attninspect.cli import app

SOURCE, TARGET = "The cat sleeps on the mat.", "Le chat dort sur le tapis."


def invoke(runner, *args: str):
    return runner.invoke(app, ["run", *args, "--no-color"])


@pytest.mark.parametrize("kind", ["cross", "encoder", "decoder"])
def test_json_record_of_each_kind(runner, seq2seq_models, kind: str) -> None:
    from attninspect import Inspector

    model = str(seq2seq_models["marian"])
    result = invoke(runner, SOURCE, "-m", model, "--target", TARGET, "--attention", kind,
                    "--format", "json", "--all-layers", "--layer", "0", "--head", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    whole = Inspector(model).run(SOURCE, target=TARGET).of_kind(kind)
    assert record["attention_kind"] == kind and record["text"] == SOURCE
    assert record["tokens"] == record["query_tokens"] == whole.query_tokens
    assert record["key_tokens"] == whole.key_tokens
    assert record["source_tokens"][:2] == ["▁The", "▁cat"]
    assert record["target_tokens"][:2] == ["<pad>", "▁Le"] and record["target_text"] == TARGET
    np.testing.assert_allclose(record["attention"], whole.attention[0, 1], atol=1e-6)
    np.testing.assert_allclose(record["all_attention"], whole.attention, atol=1e-6)


def test_cross_is_the_default_and_generation_is_marked(runner, seq2seq_models) -> None:
    result = invoke(runner, SOURCE, "-m", str(seq2seq_models["t5"]), "--generate", "4",
                    "--format", "jsonl")  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["attention_kind"] == "cross" and record["prompt_length"] == 1
    assert record["generated"] == record["tokens"][1:] and len(record["generated"]) <= 4


def test_table_names_both_sides(runner, seq2seq_models) -> None:
    result = invoke(runner, SOURCE, "-m", str(seq2seq_models["bart"]), "--target", TARGET,
                    "--focus", "chat", "--words")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())  # lines wrap at the terminal's width
    assert "rows: target (query) · columns: source (key)" in out
    assert "target tokens" in out and "source tokens" in out
    assert "what chat (@" in out
    assert "sleeps" in out  # Ġ pieces merged into the word


def test_csv_and_npz_carry_the_kinds(runner, seq2seq_models, tmp_path) -> None:
    model = str(seq2seq_models["marian"])
    result = invoke(runner, SOURCE, "-m", model, "--target", TARGET, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {row["attention_kind"] for row in rows} == {"cross"}
    path = tmp_path / "out.npz"
    result = invoke(runner, SOURCE, "-m", model, "--target", TARGET, "--format", "npz", "-o",
                    str(path))  # fmt: skip
    assert result.exit_code == 0, result.output
    arrays = np.load(path)
    s, t = len(arrays["source_tokens_0"]), len(arrays["target_tokens_0"])
    assert arrays["encoder_attention_0"].shape == (2, 4, s, s)
    assert arrays["decoder_attention_0"].shape == (3, 4, t, t)
    assert arrays["cross_attention_0"].shape == (3, 4, t, s)
    assert list(arrays["texts"]) == [SOURCE]


def test_decoder_generation_and_focus_on_a_generated_token(runner, causal_lms) -> None:
    model = str(causal_lms["llama"])
    result = invoke(runner, "The cat sat on", "-m", model, "--generate", "3", "--format", "json")
    record = json.loads(result.stdout)
    assert record["attention_kind"] == "self"
    start = record["prompt_length"]
    assert record["generated"] == record["tokens"][start:]
    result = invoke(runner, "The cat sat on", "-m", model, "--generate", "3", "--focus",
                    f"@{len(record['tokens']) - 1}")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert f"generated ({len(record['generated'])}) @{start}.." in out


def test_pair_start_in_json_and_table(runner) -> None:
    result = invoke(runner, "The cat sat.", "--pair", "It was warm.", "--format", "json")
    record = json.loads(result.stdout)
    assert record["pair_start"] == 6 and record["tokens"][6] == "it"
    table = invoke(runner, "The cat sat.", "--pair", "It was warm.")
    assert "text B starts at @6 (it)" in " ".join(table.stdout.split())


def test_plain_records_are_unchanged(runner) -> None:
    record = json.loads(invoke(runner, "The cat sat.", "--format", "json").stdout)
    for name in ("generated", "prompt_length", "pair_start", "target_text", "source_tokens"):
        assert name not in record
    assert record["attention_kind"] == "self"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--target", "x"], 1, "--target is the decoder's text of an encoder-decoder model"),
        (["--generate", "0"], 2, "--generate"),
        (["--pair", "b", "--target", "c"], 2, "--pair is for encoders"),
        (["--attention", "cross", "--rollout"], 2, "rollout is defined for self-attention"),
    ],
)
def test_bad_options_are_one_line(runner, args: list[str], code: int, message: str) -> None:
    result = invoke(runner, "The cat sat.", *args)
    assert result.exit_code == code
    assert message in result.stderr and result.stderr.count("Error") == 1


def test_cross_on_a_decoder_and_pair_on_a_decoder(runner, causal_lms, seq2seq_models) -> None:
    decoder = str(causal_lms["gpt2"])
    result = invoke(runner, "The cat", "-m", decoder, "--attention", "cross")
    assert result.exit_code == 1 and "its attention is self, not cross" in result.stderr
    result = invoke(runner, "The cat", "-m", decoder, "--pair", "b")
    assert result.exit_code == 1 and "--pair encodes two texts for an encoder" in result.stderr
    result = invoke(runner, "The cat", "-m", str(seq2seq_models["t5"]), "--rollout")
    assert result.exit_code == 2 and "rollout is defined for self-attention" in result.stderr
    result = invoke(runner, "The cat", "-m", str(seq2seq_models["t5"]), "--target", " ")
    assert result.exit_code == 1 and "--target: the text is only white space" in result.stderr


def test_heads_grid_and_diff_take_the_kind(runner, seq2seq_models) -> None:
    from attninspect import Inspector

    model = str(seq2seq_models["t5"])
    whole = Inspector(model).run(SOURCE, target=TARGET)
    result = runner.invoke(app, ["heads", SOURCE, "--from", "▁chat", "--to", "▁cat", "-m", model,
                                 "--target", TARGET, "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    ranked = json.loads(result.stdout)
    best = ranked["heads"][0] if "heads" in ranked else ranked["scores"][0]
    query, key = whole.tokens.index("▁chat"), whole.key_tokens.index("▁cat")
    assert best["weight"] == pytest.approx(float(whole.attention[:, :, query, key].max()), abs=1e-6)
    result = runner.invoke(app, ["grid", SOURCE, "-m", model, "--target", TARGET, "--attention",
                                 "decoder", "--no-color"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "target × " in result.stdout or "decoder" in result.stdout
    result = runner.invoke(app, ["diff", SOURCE, "The dog sleeps on the mat.", "-m", model,
                                 "--target", TARGET, "--attention", "encoder", "--format",
                                 "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["a"]["attention_kind"] == record["b"]["attention_kind"] == "encoder"
    result = runner.invoke(app, ["grid", SOURCE, "-m", model, "--target", TARGET, "--rollout"])
    assert result.exit_code == 2 and "rollout is defined for self-attention" in result.stderr


def test_explorer_key_switches_kind(seq2seq_models) -> None:
    import asyncio
    import concurrent.futures

    from attninspect import Inspector
    from attninspect.api.seq2seq import Request
    from attninspect.explorer.app import ExplorerApp
    from tests.explorer_helpers import status

    def load():
        inspector = Inspector(str(seq2seq_models["marian"]))
        inspector.request = Request(target=TARGET)
        return inspector

    seen: list[tuple[str, tuple[int, int], str]] = []

    async def drive() -> None:
        app = ExplorerApp(load, SOURCE)
        async with app.run_test(size=(100, 30)) as pilot:
            await app.wait_until_loaded()
            await app.workers.wait_for_complete()
            await pilot.pause()
            for _ in range(4):
                await settled(app, pilot)
                view = app.current[1]
                seen.append((app.inspection.kind, view.matrix.shape, status(app)))
                await pilot.press("a")
                await app.workers.wait_for_complete()
                await settled(app, pilot, before=seen[-1][0])

    async def settled(app, pilot, before: str | None = None) -> None:
        """Until the kind has moved on from ``before`` and the status line names it (a busy
        machine may start the worker or draw the line a frame late); bounded, so a real
        failure still ends and shows in the asserts below."""
        for _ in range(400):
            await app.workers.wait_for_complete()
            kind = app.inspection.kind
            if kind != before and status(app).startswith(f"{kind} attention"):
                return
            await pilot.pause(0.05)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, drive()).result()
    assert [kind for kind, _, _ in seen] == ["cross", "encoder", "decoder", "cross"]
    assert all(line.startswith(f"{kind} attention") for kind, _, line in seen)
    assert seen[0][1][1] == seen[1][1][0]  # cross columns are the encoder's tokens
