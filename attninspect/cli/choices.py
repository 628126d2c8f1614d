"""What the shared options say, as the typed values the commands receive: `TextsChoice` (the
texts of a corpus command), `ModelChoice` (the model and what is asked of it), `ViewChoice`
(which view of the attention) and `OutputChoice` (where and how the results are written).

Each is an option group (`cli.groups`): its fields are the option aliases of `cli.options`, each
listed once here with its default, in help order; a command names the group as one parameter and
`groups.grouped` shows typer every field as an option of that command. The checks that span
options (usage errors) are the groups' methods and the functions of `cli.options` they call.

To add an option to every model-loading command (`run`, `heads`, `diff`, `grid`, `explore`,
`stats`, `serve`): declare its ``Annotated`` alias in `cli.options` (with its panel), add one
field to `ModelChoice`, and use it where it acts (`ModelChoice.engine` for what the `Inspector`
takes). A view or output option: a field of `ViewChoice` or `OutputChoice`; the commands that
name a part of the group with ``only(...)`` add it there where it applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from attninspect.cli.groups import OptionGroup, without
from attninspect.cli.options import (
    AllLayersOption,
    AttentionOption,
    BatchSizeOption,
    CausalOption,
    ChatOption,
    DeviceOption,
    DimOption,
    DownloadOption,
    DpiOption,
    DType,
    DTypeOption,
    EagerOption,
    FileOption,
    FocusOption,
    FullOption,
    GenerateOption,
    HeadOption,
    HeadsOption,
    HideSpecialOption,
    LayerOption,
    LayersOption,
    MeasureName,
    MeasureOption,
    ModelOption,
    NoColorOption,
    NumHeadsOption,
    OutputOption,
    PairOption,
    PrecisionOption,
    RolloutOption,
    SaveOption,
    SeedOption,
    ServerOption,
    SkipErrorsOption,
    SystemOption,
    TargetOption,
    TextsArgument,
    ThreadsOption,
    TokenizerOption,
    TopOption,
    TruncateOption,
    TrustOption,
    VerboseOption,
    WindowOption,
    WordsOption,
    asking,
    chat_options,
    request_of,
    top_of,
    usage_error,
)

if TYPE_CHECKING:
    from attninspect.analysis.pipeline import ViewOptions
    from attninspect.files.sources import TextSource


@dataclass(frozen=True)
class TextsChoice(OptionGroup):
    """The texts of a command that reads many (`run`, `stats`): the TEXT argument or --file, and
    how they are read."""

    text: TextsArgument = None
    file: FileOption = None
    batch_size: BatchSizeOption = 16
    skip_errors: SkipErrorsOption = False

    def source(self) -> TextSource:
        """The texts: a file, standard input (``-``) or the argument."""
        from attninspect.files.sources import from_argument, from_file, from_standard_input

        if self.file is not None:
            return from_file(str(self.file))
        if self.text == "-":
            return from_standard_input()
        return from_argument(self.text or "")


@dataclass(frozen=True)
class ModelChoice(OptionGroup):
    """The model a command loads, how it reads the texts and what it asks of them: the shared
    Input options, the Model options and --attention (View), each panel in help order."""

    truncate: TruncateOption = False
    chat: ChatOption = False
    system: SystemOption = None
    target: TargetOption = None
    generate: GenerateOption = None
    pair: PairOption = None
    model: ModelOption = None
    device: DeviceOption = "auto"
    dtype: DTypeOption = DType.float32
    trust_remote_code: TrustOption = False
    download: DownloadOption = False
    threads: ThreadsOption = None
    eager: EagerOption = False
    verbose: VerboseOption = False
    tokenizer: TokenizerOption = None
    dim: DimOption = None
    num_heads: NumHeadsOption = None
    causal: CausalOption = False
    seed: SeedOption = None
    server: ServerOption = None
    attention: AttentionOption = None

    def engine(self, heads_option: str = "--num-heads") -> dict[str, Any]:
        """The `Inspector` keywords; the scratch sizes without --model scratch are a usage error.
        ``heads_option``: how the user spelled the head count (for the error that names it)."""
        from attninspect.model.engines.factory import SCRATCH, EngineSettings

        engine: dict[str, Any] = {
            "model": self.model, "device": self.device, "dtype": self.dtype.value,
            "trust_remote_code": self.trust_remote_code, "verbose": self.verbose,
            "download": self.download, "tokenizer": self.tokenizer, "threads": self.threads,
            "eager": self.eager,
        }  # fmt: skip
        given = {"--dim": self.dim, heads_option: self.num_heads, "--seed": self.seed,
                 "--causal": self.causal or None}  # fmt: skip
        if self.model != SCRATCH:
            named = [name for name, value in given.items() if value is not None]
            if named:
                verb = "applies" if len(named) == 1 else "apply"
                raise usage_error(f"{verb} to --model scratch only", ", ".join(named))
            return engine
        dim, heads = self.dim or EngineSettings.dim, self.num_heads or EngineSettings.heads
        if dim % heads:
            raise usage_error(
                f"{heads_option} {heads} must divide --dim {dim}", f"'{heads_option}'"
            )
        seed = EngineSettings.seed if self.seed is None else self.seed
        return engine | {"dim": dim, "heads": heads, "causal": self.causal, "seed": seed}

    def settings(self, heads_option: str = "--num-heads") -> dict[str, Any]:
        """The `Inspector` keywords of the model and of --chat / --system (usage errors first
        for the scratch-only options, then for --system without --chat)."""
        return self.engine(heads_option) | chat_options(self.chat, self.system)

    def request(self, rollout: bool = False) -> Any:
        """The `Request` of --target, --generate, --pair and --attention (None when none is
        given), or a usage error for options that never go together."""
        return request_of(self.target, self.generate, self.pair, self.attention, rollout)

    def inspector(
        self, settings: dict[str, Any], request: Any, no_color: bool, batch_size: int = 16
    ) -> Any:
        """The `Inspector` (or the client of --server) with ``settings``, set to ask ``request``
        (a server's model is asked it too)."""
        from attninspect.cli.remote import inspector_for

        found = inspector_for(self.server, no_color, self.truncate, batch_size, **settings)
        return asking(found, request)


# The model options of a command that no server answers (explore), and of one that asks nothing
# but a text's self-attention (serve, stats).
LocalModel = Annotated[ModelChoice, without("server")]
PlainModel = Annotated[ModelChoice, without("target", "generate", "pair", "attention", "server")]


@dataclass(frozen=True)
class ViewChoice(OptionGroup):
    """Which view of the attention a command shows: the View options, in help order."""

    layer: LayerOption = -1
    head: HeadOption = "mean"
    focus: FocusOption = None
    top: TopOption = None
    words: WordsOption = False
    hide_special: HideSpecialOption = False
    rollout: RolloutOption = False
    measure: MeasureOption = MeasureName.weights

    def options(self, stats: bool = False) -> ViewOptions:
        """The analysis' `ViewOptions`; --top without --focus is a usage error."""
        from attninspect.analysis.pipeline import ViewOptions

        top = top_of(self.top, self.focus)
        return ViewOptions(self.layer, self.head, self.words, self.hide_special, self.rollout,
                           self.focus, top, stats, self.measure.value)  # fmt: skip


@dataclass(frozen=True)
class OutputChoice(OptionGroup):
    """Where and how a command writes: the Output options but --format (its choices differ from
    command to command), in help order."""

    output: OutputOption = None
    all_layers: AllLayersOption = False
    layers: LayersOption = None
    heads: HeadsOption = None
    precision: PrecisionOption = 2
    window: WindowOption = None
    full: FullOption = False
    save: SaveOption = None
    dpi: DpiOption = None
    no_color: NoColorOption = False

    def picture(self) -> tuple[str | None, int]:
        """What --save draws and at which --dpi: the picture kind (None without --save) and the
        resolution; --dpi without --save, or a --save that cannot be written, is refused now."""
        from attninspect.cli.pictures import check_save, dpi_of

        dpi = dpi_of(self.dpi, self.save)
        return check_save(self.save, self.output, dpi), dpi
