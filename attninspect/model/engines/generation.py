"""Greedy generation, exactly as ``model.generate(do_sample=False, num_beams=1)`` makes it."""

from __future__ import annotations

from typing import Any

import torch

from attninspect.errors import AttnInspectError, InputError
from attninspect.model.engines.loading import load_model, quiet_libraries


def language_model(engine: Any) -> Any:
    """The decoder with its language-model head (``AutoModelForCausalLM``), loaded once, built
    on the engine's own model: the engine (shared by every `Inspector` of these settings) keeps
    the model it streams attention from, and the weights are held once."""
    try:
        model = load_model(
            engine.source,
            engine.config,
            engine.dtype,
            engine.trust_remote_code,
            engine.verbose,
            "AutoModelForCausalLM",
        )
    except AttnInspectError as error:
        raise AttnInspectError(
            f"model {engine.model_name!r} cannot --generate: no language-model head loads from "
            f"its checkpoint ({error})"
        ) from error
    _share_base(model, engine.model)
    return model.to(engine.device).eval()


def _share_base(model: Any, base: Any) -> None:
    """Put ``base`` (the engine's model, the same weights from the same checkpoint) in place of
    the language model's own copy of it, and tie the output embeddings to it again where the
    config ties them. A language model whose base is of another class keeps its own."""
    prefix = getattr(model, "base_model_prefix", "")
    own = getattr(model, prefix, None) if prefix else None
    if own is None or type(own) is not type(base):
        return
    setattr(model, prefix, base)
    model.tie_weights()


def greedy(
    model: Any, inputs: dict[str, torch.Tensor], new_tokens: int, device: torch.device
) -> list[int]:
    """The whole sequence ``generate`` returns for one text (the prompt then up to
    ``new_tokens`` tokens; an encoder–decoder model's starts at its decoder start token).
    ``inputs``: the (1, T) tensors a forward pass over the prompt takes (``input_ids``, and
    ``token_type_ids`` where the engine passes them); the mask covers every token."""
    tensors = {name: tensor.to(device) for name, tensor in inputs.items()}
    tensors["attention_mask"] = torch.ones_like(tensors["input_ids"])  # (1, T)
    try:
        with torch.inference_mode(), quiet_libraries():
            output = model.generate(
                **tensors, do_sample=False, num_beams=1, max_new_tokens=new_tokens
            )
    except (ValueError, TypeError, RuntimeError, IndexError) as error:
        message = " ".join(str(error).split())[:300]
        raise AttnInspectError(f"generation failed ({type(error).__name__}: {message})") from error
    return [int(token) for token in output[0].tolist()]


def check_room(
    length: int, new_tokens: int, limit: int | None, what: str, line: int | None
) -> None:
    """Refuse ``--generate N`` where ``length`` + N tokens pass the model's positions."""
    if limit is not None and length + new_tokens > limit:
        raise InputError(
            f"{what} has {length} token{'s' if length != 1 else ''} and --generate {new_tokens} "
            f"would make {length + new_tokens}, past the {limit} positions the model takes; "
            "generate fewer tokens",
            line,
        )
