"""The attention tap: query, key and value states, scores and weights of every layer and kind,
checked against an independent eager copy of each model (BERT, GPT-2, Llama with grouped keys and
rotary embeddings, T5 with its position bias, BART), on padded batches, to 1e-5 (weights 1e-6).

The reference is computed in the test from the model's own projection modules (forward hooks on
them), rotary embeddings applied with the model's own ``apply_rotary_pos_emb``, and scores as
q·kᵀ·scale + position bias + mask, the mask worked out here from the padding and causality.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from attninspect.analysis.measures import norm_of_sum, norms
from attninspect.errors import AttnInspectError
from attninspect.model.engines.factory import EngineSettings, open_engine
from attninspect.model.engines.seam import PARTS, LayerParts, TapRequest
from tests.conftest import CAT

TEXTS = [CAT, "Hi there", "one two three four five six seven eight nine ten"]
TARGETS = ["Le chat dort sur le tapis.", "Il fait chaud"]
ROLES = {"query": "q", "key": "k", "value": "v", "q_proj": "q", "k_proj": "k", "v_proj": "v",
         "q": "q", "k": "k", "v": "v"}  # fmt: skip
PATTERNS = {
    "bert": [("self", r"encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)$")],
    "gpt2": [("self", r"h\.(\d+)\.attn\.(c_attn)$")],
    "llama": [("self", r"layers\.(\d+)\.self_attn\.(q_proj|k_proj|v_proj)$")],
    "bart": [
        ("encoder", r"encoder\.layers\.(\d+)\.self_attn\.(q_proj|k_proj|v_proj)$"),
        ("decoder", r"decoder\.layers\.(\d+)\.self_attn\.(q_proj|k_proj|v_proj)$"),
        ("cross", r"decoder\.layers\.(\d+)\.encoder_attn\.(q_proj|k_proj|v_proj)$"),
    ],
    "marian": [
        ("encoder", r"encoder\.layers\.(\d+)\.self_attn\.(q_proj|k_proj|v_proj)$"),
        ("decoder", r"decoder\.layers\.(\d+)\.self_attn\.(q_proj|k_proj|v_proj)$"),
        ("cross", r"decoder\.layers\.(\d+)\.encoder_attn\.(q_proj|k_proj|v_proj)$"),
    ],
    "t5": [
        ("encoder", r"encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.(q|k|v)$"),
        ("decoder", r"decoder\.block\.(\d+)\.layer\.0\.SelfAttention\.(q|k|v)$"),
        ("cross", r"decoder\.block\.(\d+)\.layer\.1\.EncDecAttention\.(q|k|v)$"),
    ],
}
ROTARY = r"layers\.(\d+)\.self_attn$"  # Llama: (cos, sin) handed to the attention module
T5_BIAS = [("encoder", r"encoder\.block\.(\d+)\.layer\.0\.SelfAttention$"),
           ("decoder", r"decoder\.block\.(\d+)\.layer\.0\.SelfAttention$"),
           ("cross", r"decoder\.block\.(\d+)\.layer\.1\.EncDecAttention$")]  # fmt: skip
# The output projection W_O of each (kind, layer), named in the reference model.
PROJECTIONS = {
    ("bert", "self"): "encoder.layer.{}.attention.output.dense",
    ("gpt2", "self"): "h.{}.attn.c_proj",
    ("llama", "self"): "layers.{}.self_attn.o_proj",
    ("bart", "encoder"): "model.encoder.layers.{}.self_attn.out_proj",
    ("bart", "decoder"): "model.decoder.layers.{}.self_attn.out_proj",
    ("bart", "cross"): "model.decoder.layers.{}.encoder_attn.out_proj",
    ("marian", "encoder"): "model.encoder.layers.{}.self_attn.out_proj",
    ("marian", "decoder"): "model.decoder.layers.{}.self_attn.out_proj",
    ("marian", "cross"): "model.decoder.layers.{}.encoder_attn.out_proj",
    ("t5", "encoder"): "encoder.block.{}.layer.0.SelfAttention.o",
    ("t5", "decoder"): "decoder.block.{}.layer.0.SelfAttention.o",
    ("t5", "cross"): "decoder.block.{}.layer.1.EncDecAttention.o",
}
WEIGHT_FIELDS = {"self": "attentions", "encoder": "encoder_attentions",
                 "decoder": "decoder_attentions", "cross": "cross_attentions"}  # fmt: skip
SEQ2SEQ = ("bart", "t5", "marian")


@dataclass
class Reference:
    """What the independent eager copy computed, per (kind, layer)."""

    states: dict[tuple[str, int], dict[str, torch.Tensor]] = field(default_factory=dict)
    rotary: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    bias: dict[tuple[str, int], torch.Tensor] = field(default_factory=dict)
    weights: dict[tuple[str, int], torch.Tensor] = field(default_factory=dict)
    projections: dict[tuple[str, int], torch.Tensor] = field(default_factory=dict)


def _path(name: str, tiny_models, seq2seq_models) -> str:
    return str(seq2seq_models[name] if name in SEQ2SEQ else tiny_models[name])


def _batch(engine, name: str) -> tuple[list, dict[str, torch.Tensor]]:
    """A padded batch of texts (with targets for encoder-decoder models) and its model inputs."""
    from attninspect.api.batching import encode_items
    from attninspect.api.seq2seq import Request
    from attninspect.files.sources import SourceText

    items = [SourceText(text=text, index=i) for i, text in enumerate(TEXTS[:2])]
    request = Request(target=TARGETS[0]) if name in SEQ2SEQ else Request()
    _, pending = encode_items(engine, items, False, None, request)
    encodings = [encoding for _, _, encoding in pending]
    if name in SEQ2SEQ:
        return encodings, engine._seq2seq_inputs(encodings)
    return encodings, engine._model_inputs(encodings)


def _reference(path: str, name: str, inputs: dict[str, torch.Tensor]) -> Reference:
    """Run an independent eager copy with hooks on its projections."""
    from transformers import AutoModel, AutoModelForSeq2SeqLM

    auto = AutoModelForSeq2SeqLM if name in SEQ2SEQ else AutoModel
    model = auto.from_pretrained(path, attn_implementation="eager").eval()
    found = Reference()
    handles = []

    def keep_state(kind: str, layer: int, role: str):
        def hook(_module, _args, output):
            found.states.setdefault((kind, layer), {})[role] = output.detach().clone()

        return hook

    def keep_rotary(layer: int):
        def hook(_module, _args, kwargs):
            found.rotary[layer] = kwargs["position_embeddings"]

        return hook

    def keep_bias(kind: str, layer: int):
        def hook(_module, _args, output):
            found.bias[(kind, layer)] = output[1].detach().clone()  # T5: (out, bias, weights)

        return hook

    for module_name, module in model.named_modules():
        for kind, pattern in PATTERNS[name]:
            match = re.search(pattern, module_name)
            if match:
                role = ROLES.get(match.group(2), "qkv")
                handles.append(module.register_forward_hook(keep_state(kind, int(match[1]), role)))
        if name == "llama" and (match := re.search(ROTARY, module_name)):
            handles.append(
                module.register_forward_pre_hook(keep_rotary(int(match[1])), with_kwargs=True)
            )
        for kind, pattern in T5_BIAS if name == "t5" else []:
            if match := re.search(pattern, module_name):
                handles.append(module.register_forward_hook(keep_bias(kind, int(match[1]))))
    try:
        with torch.inference_mode():
            outputs = model(**inputs, output_attentions=True)
    finally:
        for handle in handles:
            handle.remove()
    for kind, output_field in WEIGHT_FIELDS.items():
        for layer, weights in enumerate(getattr(outputs, output_field, None) or ()):
            found.weights[(kind, layer)] = weights
            projection = model.get_submodule(PROJECTIONS[(name, kind)].format(layer))
            weight = projection.weight.detach()  # Linear: (D, H d); GPT-2's Conv1D: (H d, D)
            found.projections[(kind, layer)] = weight if name == "gpt2" else weight.T
    return found


def kobayashi(
    weights: torch.Tensor, value: torch.Tensor, dense: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Norm-based attention as Kobayashi et al.'s code computes it (their modeling_bert.py):
    value (B, H, T, d) -> (B, T, H, 1, d); the output dense weight, here (H d, D) as x W,
    -> (H, d, D); transformed f(x) = v W_h (B, H, T, D); weighted α f(x) (B, H, Tq, Tk, D);
    ‖α f(x)‖ per head, and ‖Σ_h α f(x)‖ over heads."""
    batch, heads, length, size = value.shape
    value = value.permute(0, 2, 1, 3).contiguous().view(batch, length, heads, 1, size)
    dense = dense.reshape(heads, size, -1)  # (H, d, D)
    transformed = value.matmul(dense).view(batch, length, heads, -1).permute(0, 2, 1, 3)
    weighted = torch.einsum("bhks,bhsd->bhksd", weights, transformed)  # (B, H, Tq, Tk, D)
    return torch.norm(weighted, dim=-1), torch.norm(weighted.sum(dim=1), dim=-1)


def _heads(state: torch.Tensor, size: int) -> torch.Tensor:
    """(B, T, n d) -> (B, n, T, d)."""
    batch, length, _ = state.shape
    return state.view(batch, length, -1, size).transpose(1, 2)


def _expected_qkv(found: Reference, name: str, key: tuple[str, int], size: int):
    states = found.states[key]
    if name == "gpt2":
        q, k, v = states["qkv"].split(states["qkv"].shape[-1] // 3, dim=-1)
        states = {"q": q, "k": k, "v": v}
    q, k, v = (_heads(states[role], size) for role in "qkv")
    if name == "llama":
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

        cos, sin = found.rotary[key[1]]
        q, k = apply_rotary_pos_emb(q, k, cos, sin)  # as LlamaAttention applies it
    return q, k, v


def _masked(name: str, kind: str, inputs: dict[str, torch.Tensor], rows: int) -> torch.Tensor:
    """(B, Tq, Tk) True where the model must not look: padded keys, and the future where causal."""
    source = inputs["attention_mask"].bool()
    target = inputs.get("decoder_attention_mask", inputs["attention_mask"]).bool()
    keys = source if kind in ("self", "encoder", "cross") else target
    masked = ~keys[:, None, :].expand(-1, rows, -1)  # (B, Tq, Tk)
    if (name in ("gpt2", "llama") and kind == "self") or kind == "decoder":
        length = keys.shape[1]
        masked = masked | torch.ones(length, length, dtype=torch.bool).triu(1)
    return masked


def _tapped(engine, name: str, encodings, parts=frozenset(PARTS)):
    """The engine's weights and parts for every layer of every kind."""
    got: dict[tuple[str, int], LayerParts] = {}
    weights: dict[tuple[str, int], np.ndarray] = {}
    if name in SEQ2SEQ:
        layers = {kind: frozenset(range(engine.layers_of(kind)[0])) for kind in SEQ2SEQ_KINDS}
    else:
        layers = {"self": frozenset(range(engine.num_layers))}
    tap = TapRequest(parts, layers, lambda found: got.__setitem__((found.kind, found.layer), found))
    if name in SEQ2SEQ:
        engine.stream_kinds(encodings, lambda k, n, w: weights.__setitem__((k, n), w), tap)
    else:
        engine.stream_batch(encodings, lambda n, w: weights.__setitem__(("self", n), w), tap)
    return weights, got


SEQ2SEQ_KINDS = ("encoder", "decoder", "cross")


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama", "t5", "bart", "marian"])
def test_every_layer_head_and_kind_is_exact(tiny_models, seq2seq_models, name: str) -> None:
    path = _path(name, tiny_models, seq2seq_models)
    engine = open_engine(EngineSettings(model=path))
    assert engine.captures == frozenset(PARTS)
    assert engine.model.config._attn_implementation in ("attninspect_tap", "attninspect_fast")
    encodings, inputs = _batch(engine, name)
    weights, got = _tapped(engine, name, encodings)
    found = _reference(path, name, inputs)
    assert set(got) == set(found.states) == set(found.weights) == set(weights)
    scale = 1.0 if name == "t5" else None
    for key, parts in got.items():
        expected_weights = found.weights[key].numpy()
        np.testing.assert_allclose(weights[key], expected_weights, atol=1e-6, rtol=0)
        size = parts.queries.shape[-1]
        q, k, v = _expected_qkv(found, name, key, size)
        np.testing.assert_allclose(parts.queries, q.numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(parts.keys, k.numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(parts.values, v.numpy(), atol=1e-5, rtol=0)
        heads, groups = q.shape[1], q.shape[1] // k.shape[1]
        assert (name == "llama") == (groups == 2)  # grouped keys: 2 KV heads for 4 query heads
        repeated = k.repeat_interleave(groups, dim=1)  # (B, H, Tk, d)
        logits = q @ repeated.transpose(-1, -2) * (scale or size**-0.5)  # (B, H, Tq, Tk)
        if key in found.bias:
            logits = logits + found.bias[key]  # T5's relative position bias
        masked = _masked(name, key[0], inputs, q.shape[2])[:, None].expand(-1, heads, -1, -1)
        want = logits.masked_fill(masked, float("nan")).numpy()
        np.testing.assert_allclose(parts.scores, want, atol=1e-5, rtol=0)  # NaN where NaN
        assert np.isnan(parts.scores).any() == bool(masked.any())
        alpha = found.weights[key]
        per_head, summed = kobayashi(
            alpha, v.repeat_interleave(groups, dim=1), found.projections[key]
        )
        np.testing.assert_allclose(norms(alpha.numpy(), parts.transformed), per_head, atol=1e-5)
        np.testing.assert_allclose(norm_of_sum(alpha.numpy(), parts.transformed), summed, atol=1e-5)


def test_gpt2_upcast_path_is_kept(tmp_path, default_model_path) -> None:
    """GPT-2 with ``reorder_and_upcast_attn`` computes its own way under eager attention: the tap
    takes that path too, so the weights stay transformers' own."""
    from transformers import AutoModel, AutoTokenizer, GPT2Config

    tokenizer = AutoTokenizer.from_pretrained(default_model_path)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4,
                        n_positions=64, reorder_and_upcast_attn=True,
                        scale_attn_by_inverse_layer_idx=True)  # fmt: skip
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    engine = open_engine(EngineSettings(model=str(tmp_path)))
    encodings, inputs = _batch(engine, "gpt2")
    weights, got = _tapped(engine, "gpt2", encodings)
    found = _reference(str(tmp_path), "gpt2", inputs)
    for key, parts in got.items():
        np.testing.assert_allclose(weights[key], found.weights[key].numpy(), atol=1e-6, rtol=0)
        softmax = torch.softmax(torch.tensor(np.nan_to_num(parts.scores, nan=-1e30)), -1)
        np.testing.assert_allclose(softmax.numpy(), weights[key], atol=1e-6, rtol=0)


def test_only_kept_layers_are_tapped_and_state_is_reset(tiny_models) -> None:
    from attninspect.model.engines import attention_tap

    engine = open_engine(EngineSettings(model=str(tiny_models["llama"])))
    encodings, _ = _batch(engine, "llama")
    got: list[LayerParts] = []
    tap = TapRequest(frozenset({"keys"}), {"self": frozenset({1})}, got.append)
    engine.stream_batch(encodings, lambda *_: None, tap)
    assert [(p.layer, p.queries, p.scores) for p in got] == [(1, None, None)]
    assert got[0].keys is not None and got[0].keys.shape[1] == 2  # (B, KV, T, d)

    def broken(_parts: LayerParts) -> None:
        raise RuntimeError("sink failed")

    with pytest.raises(AttnInspectError, match="sink failed"):
        engine.stream_batch(encodings, lambda *_: None, TapRequest(tap.parts, tap.layers, broken))
    assert attention_tap._CURRENT.get() is None  # reset in finally: the next pass is plain


def test_hooks_only_model_refuses_parts_naming_its_class(hooks_only_model) -> None:
    """MPNet's attention does not pass through the interface: weights as before, parts refused
    in one line that names the model class, before anything runs."""

    tmp_path = hooks_only_model  # MPNet: its attention does not pass the tap
    engine = open_engine(EngineSettings(model=str(tmp_path)))
    assert engine.captures == frozenset()
    assert engine.model.config._attn_implementation == "eager"
    encodings, _ = _batch(engine, "bert")
    tap = TapRequest(frozenset({"scores"}), {"self": frozenset({0})}, lambda _: None)
    with pytest.raises(AttnInspectError, match=r"\(MPNetModel\) cannot give scores") as error:
        engine.stream_batch(encodings, lambda *_: None, tap)
    assert "\n" not in str(error.value)
