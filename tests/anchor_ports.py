"""Small independent ports of the two published averagings that `stats --convention` reproduces
(tests only; attninspect never imports this module, and this module imports nothing of ours).

- Clark et al. (2019), "What Does BERT Look At?", General_Analysis.ipynb (clarkkev/
  attention-analysis): the "Computing token stats" and "Computing entropy stats" cells.
- TransformerLens, transformer_lens/head_detector.py: ``detect_head`` with a head name, the three
  ``get_*_detection_pattern`` functions and ``compute_head_attention_similarity_score`` with its
  defaults (``exclude_bos=False``, ``exclude_current_token=False``, ``error_measure="mul"``).

Each port keeps the original's loops and names; only the fixed 12 x 12 of BERT-base became the
documents' own layer and head counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def clark_averages(data: Sequence[dict]) -> dict[str, np.ndarray]:
    """The notebook's ``avg_attns`` (its "self", "right", "left", "sep", "cls" keys) and
    ``entropies``, for documents ``{"tokens": [...], "attns": (L, H, T, T)}``."""
    n_docs = len(data)
    shape = np.array(data[0]["attns"]).shape[:2]
    avg_attns = {k: np.zeros(shape) for k in ["self", "right", "left", "sep", "cls"]}
    for doc in data:
        tokens, attns = doc["tokens"], np.array(doc["attns"])
        n_tokens = attns.shape[-1]
        seps, clss = (np.zeros(n_tokens) for _ in range(2))
        for position, token in enumerate(tokens):
            if token == "[SEP]":
                seps[position] = 1
            if token == "[CLS]":
                clss[position] = 1
        selectors = {
            "self": np.eye(n_tokens, n_tokens),
            "right": np.eye(n_tokens, n_tokens, 1),
            "left": np.eye(n_tokens, n_tokens, -1),
            "sep": np.tile(seps[np.newaxis], [n_tokens, 1]),
            "cls": np.tile(clss[np.newaxis], [n_tokens, 1]),
        }
        for key, selector in selectors.items():
            denom = n_tokens
            avg_attns[key] += (attns * selector[np.newaxis, np.newaxis]).sum(-1).sum(-1) / (
                n_docs * denom
            )
    entropies = np.zeros(shape)
    for doc in data:
        attns = np.array(doc["attns"])
        attns = 0.9999 * attns + (0.0001 / attns.shape[-1])  # smooth to avoid NaNs
        entropies -= (attns * np.log(attns)).sum(-1).mean(-1)
    entropies /= n_docs
    return {**avg_attns, "entropy": entropies}


def _previous_token_head_detection_pattern(tokens: torch.Tensor) -> torch.Tensor:
    detection_pattern = torch.zeros(tokens.shape[-1], tokens.shape[-1])
    detection_pattern[1:, :-1] = torch.eye(tokens.shape[-1] - 1)
    return torch.tril(detection_pattern)


def _duplicate_token_head_detection_pattern(tokens: torch.Tensor) -> torch.Tensor:
    token_pattern = tokens.repeat(tokens.shape[-1], 1).numpy()
    eq_mask = np.equal(token_pattern, token_pattern.T).astype(int)
    np.fill_diagonal(eq_mask, 0)
    return torch.tril(torch.as_tensor(eq_mask.astype(int)).float())


def _induction_head_detection_pattern(tokens: torch.Tensor) -> torch.Tensor:
    duplicate_pattern = _duplicate_token_head_detection_pattern(tokens)
    shifted_tensor = torch.roll(duplicate_pattern, shifts=1, dims=1)
    zeros_column = torch.zeros(duplicate_pattern.shape[0], 1)
    result_tensor = torch.cat((zeros_column, shifted_tensor[:, 1:]), dim=1)
    return torch.tril(result_tensor)


PATTERNS = {
    "previous_token_head": _previous_token_head_detection_pattern,
    "duplicate_token_head": _duplicate_token_head_detection_pattern,
    "induction_head": _induction_head_detection_pattern,
}


def _similarity_score(
    attention_pattern: torch.Tensor,
    detection_pattern: torch.Tensor,
    exclude_bos: bool = False,
    exclude_current_token: bool = False,
) -> float:
    """``compute_head_attention_similarity_score`` with ``error_measure="mul"``."""
    attention_pattern = attention_pattern.clone()
    if exclude_bos:
        attention_pattern[:, 0] = 0
    if exclude_current_token:
        attention_pattern.fill_diagonal_(0)
    score = attention_pattern * detection_pattern
    return (score.sum() / attention_pattern.sum()).item()


def transformerlens_detect(
    seqs: Sequence[tuple[torch.Tensor, torch.Tensor]], head_name: str
) -> np.ndarray:
    """``detect_head(model, [seq, ...], head_name)``: per sequence (its token ids (T,) and its
    cached patterns (L, H, T, T)) every head's score, then their mean over the sequences."""
    batch_scores = []
    for tokens, patterns in seqs:
        assert tokens.shape[-1] > 1
        detection_pattern = PATTERNS[head_name](tokens.cpu())
        n_layers, n_heads = patterns.shape[:2]
        matches = -torch.ones(n_layers, n_heads, dtype=torch.float64)
        for layer in range(n_layers):
            for head in range(n_heads):
                head_attention_pattern = patterns[layer, head, :, :].double()
                matches[layer, head] = _similarity_score(
                    head_attention_pattern, detection_pattern.double()
                )
        batch_scores.append(matches)
    return torch.stack(batch_scores).mean(0).numpy()
