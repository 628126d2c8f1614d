"""Analysis views against independent references from transformers' own output_attentions."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from attninspect.cli.app import app
from tests.conftest import CAT

PIECES = "Tokenization of unbelievably unaffordable housing."


def run_json(runner: CliRunner, *args: str) -> dict:
    result = runner.invoke(app, ["run", *args, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def reference_tokens(path: str, text: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    encoded = tokenizer(text)
    return tokenizer, encoded


# --------------------------------------------------------------------------- rollout


def loop_rollout(attention: torch.Tensor, upto: int) -> np.ndarray:
    """Rollout with explicit loops: R = Â_upto · ... · Â_0, Â = rownorm(0.5·mean_h A + 0.5·I)."""
    attention = attention.double().numpy()
    length = attention.shape[-1]
    result = [[1.0 if i == j else 0.0 for j in range(length)] for i in range(length)]
    for layer in range(upto + 1):
        mixed = [[0.0] * length for _ in range(length)]
        for i in range(length):
            for j in range(length):
                mean = sum(attention[layer, h, i, j] for h in range(attention.shape[1]))
                mixed[i][j] = 0.5 * mean / attention.shape[1] + (0.5 if i == j else 0.0)
            total = sum(mixed[i])
            mixed[i] = [value / total for value in mixed[i]]
        result = [
            [sum(mixed[i][k] * result[k][j] for k in range(length)) for j in range(length)]
            for i in range(length)
        ]
    return np.array(result)


@pytest.mark.parametrize(("name", "layer"), [("default", -1), ("default", 2), ("gpt2", -1)])
def test_rollout_matches_a_loop_reference(
    runner: CliRunner, default_model_path, tiny_models, reference_attention, name, layer
) -> None:
    path = default_model_path if name == "default" else str(tiny_models[name])
    model = [] if name == "default" else ["--model", path]
    data = run_json(runner, CAT, *model, "--rollout", "--layer", str(layer))
    attention = reference_attention(path, CAT)
    upto = layer % attention.shape[0]
    expected = loop_rollout(attention, upto)
    got = np.array(data["attention"])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-5)
    assert data["view"] == "rollout" and data["layer"] == upto
    if name == "gpt2":
        assert np.all(got[np.triu_indices(got.shape[0], 1)] == 0)


def test_rollout_refuses_a_single_head(runner: CliRunner) -> None:
    result = runner.invoke(app, ["run", CAT, "--rollout", "--head", "2"])
    assert result.exit_code == 2 and "--rollout" in result.stderr


# --------------------------------------------------------------------------- words


LETTERS_OR_MARK = r"\w+|[^\w\s]"  # WordPiece and byte-level BPE split words from punctuation
NOT_SPACE = r"\S+"  # SentencePiece (Metaspace) splits on spaces only


def words_of_text(text: str, offsets, special: list[bool], pattern: str) -> list[list[int]]:
    """Token positions grouped by the word of the *text* they fall in.

    Independent of the tokenizer's word ids: words are the regex ``pattern``'s matches in the
    text; a token belongs to the word holding its first non-space character (a token of spaces
    only, like SentencePiece's lone ``▁``, to the word after it). Special tokens stand alone.
    """
    spans = [match.span() for match in re.finditer(pattern, text)]
    groups: dict[object, list[int]] = {}
    for position, (start, end) in enumerate(offsets):
        while start < end and text[start].isspace():
            start += 1
        word = next((i for i, (a, b) in enumerate(spans) if a <= start < b), None)
        key = ("alone", position) if special[position] or word is None else word
        groups.setdefault(key, []).append(position)
    return sorted(groups.values())


def word_reference(attention: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """To a word: sum of its pieces' columns; from a word: mean of its pieces' rows."""
    out = np.zeros((*attention.shape[:-2], len(groups), len(groups)))
    for a, rows in enumerate(groups):
        for b, cols in enumerate(groups):
            out[..., a, b] = attention[..., rows, :][..., :, cols].sum(-1).mean(-1)
    return out


@pytest.fixture(scope="module")
def bpe_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny GPT-2s with a byte-level BPE (Ġ) and a SentencePiece-style (▁) tokenizer."""
    from tokenizers import ByteLevelBPETokenizer, SentencePieceBPETokenizer
    from transformers import AutoModel, GPT2Config, PreTrainedTokenizerFast

    corpus = [PIECES, CAT, "housing markets and affordable tokens", "the the the cat mat"] * 5
    made = {}
    # vocabularies small enough that long words split into several pieces
    for name, trainer, vocab_size in (
        ("bytelevel", ByteLevelBPETokenizer, 300),
        ("sentencepiece", SentencePieceBPETokenizer, 60),
    ):
        raw = trainer()
        raw.train_from_iterator(
            corpus, vocab_size=vocab_size, min_frequency=1, special_tokens=["<s>"]
        )
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=raw._tokenizer, bos_token="<s>", eos_token="<s>"
        )
        torch.manual_seed(0)
        config = GPT2Config(
            vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=64
        )
        path = tmp_path_factory.mktemp(name)
        AutoModel.from_config(config).save_pretrained(path)
        tokenizer.save_pretrained(path)
        made[name] = path
    return made


def check_words(
    runner: CliRunner,
    path: str,
    model_args: list[str],
    reference_attention,
    pattern: str = LETTERS_OR_MARK,
) -> dict:
    data = run_json(runner, PIECES, *model_args, "--words", "--all-layers")
    tokenizer = reference_tokens(path, PIECES)[0]
    encoded = tokenizer(PIECES, return_offsets_mapping=True)
    attention = reference_attention(path, PIECES).numpy()
    special = [i in set(tokenizer.all_special_ids) for i in encoded["input_ids"]]
    groups = words_of_text(PIECES, encoded["offset_mapping"], special, pattern)
    expected = word_reference(attention, groups)
    np.testing.assert_allclose(np.array(data["all_attention"]), expected, atol=1e-6)
    np.testing.assert_allclose(np.array(data["attention"]).sum(-1), 1.0, atol=1e-5)
    assert len(data["tokens"]) < len(encoded["input_ids"])  # some words had several pieces
    return data


def test_words_wordpiece(runner: CliRunner, default_model_path, reference_attention) -> None:
    data = check_words(runner, default_model_path, [], reference_attention)
    assert data["tokens"][:2] == ["[CLS]", "Tokenization"] and data["tokens"][-1] == "[SEP]"
    assert data["words"] is True


@pytest.mark.parametrize("kind", ["bytelevel", "sentencepiece"])
def test_words_bpe_and_sentencepiece(
    runner: CliRunner, bpe_models, reference_attention, kind
) -> None:
    path = str(bpe_models[kind])
    pattern = NOT_SPACE if kind == "sentencepiece" else LETTERS_OR_MARK
    data = check_words(runner, path, ["--model", path], reference_attention, pattern)
    assert "unaffordable" in data["tokens"] and "Tokenization" in data["tokens"]


def test_words_with_focus_on_a_merged_word(runner: CliRunner) -> None:
    data = run_json(runner, PIECES, "--words", "--focus", "tokenization")
    assert data["focus"]["token"] == "Tokenization" and data["focus"]["index"] == 1


# --------------------------------------------------------------------------- special tokens


@pytest.mark.parametrize("head", ["mean", "4"])
def test_hide_special_renormalises_and_reports_the_sink(
    runner: CliRunner, default_model_path, reference_attention, head
) -> None:
    data = run_json(runner, CAT, "--hide-special", "--layer", "3", "--head", head)
    attention = reference_attention(default_model_path, CAT).numpy()[3]  # (H, T, T)
    kept = attention[:, 1:-1, 1:-1]
    kept = kept / kept.sum(-1, keepdims=True)  # each head's rows renormalised, then aggregated
    expected = kept.mean(0) if head == "mean" else kept[int(head)]
    assert data["tokens"][0] == "the" and "[SEP]" not in data["tokens"]
    np.testing.assert_allclose(np.array(data["attention"]), expected, atol=1e-6)
    all_layers = reference_attention(default_model_path, CAT).numpy()
    per_layer = all_layers.mean(1) if head == "mean" else all_layers[:, int(head)]
    sink = per_layer[:, :, [0, -1]].sum(-1).mean(-1)
    np.testing.assert_allclose(data["sink_share"], sink, atol=1e-6)


def test_sink_share_is_always_reported(runner: CliRunner) -> None:
    data = run_json(runner, CAT)
    assert len(data["sink_share"]) == 6 and all(0 <= s <= 1 for s in data["sink_share"])
    result = runner.invoke(app, ["run", CAT])
    assert "special-token share per layer" in result.stdout


# --------------------------------------------------------------------------- head statistics


def test_stats_against_a_reference(
    runner: CliRunner, default_model_path, reference_attention
) -> None:
    data = run_json(runner, CAT, "--stats")
    attention = reference_attention(default_model_path, CAT).double().numpy()
    assert len(data["stats"]) == 6 * 12
    for entry in data["stats"][::7]:
        matrix = attention[entry["layer"], entry["head"]]
        n = matrix.shape[0]
        entropy = np.mean([-sum(p * math.log2(p) for p in row if p > 0) for row in matrix])
        assert entry["entropy"] == pytest.approx(entropy, abs=1e-6)
        assert entry["previous"] == pytest.approx(
            np.mean([matrix[i, i - 1] for i in range(1, n)]), abs=1e-6
        )
        assert entry["same"] == pytest.approx(np.mean([matrix[i, i] for i in range(n)]), abs=1e-6)
        assert entry["next"] == pytest.approx(
            np.mean([matrix[i, i + 1] for i in range(n - 1)]), abs=1e-6
        )
        assert entry["special"] == pytest.approx(np.mean(matrix[:, 0] + matrix[:, -1]), abs=1e-6)
    table = runner.invoke(app, ["run", CAT, "--stats"]).stdout
    assert "head statistics, layer 5" in table and "entropy (bits)" in table


def test_stats_as_csv(runner: CliRunner) -> None:
    result = runner.invoke(app, ["run", CAT, "--stats", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 72 and set(rows[0]) == {
        "text_index",
        "line",
        "layer",
        "head",
        "entropy",
        "previous",
        "same",
        "next",
        "special",
    }


# --------------------------------------------------------------------------- heads command


@pytest.mark.parametrize("name", ["default", "llama"])
def test_heads_ranks_every_head(
    runner: CliRunner, default_model_path, tiny_models, reference_attention, name
) -> None:
    path = default_model_path if name == "default" else str(tiny_models[name])
    model = [] if name == "default" else ["--model", path]
    result = runner.invoke(
        app, ["heads", CAT, "--from", "it", "--to", "mat", *model, "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    attention = reference_attention(path, CAT).numpy()
    assert data["from"] == {"token": "it", "index": 8} and data["to"] == {
        "token": "mat",
        "index": 6,
    }
    assert len(data["heads"]) == attention.shape[0] * attention.shape[1]
    weights = [entry["weight"] for entry in data["heads"]]
    assert weights == sorted(weights, reverse=True)
    for entry in data["heads"]:
        assert entry["weight"] == pytest.approx(
            attention[entry["layer"], entry["head"], 8, 6], abs=1e-6
        )


def test_heads_table_and_words(runner: CliRunner) -> None:
    result = runner.invoke(app, ["heads", CAT, "--from", "it", "--to", "mat", "--top", "3"])
    assert result.exit_code == 0
    assert (
        "which heads link it (@8) to mat (@6)" in result.stdout
        and "every layer x head" in result.stdout
    )
    words = runner.invoke(
        app,
        [
            "heads",
            PIECES,
            "--from",
            "housing",
            "--to",
            "tokenization",
            "--words",
            "--format",
            "json",
        ],
    )
    data = json.loads(words.stdout)
    assert data["to"]["token"] == "Tokenization"
    bad = runner.invoke(app, ["heads", CAT, "--from", "zebra", "--to", "mat"])
    assert bad.exit_code == 1 and "--from zebra" in bad.stderr


def test_heads_csv(runner: CliRunner) -> None:
    result = runner.invoke(app, ["heads", CAT, "--from", "it", "--to", "mat", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 72 and rows[0]["rank"] == "1"


# --------------------------------------------------------------------------- diff command

WARM, TIRED = CAT, CAT.replace("warm", "tired")


def test_diff_same_length_is_a_minus_b(
    runner: CliRunner, default_model_path, reference_attention
) -> None:
    result = runner.invoke(
        app, ["diff", WARM, TIRED, "--layer", "2", "--head", "1", "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    a = reference_attention(default_model_path, WARM).numpy()[2, 1]
    b = reference_attention(default_model_path, TIRED).numpy()[2, 1]
    np.testing.assert_allclose(np.array(data["delta"]), a - b, atol=2e-6)  # two 1e-6 errors
    # A and B run in one batch of two: the batched kernels round slightly differently.
    np.testing.assert_allclose(np.array(data["a"]["attention"]), a, atol=2e-6)
    assert data["alignment"]["only_a"] == [] and data["alignment"]["only_b"] == []


def test_diff_different_lengths_aligns(runner: CliRunner) -> None:
    longer = CAT.replace("was warm", "was very tired")
    result = runner.invoke(app, ["diff", CAT, longer, "--focus", "it", "--format", "json"])
    data = json.loads(result.stdout)
    assert data["delta"] is None
    assert data["alignment"]["only_a"] == [10]  # warm
    assert data["alignment"]["only_b"] == [10, 11]  # very tired
    assert data["a"]["focus"]["index"] == 8 and data["b"]["focus"]["index"] == 8
    assert len(data["focus_changes"]) == 6
    table = runner.invoke(app, ["diff", CAT, longer, "--focus", "it"]).stdout
    assert "no partner in B: 10:warm" in table and "largest changes" in table


def test_diff_focus_without_partner_is_an_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["diff", CAT, "A dog barked.", "--focus", "warm"])
    assert result.exit_code == 1 and "no partner" in result.stderr


def test_diff_table_and_csv(runner: CliRunner) -> None:
    table = runner.invoke(app, ["diff", WARM, TIRED, "--focus", "it"])
    assert table.exit_code == 0 and "warm/tired" in table.stdout and "A − B" in table.stdout
    rows = list(
        csv.DictReader(
            io.StringIO(runner.invoke(app, ["diff", WARM, TIRED, "--format", "csv"]).stdout)
        )
    )
    assert len(rows) == 13 * 13
    for row in rows[:20]:
        assert float(row["delta"]) == pytest.approx(float(row["weight_a"]) - float(row["weight_b"]))


# ------------------------------------------------------------------ every view, every format

VIEWS = [
    ["--rollout"],
    ["--words"],
    ["--hide-special"],
    ["--stats"],
    ["--words", "--hide-special", "--rollout"],
]


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: " ".join(v))
@pytest.mark.parametrize("output_format", ["table", "json", "jsonl", "csv"])
@pytest.mark.parametrize("model", ["default", "bert", "gpt2"])
def test_every_view_in_every_format(
    runner: CliRunner, tiny_models, view, output_format, model
) -> None:
    model_args = [] if model == "default" else ["--model", str(tiny_models[model])]
    result = runner.invoke(
        app,
        ["run", "-", *model_args, *view, "--format", output_format, "--focus", "cat"],
        input=f"{PIECES} cat\n{CAT}\n",
    )
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    if output_format == "json":
        records = json.loads(out)
    elif output_format == "jsonl":
        records = [json.loads(line) for line in out.splitlines()]
    elif output_format == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert rows and {row["text_index"] for row in rows} == {"0", "1"}
        return
    else:
        assert out.count("what cat") == 2
        return
    for record in records:
        matrix = np.array(record["attention"])
        if "--stats" not in view:
            np.testing.assert_allclose(matrix.sum(-1), 1.0, atol=1e-5)
        assert record["focus"]["token"].lower() == "cat"
        if "--hide-special" in view:
            assert not any(record["special"])


def test_scratch_engine_with_another_tokenizer(runner: CliRunner, bpe_models) -> None:
    path = str(bpe_models["bytelevel"])
    data = run_json(runner, PIECES, "--model", "scratch", "--tokenizer", path, "--words")
    _, encoded = reference_tokens(path, PIECES)
    assert data["shapes"]["input_ids"] == [1, len(encoded["input_ids"])]
    assert data["engine"] == "scratch" and "unaffordable" in data["tokens"]
    missing = runner.invoke(app, ["run", CAT, "--model", "scratch", "--tokenizer", "/no/such"])
    assert missing.exit_code == 1 and "no such directory" in missing.stderr
