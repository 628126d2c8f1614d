"""Train demo-induction: a two-layer Llama decoder trained on random word sequences that repeat
("<s> cat sun map cat sun map"), shipped in attninspect/model/demo_models/demo-induction.

To predict the second copy a model needs two heads that work together (Olsson et al. 2022): a
previous-token head in layer 0 (each token copies in which token came before it) and an induction
head in layer 1 (a token looks for the earlier token that followed its own earlier occurrence).
Llama has no attention-only variant, so the MLPs are kept tiny; one head per layer leaves the
model no other way to share the work (with four heads per layer, and with GPT-2's learned
positions, it found other circuits that `stats` does not recognise). Sequence lengths vary, so no
fixed offset can stand in for the induction head. The data are generated here.

Three choices make layer 0 a clean previous-token head (its `stats --stat previous` on fresh
6-20-word copies, seed 0): trained on every token, copies of 4-24 words, rotary base 10,000, it
also looked about 6 and 12 tokens back (where its fastest rotary frequency comes round again) and
scored 0.66 (0.63-0.74 over 8,000 steps). The loss is now on the second copy's words after its
first only (the rest is random, nothing to learn): 0.79; copies of up to 30 words, more tokens in
reach of those echoes: 0.83; and rotary base 100, more frequencies near one turn a token to tell
one back from seven back with: 0.90 with all three (0.78 with the loss and base 100 alone).

Seeded and deterministic on the CPU (one thread). Usage:
    python scripts/train_demo_induction.py [--out DIR] [--steps N]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch
from demo_training import deterministic, fast_tokenizer, save, train

SEED = 0
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
WORDS = (
    "ant", "arm", "bat", "bed", "bee", "box", "bus", "cake", "car", "cat", "cow", "cup",
    "dog", "drum", "ear", "egg", "elk", "fig", "fish", "flag", "fox", "gem", "hat", "hen",
    "hill", "ice", "ink", "jam", "jet", "key", "kite", "lamp", "leg", "lid", "map", "moon",
    "mud", "nest", "net", "nut", "oak", "owl", "pan", "pen", "pig", "pot", "rat", "ring",
    "rug", "sea", "ship", "sky", "sock", "star", "sun", "tea", "toy", "tree", "van", "web",
    "wig", "yak", "zip", "axe",
)  # fmt: skip
SHORTEST, LONGEST = 4, 30  # words per copy (2 x 30 + <s> < the 64 positions)
ROPE_THETA = 100.0
DEFAULT_OUT = (
    Path(__file__).resolve().parent.parent / "attninspect/model/demo_models/demo-induction"
)


def build_tokenizer():
    """A word-level tokenizer over the 64 words that AutoTokenizer loads; "<s>" starts a text."""
    from tokenizers import models, pre_tokenizers

    vocab = [*SPECIALS, *WORDS]
    return fast_tokenizer(
        vocab, models.WordLevel, pre_tokenizers.WhitespaceSplit(), "<s> $A", max_length=64
    )


def build_model(vocab_size: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=1,  # one head per layer: see the docstring
        num_key_value_heads=1,
        max_position_embeddings=64,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA},
        attn_implementation="eager",
    )
    assert config.rope_parameters["rope_theta"] == ROPE_THETA
    return LlamaForCausalLM(config)


def repeated(rng: random.Random, length: int | None = None) -> list[str]:
    """Distinct random words, then the same words again."""
    words = rng.sample(WORDS, length or rng.randint(SHORTEST, LONGEST))
    return words + words


def batch_of(rng: random.Random, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ids (B, T), attention mask (B, T) and labels (B, T), right-padded. Only the second copy's
    words after its first are labels: the rest cannot be predicted from what came before."""
    offset = len(SPECIALS)
    rows = [[1, *(WORDS.index(w) + offset for w in repeated(rng))] for _ in range(size)]
    width = max(len(row) for row in rows)
    ids = torch.tensor([row + [0] * (width - len(row)) for row in rows])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
    copy = (mask.sum(1, keepdim=True) - 1) // 2  # (B, 1) words a copy
    predicted = torch.arange(width)[None] >= copy + 2  # (B, T): "<s>", copy, first word again
    return ids, mask, ids.masked_fill((mask == 0) | ~predicted, -100)


def head_scores(model, tokenizer, texts: list[str]) -> dict[str, dict[str, float]]:
    """Per head, the mean weight on the previous token (rows that have one) and on the token
    after the row's token's earlier occurrence (rows whose token occurred before), as the
    `stats` command defines them."""
    sums: dict[str, list[float]] = {"previous": [], "induction": []}
    by_head: dict[str, dict[str, list[float]]] = {}
    for text in texts:
        ids = tokenizer(text, return_tensors="pt")["input_ids"]
        tokens = ids[0].tolist()
        with torch.inference_mode():
            attentions = model(ids, output_attentions=True).attentions
        for layer, weights in enumerate(attentions):  # (1, H, T, T)
            for head in range(weights.shape[1]):
                a = weights[0, head]  # (T, T)
                entry = by_head.setdefault(f"L{layer} H{head}", {k: [] for k in sums})
                entry["previous"] += [float(a[i, i - 1]) for i in range(1, len(tokens))]
                for i, token in enumerate(tokens):
                    earlier = [j for j in range(i) if tokens[j] == token]
                    if earlier:
                        entry["induction"].append(float(sum(a[i, j + 1] for j in earlier)))
    return {
        name: {k: sum(v) / len(v) for k, v in values.items()} for name, values in by_head.items()
    }


def model_card(summary: dict) -> str:
    """What the model is, how it was trained and what its heads score, for the model's folder."""
    rows = "\n".join(
        f"| {name} | {values['previous']:.3f} | {values['induction']:.3f} |"
        for name, values in summary["heads"].items()
    )
    return f"""# demo-induction

A two-layer Llama decoder (one head per layer, hidden size 64, MLPs of width 32) trained on random
sequences of distinct words from a 64-word vocabulary, each written twice
(`<s> cat sun map cat sun map`), {SHORTEST} to {LONGEST} words a copy. The second copy can only be
predicted by looking back: a previous-token head and an induction head (Olsson et al. 2022).
Rotary positions with base {ROPE_THETA:g}.

Trained by `scripts/train_demo_induction.py` (seed 0, one CPU thread, {summary["steps"]} steps of
64 sequences, {summary["seconds"]} s of wall time), plain next-token cross-entropy on the second
copy's words after its first (the rest is random); nothing guides the attention. The data are
generated by the script. Adam with a one-cycle schedule (peak learning rate {summary["lr"]}), no
weight decay.

Per head, on 100 fresh repeated sequences (the `stats` definitions: `previous`, the weight on the
token before; `induction`, the weight on the token after an earlier occurrence of the row's token):

| head | previous | induction |
|---|---|---|
{rows}
"""


def with_theta_for_older_transformers(path: Path) -> None:
    """transformers 5 writes the rotary base in "rope_parameters"; 4.x reads "rope_theta" and
    would otherwise take its default, 10,000."""
    config = json.loads(path.read_text(encoding="utf-8"))
    config["rope_theta"] = config["rope_parameters"]["rope_theta"]
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    started = time.perf_counter()
    rng = deterministic(SEED)
    assert len(set(WORDS)) == len(WORDS) == 64

    tokenizer = build_tokenizer()
    model = build_model(len(tokenizer))

    def loss_of_next_batch() -> torch.Tensor:
        ids, mask, labels = batch_of(rng, args.batch)
        return model(input_ids=ids, attention_mask=mask, labels=labels).loss

    train(
        model, loss_of_next_batch, steps=args.steps, lr=args.lr, weight_decay=0.0, started=started
    )
    fresh = random.Random(SEED + 1)
    texts = [" ".join(repeated(fresh)) for _ in range(100)]
    scores = head_scores(model, tokenizer, texts)
    seconds = time.perf_counter() - started
    for name, values in scores.items():
        print(f"{name}: previous {values['previous']:.3f}  induction {values['induction']:.3f}")
    summary = {"heads": scores, "seconds": round(seconds), "steps": args.steps, "lr": args.lr}
    print(json.dumps(summary, indent=1))
    save(model, tokenizer, args.out, model_card(summary))
    with_theta_for_older_transformers(args.out / "config.json")
    print(f"wrote {args.out} in {seconds:.0f} s")


if __name__ == "__main__":
    main()
