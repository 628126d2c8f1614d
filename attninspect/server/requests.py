"""The JSON API's request bodies: checked field by field, with the command line's defaults.

Every field is named like the Python API's keyword (and the command line's option); none names
a file, a model or a device. A bad value is a `BadRequest` (400) with a message that says what to
send; a text over `MAX_TEXT_BYTES` is refused (413) before anything tokenises it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attninspect.analysis.digest import WholeLayers
from attninspect.analysis.measures import MEASURES, Measure, check_steps, parse_measure
from attninspect.analysis.pipeline import ViewOptions
from attninspect.analysis.ranges import parse_range
from attninspect.analysis.selection import parse_head
from attninspect.analysis.token_selectors import parse_selector
from attninspect.api.seq2seq import Request
from attninspect.errors import AttnInspectError
from attninspect.files.sources import SourceText

PLAIN = Request()  # a run that asks nothing besides its text

MAX_TEXT_BYTES = 64 * 1024  # per text, in UTF-8
MAX_TEXTS = 64  # per request (the command line's --server sends its batches)
MAX_BODY_BYTES = 2 * 1024 * 1024
SIZE_MAX = 2**31 - 1
LAYER_BOUND = 2**31  # a layer index beyond this is nonsense, not just out of range
MAX_SPEC = 100  # characters of a layers/heads spec ("2:4", "::2"); a longer one is refused

TOP = 5  # the command line's one --top default, for run and diff alike
VIEW_FIELDS = ("layer", "head", "words", "hide_special", "rollout", "focus", "top", "measure")
# What a run asks besides the text (the command line's --target, --generate, --pair, --attention).
ASK_FIELDS = ("target", "generate", "pair", "attention")
KINDS = ("self", "encoder", "decoder", "cross")
RUN_FIELDS = {"text", "texts", *VIEW_FIELDS, *ASK_FIELDS, "stats", "all_layers", "layers", "heads",
              "truncate"}  # fmt: skip
HEADS_FIELDS = {"text", "from", "to", "words", "whole", "truncate", "measure", *ASK_FIELDS}
DIFF_FIELDS = {"a", "b", *VIEW_FIELDS, *ASK_FIELDS, "whole", "truncate"}
INSPECT_FIELDS = {"text", "truncate", "measure", *ASK_FIELDS}


class BadRequest(Exception):
    """A request the server refuses: an HTTP status and one line that says why."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class RunRequest:
    items: list[SourceText]
    options: ViewOptions
    keep: WholeLayers
    all_layers: bool
    truncate: bool | None
    single: bool
    ask: Request = PLAIN


@dataclass(frozen=True)
class HeadsRequest:
    text: str
    source: str
    target: str
    words: bool
    whole: bool
    truncate: bool | None
    ask: Request = PLAIN
    measure: Measure = "weights"


@dataclass(frozen=True)
class DiffRequest:
    a: str
    b: str
    options: ViewOptions
    whole: bool
    truncate: bool | None
    ask: Request = PLAIN
    measure: Measure = "weights"


@dataclass(frozen=True)
class InspectRequest:
    text: str
    truncate: bool | None
    ask: Request = PLAIN
    measure: Measure = "weights"


def _fields(body: Any, allowed: set[str], required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(422, "the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(
            400, f"unknown field {unknown[0]!r}: the fields are {', '.join(sorted(allowed))}"
        )
    for name in required:
        if name not in body:
            raise BadRequest(400, f"{name!r} is missing")
    return body


def _bool(body: dict[str, Any], name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise BadRequest(400, f"{name}: give true or false, not {value!r}")
    return value


def _optional_bool(body: dict[str, Any], name: str) -> bool | None:
    return None if body.get(name) is None else _bool(body, name)


def _int(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(400, f"{name}: give an integer, not {value!r}")
    if not low <= value <= high:
        raise BadRequest(400, f"{name}: {value} is out of range ({low}..{high})")
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(400, f"{name}: give a string")
    if len(value) > MAX_TEXT_BYTES or len(value.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise BadRequest(413, f"{name} is over {MAX_TEXT_BYTES} bytes: send a shorter text")
    return value


def _head(body: dict[str, Any]):
    value = body.get("head", "mean")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(400, f"head: give an index, 'mean' or 'max', not {value!r}")
    try:
        head = parse_head(value)
    except ValueError as error:
        raise BadRequest(400, f"head: {error}") from None
    if isinstance(head, int) and not -LAYER_BOUND < head < LAYER_BOUND:
        raise BadRequest(400, f"head: {head} is out of range")
    return head


def _selector(body: dict[str, Any], name: str, required: bool = False):
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise BadRequest(400, f"{name}: give a token (it, it#2 or @8)")
    _text(value, name)
    try:
        return parse_selector(value)
    except ValueError as error:
        raise BadRequest(400, f"{name}: {error}") from None


def _range(body: dict[str, Any], name: str):
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(400, f"{name}: give an index or a slice such as '2:4'")
    if isinstance(value, int):
        return value
    if len(value) > MAX_SPEC:
        raise BadRequest(400, f"{name}: give an index or a slice such as '2:4' (at most "
                              f"{MAX_SPEC} characters)")  # fmt: skip
    try:
        return parse_range(value)
    except ValueError as error:
        raise BadRequest(400, f"{name}: {error}") from None


def ask(body: dict[str, Any], rollout: bool = False) -> Request:
    """``target``, ``generate``, ``pair`` and ``attention``, with the command line's rules."""
    target = None if body.get("target") is None else _text(body["target"], "target")
    pair = None if body.get("pair") is None else _text(body["pair"], "pair")
    generate = None if body.get("generate") is None else _int(body, "generate", 1, 1, SIZE_MAX)
    kind = body.get("attention")
    if kind is not None and kind not in KINDS:
        raise BadRequest(400, f"attention: give one of {', '.join(KINDS)}, not {kind!r}")
    if target is not None and generate is not None:
        raise BadRequest(400, "generate: target gives the decoder's text; generate makes it: "
                              "not both")  # fmt: skip
    if pair is not None and (target is not None or generate is not None):
        raise BadRequest(400, "pair: pair is for encoders; target and generate for models that "
                              "decode")  # fmt: skip
    if rollout and kind == "cross":
        raise BadRequest(400, "rollout: rollout is defined for self-attention stacks, not for "
                              "cross attention; choose attention encoder or decoder")  # fmt: skip
    return Request(target=target, generate=generate, pair=pair, kind=kind)


def _measure(body: dict[str, Any]) -> Measure:
    """``measure``: weights (the default), scores or norms, as `Inspector.run` takes it."""
    value = body.get("measure", "weights")
    try:
        return parse_measure(value if isinstance(value, str) else None)
    except AttnInspectError:
        raise BadRequest(
            400, f"measure: give one of {', '.join(MEASURES)}, not {value!r}"
        ) from None


def view_options(body: dict[str, Any], default_top: int, stats: bool = False) -> ViewOptions:
    """The view fields with the command line's defaults and rules; a measure other than
    weights with a step defined on weights is refused in the words a local run uses."""
    head = _head(body)
    rollout = _bool(body, "rollout")
    if rollout and head != "mean":
        raise BadRequest(400, "head: rollout averages the heads of each layer; leave head at mean")
    options = ViewOptions(
        layer=_int(body, "layer", -1, -LAYER_BOUND, LAYER_BOUND),
        head=head,
        words=_bool(body, "words"),
        hide_special=_bool(body, "hide_special"),
        rollout=rollout,
        focus=_selector(body, "focus"),
        top=_int(body, "top", default_top, 1, SIZE_MAX),
        stats=stats,
        measure=_measure(body),
    )
    _check_steps(options.measure, rollout, options.words, stats, options.hide_special)
    return options


def _check_steps(
    measure: str, rollout: bool, words: bool, stats: bool, hide_special: bool = False
) -> None:
    """`measures.check_steps` as a 400: a step defined on weights with another measure."""
    try:
        check_steps(measure, rollout, words, stats, hide_special)
    except AttnInspectError as error:
        raise BadRequest(400, f"measure: {error}") from None


def run_request(body: Any, many: bool = False) -> RunRequest:
    """``POST /api/run``: one ``text``; the command line's transport also takes ``texts``
    (``[{"text", "index", "line"}]``, its batches of standard input or a file)."""
    body = _fields(body, RUN_FIELDS if many else RUN_FIELDS - {"texts"}, ())
    if ("text" in body) == ("texts" in body):
        raise BadRequest(400, "'text' is missing" if "text" not in body else "give text or texts")
    items = [SourceText(text=_text(body["text"], "text"), index=0)] if "text" in body else None
    if items is None:
        items = _items(body["texts"])
    options = view_options(body, TOP, stats=_bool(body, "stats"))
    all_layers = _bool(body, "all_layers")
    layers, heads = _range(body, "layers"), _range(body, "heads")
    if not all_layers and (layers is not None or heads is not None):
        raise BadRequest(400, 'layers and heads narrow all_layers: add "all_layers": true')
    if options.measure == "norms" and options.head == "mean" and heads is not None:
        raise BadRequest(400, "heads: with measure norms the head mean is one matrix per layer "
                              "(the norm of the sum over heads): give head N or max")  # fmt: skip
    keep = WholeLayers(wanted=all_layers, layers=layers, heads=heads)
    return RunRequest(items, options, keep, all_layers, _optional_bool(body, "truncate"),
                      "text" in body, ask(body, options.rollout))  # fmt: skip


def _items(value: Any) -> list[SourceText]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_TEXTS:
        raise BadRequest(400, f"texts: give a list of 1 to {MAX_TEXTS} texts")
    items = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) - {"text", "index", "line"}:
            raise BadRequest(400, 'texts: each is {"text": ..., "index": ..., "line": ...}')
        line = entry.get("line")
        if line is not None:
            line = _int(entry, "line", 0, 0, SIZE_MAX)
        text = _text(entry.get("text"), "text")
        items.append(SourceText(text=text, index=_int(entry, "index", 0, 0, SIZE_MAX), line=line))
    return items


def heads_request(body: Any) -> HeadsRequest:
    """``POST /api/heads``: ``text``, ``from``, ``to``, ``words``, ``measure``."""
    body = _fields(body, HEADS_FIELDS, ("text", "from", "to"))
    source, target = _selector(body, "from", True), _selector(body, "to", True)
    return HeadsRequest(
        text=_text(body["text"], "text"),
        source=source.raw,
        target=target.raw,
        words=_bool(body, "words"),
        whole=_bool(body, "whole"),
        truncate=_optional_bool(body, "truncate"),
        ask=ask(body),
        measure=_heads_measure(body),
    )


def _heads_measure(body: dict[str, Any]) -> Measure:
    """``measure`` of a head search: --words merges weights alone (a 400 with another)."""
    measure = _measure(body)
    _check_steps(measure, rollout=False, words=_bool(body, "words"), stats=False)
    return measure


def diff_request(body: Any) -> DiffRequest:
    """``POST /api/diff``: ``a``, ``b`` and the view fields (``top`` defaults to 5, as `diff`)."""
    body = _fields(body, DIFF_FIELDS, ("a", "b"))
    options = view_options(body, TOP)
    return DiffRequest(
        a=_text(body["a"], "a"),
        b=_text(body["b"], "b"),
        options=options,
        whole=_bool(body, "whole"),
        truncate=_optional_bool(body, "truncate"),
        ask=ask(body, options.rollout),
    )


def inspect_request(body: Any) -> InspectRequest:
    """The transport's whole inspection of one text (`grid`)."""
    body = _fields(body, INSPECT_FIELDS, ("text",))
    text, truncate = _text(body["text"], "text"), _optional_bool(body, "truncate")
    return InspectRequest(text, truncate, ask(body), _measure(body))


NEURON_FIELDS = {"text", "layer", "truncate", *ASK_FIELDS}


@dataclass(frozen=True)
class NeuronsRequest:
    """The transport's neuron view (`run --neurons`: ``focus`` and ``head``) or one layer's
    vectors (a saved page's neuron view: neither)."""

    text: str
    layer: int
    truncate: bool | None
    focus: str | None = None
    head: int | str = 0
    ask: Request = PLAIN


def neurons_request(body: Any, one_head: bool = False) -> NeuronsRequest:
    """``text``, ``layer``, and for one head's view ``focus`` and ``head``."""
    allowed = NEURON_FIELDS | ({"focus", "head"} if one_head else set())
    body = _fields(body, allowed, ("text", "focus") if one_head else ("text",))
    focus = _selector(body, "focus", True).raw if one_head else None
    return NeuronsRequest(
        text=_text(body["text"], "text"),
        layer=_int(body, "layer", -1, -LAYER_BOUND, LAYER_BOUND),
        truncate=_optional_bool(body, "truncate"),
        focus=focus,
        head=_head(body) if one_head else 0,
        ask=ask(body),
    )
