"""The one object that carries a finished inspection from the compute side to the output side."""

from __future__ import annotations

from collections.abc import Callable

from attninspect.analysis.pipeline import ViewOptions, view_of
from attninspect.analysis.record import (
    ATTENTION_KINDS,
    AXIS_SIDES,
    AttentionKind,
    InspectionData,
    TokenAxis,
)
from attninspect.analysis.selection import HeadChoice, View
from attninspect.errors import speaks_python

__all__ = ["ATTENTION_KINDS", "AXIS_SIDES", "AttentionKind", "Inspection", "TokenAxis"]

# Draws an inspection as HTML for Jupyter's `_repr_html_`. The page renderer lives above
# analysis, so the API layer sets this when it is imported (`api.notebook`); None: no drawing.
HTML_DRAWER: Callable[[Inspection], str | None] | None = None
REPR_TEXT = 40  # characters of the text a repr shows


class Inspection(InspectionData):
    """Tokens, stage shapes, the attention tensor of one kind and where it came from, for one text.

    ``attention`` is (L, H, Tq, Tk) float32: rows are queries ("from"), columns keys ("to"), and
    every row sums to 1. The token fields (``tokens``, ``special``, ...) describe the query axis;
    ``key_axis`` describes the key axis where it differs (cross-attention, decoder tokens → source
    tokens); None means self-attention (Tq = Tk, one token list). ``others`` holds the text's
    other attention kinds (an encoder–decoder model has encoder, decoder and cross), each an
    Inspection of its own. When only some layers or heads were kept (``--layers``, ``--heads``,
    or a streamed run that needed none whole), ``layers`` / ``heads`` name the model's indices
    that ``attention`` holds and ``model_layers`` / ``model_heads`` count the model's own;
    where ``heads`` leaves some out, ``head_mean`` holds, per kept layer, the mean of every head
    (L', Tq, Tk): the "mean" the terminal shows, which pictures of the kept heads show too.

    The fields and what is read off them are `record.InspectionData`'s, which the analysis steps
    work on; this class adds the views.
    """

    def __repr__(self) -> str:
        """One line: the text (cut), the model, the kind, the token count and the shape."""
        text = self.text if len(self.text) <= REPR_TEXT else self.text[: REPR_TEXT - 1] + "…"
        return (
            f"<Inspection {text!r} model={self.model!r} kind={self.kind} "
            f"tokens={self.query_length} attention={tuple(self.attention.shape)}>"
        )

    def _repr_html_(self) -> str | None:
        """Jupyter: the attention drawn as the HTML page draws it (None: the repr is shown)."""
        return HTML_DRAWER(self) if HTML_DRAWER is not None else None

    @speaks_python
    def view(
        self,
        layer: int = -1,
        head: HeadChoice | str = "mean",
        words: bool = False,
        hide_special: bool = False,
        rollout: bool = False,
        focus: str | None = None,
        top: int = 5,
        kind: AttentionKind | None = None,
    ) -> View:
        """The (T', T') matrix of one layer and head (or the mean / max over heads), after the
        chosen transforms, with its token labels; ``focus`` ranks what that token attends to.

        Raises ``OutOfRangeError`` for a layer or head the model does not have, ``InputError``
        for a focus token the text does not hold, ``ValueError`` for a malformed head or focus.
        ``kind`` picks another of the text's attention kinds (``kinds``): encoder, decoder, cross.
        """
        options = ViewOptions.parse(
            head=head,
            focus=focus,
            layer=layer,
            words=words,
            hide_special=hide_special,
            rollout=rollout,
            top=top,
        )
        return view_of(self if kind is None else self.of_kind(kind), options)[1]
