"""Tiny encoder–decoder models (BART, T5, Marian) and byte-level decoders for the tests, built from
configs with tokenizers made in memory: a SentencePiece-style one (``▁`` starts a word) and a
byte-level BPE one (``Ġ``). Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

WORDS = [
    *["the", "cat", "sat", "on", "mat", "because", "it", "was", "warm", "dog", "ran"],
    *[
        "le",
        "chat",
        "dort",
        "sur",
        "tapis",
        "parce",
        "que",
        "il",
        "faisait",
        "chaud",
        "a",
        "an",
        "is",
        "of",
        "to",
        "and",
        "in",
    ],
]
PIECES = ["sle", "eps", "ing", "er", "s", "ed"]
SPECIALS = ["<pad>", "</s>", "<unk>", "<s>"]


def sentencepiece_tokenizer():
    """A Unigram tokenizer with a Metaspace pre-tokenizer (``▁``), pad 0, eos 1, unk 2, bos 3."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list(".,!?'") + ["▁"]
    letters += [c.upper() for c in letters if c.isalpha()]
    vocab = [(token, 0.0) for token in SPECIALS]
    vocab += [(f"▁{word}", -2.0) for word in WORDS]
    vocab += [(f"▁{word.capitalize()}", -2.5) for word in WORDS]
    vocab += [(piece, -3.0) for piece in PIECES] + [("▁sle", -3.0)]
    vocab += [(letter, -6.0) for letter in letters]
    model = models.Unigram(vocab, unk_id=2, byte_fallback=False)
    tokenizer = Tokenizer(model)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        bos_token="<s>",
        model_max_length=64,
    )


def byte_level_tokenizer():
    """A byte-level BPE (``Ġ``) trained in memory on a few sentences: <pad> 0, <s> 1, </s> 2."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [" ".join(WORDS), "The cat sat on the mat because it was warm.", "Le chat dort."] * 4
    tokenizer.train_from_iterator(corpus, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 1), ("</s>", 2)],
    )  # fmt: skip
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=64,
    )


def seq2seq_configs(sp_vocab: int, bl_vocab: int) -> dict:
    """BART (byte-level), T5 and Marian (SentencePiece-style): 2 encoder and 3 decoder layers
    where the architecture allows it, 4 heads, hidden 32."""
    from transformers import BartConfig, MarianConfig, T5Config

    shared = {"d_model": 32, "encoder_attention_heads": 4, "decoder_attention_heads": 4,
              "encoder_ffn_dim": 64, "decoder_ffn_dim": 64, "encoder_layers": 2,
              "decoder_layers": 3, "max_position_embeddings": 64, "init_std": 0.1}  # fmt: skip
    return {
        "bart": BartConfig(
            vocab_size=bl_vocab, pad_token_id=0, bos_token_id=1, eos_token_id=2,
            decoder_start_token_id=2, forced_eos_token_id=None, **shared,
        ),
        "marian": MarianConfig(
            vocab_size=sp_vocab, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
            forced_eos_token_id=None, decoder_vocab_size=sp_vocab, **shared,
        ),
        "t5": T5Config(
            vocab_size=sp_vocab, d_model=32, d_kv=8, d_ff=64, num_layers=2,
            num_decoder_layers=2, num_heads=4, pad_token_id=0, eos_token_id=1,
            decoder_start_token_id=0, relative_attention_num_buckets=8,
        ),
    }  # fmt: skip


def build_seq2seq(root: Path) -> dict[str, Path]:
    """Save each tiny encoder–decoder model with its tokenizer under ``root``."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    tokenizers = {"sp": sentencepiece_tokenizer(), "bl": byte_level_tokenizer()}
    configs = seq2seq_configs(len(tokenizers["sp"]), len(tokenizers["bl"]))
    paths = {}
    for name, config in configs.items():
        torch.manual_seed(0)
        model = AutoModelForSeq2SeqLM.from_config(config)
        paths[name] = root / name
        model.save_pretrained(paths[name])
        tokenizers["bl" if name == "bart" else "sp"].save_pretrained(paths[name])
    return paths


def build_causal(root: Path) -> dict[str, Path]:
    """GPT-2 and Llama language models (with their heads, so they generate) on the byte-level
    tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig

    tokenizer = byte_level_tokenizer()
    ids = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    configs = {
        "gpt2": GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4,
                           n_positions=64, **ids),
        "llama": LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                             num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                             max_position_embeddings=64, **ids),
    }  # fmt: skip
    paths = {}
    for name, config in configs.items():
        torch.manual_seed(0)
        paths[name] = root / f"{name}-lm"
        AutoModelForCausalLM.from_config(config).save_pretrained(paths[name])
        tokenizer.save_pretrained(paths[name])
    return paths
