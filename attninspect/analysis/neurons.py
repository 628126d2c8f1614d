"""The neuron view (bertviz's, for any model the tap reads): why one head's query token attends
where it does. For one layer, head and query token: the query vector q, each key vector k_j,
their elementwise product q⊙k_j, the dot product q·k_j, the model's own score (scaled, with the
mask and whatever it adds) and the weight (the softmax of the scores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Neurons:
    """One head's view from one query token; arrays are float32, NaN where a key is masked."""

    layer: int
    head: int
    focus: int
    query_token: str
    key_tokens: list[str]
    query: np.ndarray  # (d,)
    queries: np.ndarray  # (Tq, d): every query token's, for this head
    keys: np.ndarray  # (Tk, d): the key head this head reads (grouped keys: head // group)
    values: np.ndarray  # (Tk, d)
    scores: np.ndarray  # (Tk,): the model's own logits
    weights: np.ndarray  # (Tk,)
    kind: str = "self"  # the attention: self, or an encoder–decoder's encoder, decoder or cross

    @property
    def products(self) -> np.ndarray:
        """q⊙k_j: (Tk, d)."""
        return self.keys * self.query[None, :]

    @property
    def dots(self) -> np.ndarray:
        """q·k_j: (Tk,)."""
        return self.products.sum(axis=-1, dtype=np.float32)


def neurons_of(
    layer: int,
    head: int,
    focus: int,
    tokens: tuple[list[str], list[str]],
    queries: np.ndarray,
    keys: np.ndarray,
    values: np.ndarray,
    scores: np.ndarray,
    weights: np.ndarray,
    kind: str = "self",
) -> Neurons:
    """The neuron view from one text's kept layer: queries (H, Tq, d), keys and values
    (KV, Tk, d), scores and weights (H, Tq, Tk); ``tokens``: (query tokens, key tokens)."""
    group = queries.shape[0] // keys.shape[0]  # query heads per key head
    return Neurons(
        layer=layer,
        head=head,
        focus=focus,
        query_token=tokens[0][focus],
        key_tokens=tokens[1],
        query=np.ascontiguousarray(queries[head, focus]),
        queries=np.ascontiguousarray(queries[head]),
        keys=np.ascontiguousarray(keys[head // group]),
        values=np.ascontiguousarray(values[head // group]),
        scores=np.ascontiguousarray(scores[head, focus]),
        weights=np.ascontiguousarray(weights[head, focus]),
        kind=kind,
    )


def neuron_record(neurons: Neurons) -> dict[str, object]:
    """The JSON of a neuron view: the vectors as lists, NaN (a masked score) as null."""

    def listed(array: np.ndarray) -> object:
        values = array.astype(object)
        values[np.isnan(array)] = None
        return values.tolist()

    return {
        "layer": neurons.layer,
        "head": neurons.head,
        "focus": neurons.focus,
        "query_token": neurons.query_token,
        "query": listed(neurons.query),
        "queries": listed(neurons.queries),
        "keys": listed(neurons.keys),
        "values": listed(neurons.values),
        "products": listed(neurons.products),
        "dots": listed(neurons.dots),
        "scores": listed(neurons.scores),
        "weights": listed(neurons.weights),
    } | _kind(neurons)


def _kind(neurons: Neurons) -> dict[str, str]:
    """``attention_kind`` where it is not self-attention (a view's records stay as they were)."""
    return {} if neurons.kind == "self" else {"attention_kind": neurons.kind}


def neuron_arrays(neurons: Neurons) -> dict[str, np.ndarray]:
    """The npz of a neuron view: the record's numbers as arrays (float32, NaN where a key is
    masked), its tokens as strings and its layer, head and focus as integers."""
    return {
        "layer": np.array(neurons.layer, dtype=np.int64),
        "head": np.array(neurons.head, dtype=np.int64),
        "focus": np.array(neurons.focus, dtype=np.int64),
        "query_token": np.array(neurons.query_token, dtype=np.str_),
        "key_tokens": np.array(neurons.key_tokens, dtype=np.str_),
        "query": neurons.query,
        "queries": neurons.queries,
        "keys": neurons.keys,
        "values": neurons.values,
        "products": neurons.products,
        "dots": neurons.dots,
        "scores": neurons.scores,
        "weights": neurons.weights,
    } | {name: np.array(value, dtype=np.str_) for name, value in _kind(neurons).items()}


@dataclass(frozen=True)
class LayerNeurons:
    """Every head's query and key vectors of one layer of one text, with the model's own
    scores: what a page needs to draw the neuron view of any head and query token."""

    layer: int
    tokens: list[str]  # query tokens
    key_tokens: list[str]
    queries: np.ndarray  # (H, Tq, d)
    keys: np.ndarray  # (KV, Tk, d)
    scores: np.ndarray  # (H, Tq, Tk), NaN where masked
