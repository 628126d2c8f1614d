"""Pick and open the engine that `--model` names."""

from __future__ import annotations

import functools
import gc
from dataclasses import dataclass

from attninspect.errors import AttnInspectError, BadValueError
from attninspect.model.devices import resolve_device
from attninspect.model.engines.base import Engine
from attninspect.model.engines.loading import resolve_model_source
from attninspect.model.limits import out_of_range, whole_number

SCRATCH = "scratch"
DTYPE_NAMES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class EngineSettings:
    """Everything that decides which numbers an engine computes."""

    model: str | None = None
    tokenizer: str | None = None
    device: str = "auto"
    dtype: str = "float32"
    trust_remote_code: bool = False
    download: bool = False  # fetch a hub id missing from the local cache
    verbose: bool = False
    dim: int = 64
    heads: int = 1
    causal: bool = False
    seed: int = 0
    eager: bool = False  # every layer eager (else the layers not kept whole may run SDPA)

    def __post_init__(self) -> None:
        """Refuse values no engine can take, with the rule they break."""
        if self.dtype not in DTYPE_NAMES:
            raise BadValueError(f"dtype {self.dtype!r}: use one of {', '.join(DTYPE_NAMES)}")
        if self.model is not None and not str(self.model).strip():
            raise BadValueError("the model name is empty: give a directory, a hub id or scratch")
        for name in ("dim", "heads", "seed"):
            value = whole_number(getattr(self, name))
            if value is None:
                raise BadValueError(f"{name}={getattr(self, name)!r}: give a whole number (int)")
            problem = out_of_range(name, value)
            if problem:
                raise BadValueError(f"{name}={problem}")
            object.__setattr__(self, name, value)  # a numpy integer becomes an int
        if self.dim % self.heads:
            raise BadValueError(f"heads={self.heads} must divide dim={self.dim}")


@functools.lru_cache(maxsize=4)
def open_engine(settings: EngineSettings) -> Engine:
    """Resolve the device and model, then load the engine (the slow part).

    Engines are cached per settings within a process, so a library caller (or a test session) that
    inspects many texts with the same model loads it once.
    """
    # Importing torch and transformers and loading the model make some 400,000 long-lived
    # objects and next to no cyclic garbage (15 objects for the default model): collecting while
    # they are made only walks them again and again (0.7 s of a one-text run). So the collector
    # pauses meanwhile (the command line then freezes them: `feedback.load_inspector`).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _loaded(settings)
    finally:
        if collecting:
            gc.enable()


def _loaded(settings: EngineSettings) -> Engine:
    """The engine ``settings`` name, loaded."""
    device = resolve_device(settings.device)
    if settings.model == SCRATCH:
        from attninspect.model.engines.scratch import ScratchEngine

        return ScratchEngine(
            resolve_model_source(settings.tokenizer),
            device,
            dim=settings.dim,
            heads=settings.heads,
            causal=settings.causal,
            seed=settings.seed,
            verbose=settings.verbose,
        )
    from attninspect.model.engines.pretrained import PretrainedEngine
    from attninspect.model.engines.seq2seq import Seq2SeqEngine

    source = resolve_model_source(settings.model, download=settings.download)
    if settings.tokenizer is not None:
        raise AttnInspectError(
            "--tokenizer applies to --model scratch; a pretrained model uses its own tokenizer"
        )
    kind = Seq2SeqEngine if is_encoder_decoder(source.location) else PretrainedEngine
    return kind(
        source,
        device,
        dtype=settings.dtype,
        trust_remote_code=settings.trust_remote_code,
        verbose=settings.verbose,
        eager=settings.eager,
    )


def is_encoder_decoder(location: str) -> bool:
    """Whether config.json describes an encoder–decoder model (BART, T5, Marian, ...)."""
    import json
    from pathlib import Path

    try:
        config = json.loads((Path(location) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # the engine's own loading reports the problem
    return isinstance(config, dict) and config.get("is_encoder_decoder") is True
