"""Train demo-translate: a tiny BART that writes ISO dates as English ("2026-12-06" → "6 December
2026"), shipped in attninspect/model/demo_models/demo-translate.

Every token has a known source: each digit is a token of its own (WordPiece: "2026" → 2 ##0 ##2
##6), each month a whole word, so the day's token(s) come from the source's day digits, the month
from its month digits and each year digit from the same year digit. The data are every date from
1900-01-01 to 2099-12-31, generated here; 2,000 of them are held out and never trained on.

Seeded and deterministic on the CPU (one thread). Usage:
    python scripts/train_demo_translate.py [--out DIR] [--steps N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import torch
from demo_training import deterministic, fast_tokenizer, save, train

SEED = 0
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")  # fmt: skip
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0..3, as BART numbers them
FIRST, LAST = datetime.date(1900, 1, 1), datetime.date(2099, 12, 31)
HELD_OUT = 2000
DEFAULT_OUT = (
    Path(__file__).resolve().parent.parent / "attninspect/model/demo_models/demo-translate"
)
# Source layout of "YYYY-MM-DD </s>": the positions each target token comes from.
YEAR, MONTH, DAY = (0, 1, 2, 3), (5, 6), (8, 9)


def english(date: datetime.date) -> str:
    """The target: day without a leading zero, the month's full name, the year."""
    return f"{date.day} {MONTHS[date.month - 1]} {date.year}"


def all_dates() -> list[datetime.date]:
    days = (LAST - FIRST).days + 1
    return [FIRST + datetime.timedelta(days=n) for n in range(days)]


def build_tokenizer():
    """A WordPiece tokenizer over digits and month names that AutoTokenizer loads."""
    from tokenizers import decoders, models, pre_tokenizers

    digits = [str(n) for n in range(10)]
    vocab = [*SPECIALS, "-", *digits, *(f"##{d}" for d in digits), *MONTHS]
    return fast_tokenizer(
        vocab,
        models.WordPiece,
        pre_tokenizers.BertPreTokenizer(),  # words and "-" apart
        "$A </s>",
        max_length=32,
        decoder=decoders.WordPiece(prefix="##", cleanup=False),  # "2 ##0" → "20"
    )


def build_model(vocab_size: int):
    from transformers import BartConfig, BartForConditionalGeneration

    config = BartConfig(
        vocab_size=vocab_size,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_position_embeddings=32,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=0,
        forced_bos_token_id=None,
        forced_eos_token_id=None,
        attn_implementation="eager",
    )
    return BartForConditionalGeneration(config)


def encoded(tokenizer, dates: list[datetime.date]) -> tuple[torch.Tensor, torch.Tensor]:
    """Source ids (N, 11) and label ids (N, T) padded with -100 (every source has 11 tokens)."""
    sources = tokenizer([d.isoformat() for d in dates])["input_ids"]
    labels = tokenizer(text_target=[english(d) for d in dates])["input_ids"]
    width = max(len(ids) for ids in labels)
    padded = [ids + [-100] * (width - len(ids)) for ids in labels]
    return torch.tensor(sources), torch.tensor(padded)


def aligned_sources(tokens: list[str]) -> list[tuple[int, ...]]:
    """For each decoder input token (<s>, day, month, year digits, </s>), the source positions
    it comes from (empty for the special tokens)."""
    month = next(i for i, token in enumerate(tokens) if token in MONTHS)
    spans: list[tuple[int, ...]] = []
    for i, token in enumerate(tokens):
        if token in SPECIALS:
            spans.append(())
        elif i < month:
            spans.append(DAY)
        elif i == month:
            spans.append(MONTH)
        else:
            spans.append((YEAR[i - month - 1],))
    return spans


def alignment_scores(model, tokenizer, dates: list[datetime.date]) -> dict[str, float]:
    """Per cross-attention head (and each layer's head mean): the share of aligned decoder
    tokens whose largest weight lands on their source, for the generated translations."""
    sources, _ = encoded(tokenizer, dates)
    with torch.inference_mode():
        generated = model.generate(sources, do_sample=False, num_beams=1, max_new_tokens=20)
        out = model(input_ids=sources, decoder_input_ids=generated, output_attentions=True)
    hits: dict[str, int] = {}
    total = 0
    for row, ids in enumerate(generated.tolist()):
        tokens = tokenizer.convert_ids_to_tokens(ids)
        length = tokens.index("</s>") + 1 if "</s>" in tokens[1:] else len(tokens)
        spans = aligned_sources(tokens[:length])
        for layer, weights in enumerate(out.cross_attentions):  # (B, H, T, S)
            maps = {f"L{layer} H{h}": weights[row, h] for h in range(weights.shape[1])}
            maps[f"L{layer} mean"] = weights[row].mean(0)
            for name, matrix in maps.items():
                best = matrix[:length].argmax(-1).tolist()
                hits[name] = hits.get(name, 0) + sum(
                    best[t] in span for t, span in enumerate(spans) if span
                )
        total += sum(1 for span in spans if span)
    return {name: count / total for name, count in hits.items()}


def accuracy(model, tokenizer, dates: list[datetime.date]) -> float:
    sources, _ = encoded(tokenizer, dates)
    with torch.inference_mode():
        generated = model.generate(sources, do_sample=False, num_beams=1, max_new_tokens=20)
    texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
    return sum(t == english(d) for t, d in zip(texts, dates, strict=True)) / len(dates)


def alignment_masks(tokenizer, labels: torch.Tensor, width: int) -> torch.Tensor:
    """(N, T, S) 1 where decoder input token t (<s>, then the labels) comes from source
    position s: the alignment the guided head is taught."""
    masks = torch.zeros(labels.shape[0], labels.shape[1], width)
    for row, ids in enumerate(labels.tolist()):
        inputs = [0, *(i for i in ids[:-1] if i != -100)]  # what the decoder reads
        for t, span in enumerate(aligned_sources(tokenizer.convert_ids_to_tokens(inputs))):
            masks[row, t, list(span)] = 1.0
    return masks


def guided_loss(cross: tuple[torch.Tensor, ...], masks: torch.Tensor, head: tuple[int, int]):
    """Guided alignment (Garg et al. 2019): minus the log of the weight that one cross-attention
    head puts on each aligned decoder token's source positions, averaged over those tokens."""
    layer, index = head
    weights = cross[layer][:, index]  # (B, T, S)
    rows = masks.sum(-1) > 0  # (B, T)
    share = (weights * masks).sum(-1).clamp_min(1e-9)  # (B, T)
    return -(share.log() * rows).sum() / rows.sum()


def model_card(summary: dict) -> str:
    """What the model is, how it was trained and what it scored, for the model's folder."""
    best = max(summary["alignment"].items(), key=lambda item: item[1])
    rows = "\n".join(f"| {name} | {score:.3f} |" for name, score in summary["alignment"].items())
    guided = summary["guided_head"]
    training = (
        f"Cross-entropy plus a guided-alignment loss (Garg et al. 2019) on cross-attention "
        f"head {guided} (layer, head)."
        if guided
        else "Plain cross-entropy on the target tokens; nothing guides the attention."
    )
    plain = (
        "Why guided: trained plainly (`--guide none`, 3,000 steps) the model also translates "
        "every held-out date, but no cross-attention head aligns with the tokens as `run` shows "
        "them (best head 26 % of tokens); its last layer looks at the source of the token it is "
        "about to write instead (layer 1 head 3: 85 % of tokens)."
    )
    return f"""# demo-translate

A tiny BART (2 encoder and 2 decoder layers, 4 heads, d_model 64) that writes an ISO date
1900-01-01..2099-12-31 in English: `2026-12-06` → `6 December 2026`. Each digit is a token
(WordPiece: `2026` → `2 ##0 ##2 ##6`), each month one word, so every target token has a known
source: the day's token(s) the source's day digits, the month its month digits, each year digit
the same year digit.

Trained by `scripts/train_demo_translate.py` (seed 0, one CPU thread, {summary["steps"]} steps of
128 dates, {summary["seconds"]} s of wall time): {training} Data: every date in the range,
generated by the script; {HELD_OUT} dates held out. {plain if guided else ""}

- held-out exact match (greedy): {summary["held_out_exact_match"]:.4f}
- alignment: the share of aligned target tokens (the decoder's input tokens, as `run` shows them)
  whose largest cross-attention weight falls on their source digits, on 500 held-out dates;
  best: {best[0]} ({best[1]:.3f})

| cross-attention | aligned |
|---|---|
{rows}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument(
        "--guide", default="0,0", help="LAYER,HEAD of the guided cross-attention head, or none"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    rng = deterministic(SEED)

    tokenizer = build_tokenizer()
    dates = all_dates()
    rng.shuffle(dates)
    held_out, train_dates = dates[:HELD_OUT], dates[HELD_OUT:]
    sources, labels = encoded(tokenizer, train_dates)
    model = build_model(len(tokenizer))
    guide = None if args.guide == "none" else tuple(int(n) for n in args.guide.split(","))
    masks = alignment_masks(tokenizer, labels, sources.shape[1]) if guide else None

    def loss_of_next_batch() -> torch.Tensor:
        batch = torch.tensor([rng.randrange(len(train_dates)) for _ in range(args.batch)])
        out = model(
            input_ids=sources[batch], labels=labels[batch], output_attentions=guide is not None
        )
        if guide is None:
            return out.loss
        assert masks is not None
        return out.loss + guided_loss(out.cross_attentions, masks[batch], guide)

    train(model, loss_of_next_batch, steps=args.steps, lr=3e-3, weight_decay=0.01, started=started)
    test = accuracy(model, tokenizer, held_out)
    scores = alignment_scores(model, tokenizer, held_out[:500])
    seconds = time.perf_counter() - started
    print(f"held-out exact match: {test:.4f} ({HELD_OUT} dates)")
    for name, score in scores.items():
        print(f"alignment {name}: {score:.3f}")
    guided = None if guide is None else args.guide
    summary = {"held_out_exact_match": test, "alignment": scores, "seconds": round(seconds),
               "steps": args.steps, "guided_head": guided}  # fmt: skip
    print(json.dumps(summary, indent=1))
    save(model, tokenizer, args.out, model_card(summary))
    print(f"wrote {args.out} in {seconds:.0f} s")


if __name__ == "__main__":
    main()
