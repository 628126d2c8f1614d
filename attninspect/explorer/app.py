"""`attninspect explore`: a Textual app on one `Inspector` — load once, look at everything."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.css.scalar import Scalar
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from attninspect.analysis.inspection import AttentionKind, Inspection
from attninspect.analysis.pipeline import ViewOptions
from attninspect.analysis.selection import View
from attninspect.errors import AttnInspectError, InputError
from attninspect.explorer import panels
from attninspect.explorer.export import export_name, export_view
from attninspect.explorer.screens import (
    RESULT_FRAME,
    RESULT_WIDTH,
    GridScreen,
    PromptScreen,
    ResultScreen,
    help_screen,
)
from attninspect.explorer.state import ExplorerState
from attninspect.explorer.view_cache import ViewCache
from attninspect.explorer.widgets import MatrixView, Panel
from attninspect.render.matrix import pinned_keys
from attninspect.safe_text import printable

INTERRUPTED = 130  # the command line's status for an interrupt
# What a diff window leaves out, and how to see it, in the explorer's own keys.
EXPLORER_HOW_TO_MOVE = "Esc, then Enter on a row makes it the focus, and d compares around it"

SEQ2SEQ_ORDER: tuple[AttentionKind, ...] = ("encoder", "decoder", "cross")  # the a key's order
CSS = """
#sentence { height: 1; padding: 0 1; }
#tokens { height: auto; max-height: 3; padding: 0 1; }
#matrix { margin: 0 1; }
#note { height: 2; padding: 0 1; }
#focus-panel { height: 2; padding: 0 1; border-top: solid $primary-darken-2; }
#focus { height: auto; }
#status { height: 1; padding: 0 1; background: $primary-darken-2; color: $text; }
"""


class ExplorerApp(App[None]):
    """One model load (in a background thread), then every view, sentence and comparison at a
    keystroke.

    ``load`` makes the `Inspector`; a failure there ends the app with ``error`` set and return
    code 1, for the command line to report as `run` does.
    """

    TITLE = "attninspect explore"
    ENABLE_COMMAND_PALETTE = False
    CSS = CSS
    # q and ? first: the footer is cut at the right on a narrow terminal, and ? lists the rest.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("question_mark", "help", "help"),
        Binding("down", "layer(1)", "layer", key_display="↑↓"),
        Binding("up", "layer(-1)", "layer", show=False),
        Binding("right", "head(1)", "head", key_display="←→"),
        Binding("left", "head(-1)", "head", show=False),
        Binding("r", "switch('rollout')", "rollout"),
        Binding("w", "switch('words')", "words"),
        Binding("s", "switch('hide_special')", "special"),
        Binding("m", "measure", "measure", show=False),  # weights → scores → norms
        Binding("j", "cursor(1)", "row", show=False),
        Binding("k", "cursor(-1)", "row", show=False),
        Binding("pagedown", "page(1)", "page", show=False),
        Binding("pageup", "page(-1)", "page", show=False),
        Binding("enter", "focus_row", "focus"),
        Binding("escape", "clear_focus", "no focus", show=False),
        Binding("n", "neurons", "neurons"),
        Binding("slash", "heads", "heads"),
        Binding("g", "grid", "grid"),
        Binding("t", "edit", "text"),
        Binding("d", "diff", "diff"),
        Binding("e", "export", "export"),
        Binding("a", "kind", "kind", show=False),  # encoder-decoder models: the next kind
        Binding("ctrl+c", "interrupt", "interrupt", show=False),
    ]

    def __init__(
        self, load: Callable[[], Any], text: str | None, label: str = "", measure: str = "weights"
    ) -> None:
        super().__init__()
        self.load, self.text = load, text
        self.label = label or "the default model"
        self.inspector: Any = None
        self.inspection: Inspection | None = None
        self.views: ViewCache | None = None
        self.state = ExplorerState(measure=measure)
        # The sentence's inspections by measure (weights, scores, norms), as m has shown them.
        self.measured: dict[str, Inspection] = {}
        self.current: tuple[Inspection, View] | None = None
        self.cursor, self.start = 0, 0
        self.error: BaseException | None = None
        self.pending: ExplorerState | None = None  # the state whose view a worker computes
        self.shown_keys: dict[str, object] = {}

    def compose(self) -> ComposeResult:
        yield Panel("sentence")
        yield Panel("tokens")
        yield MatrixView()
        yield Panel("note")
        with VerticalScroll(id="focus-panel", can_focus=False):
            yield Static(id="focus", markup=False)
        yield Panel("status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(MatrixView).loading = True
        self.set_status(f"loading {printable(self.label)} …")
        self.load_model()

    def set_status(self, message: str) -> None:
        self.query_one("#status", Panel).show(Text(message))

    def load_model(self) -> None:
        """Load the model, then run the first sentence, in a daemon thread (not a worker:
        Textual waits for its workers' threads on exit, and q must not wait for a load)."""
        threading.Thread(target=self.load_and_run, name="attninspect-explore", daemon=True).start()

    def load_and_run(self) -> None:
        try:
            inspector = self.load()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                measure = self.state.measure
                inspection = measured_run(inspector, self.text, measure) if self.text else None
        except Exception as error:
            self.deliver(self.fail, error)
            return
        self.deliver(self.loaded, inspector, inspection)
        for warning in caught:  # a truncated sentence (--truncate)
            self.deliver(self.warn, str(warning.message))

    def deliver(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback`` on the interface thread, unless the app has already gone."""
        with contextlib.suppress(RuntimeError):
            self.call_from_thread(callback, *args)

    async def wait_until_loaded(self) -> None:
        """For tests and benchmarks: until the model is loaded (or has failed)."""
        while self.inspector is None and self.error is None:
            await asyncio.sleep(0.01)

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.exit(return_code=1)

    def loaded(self, inspector: Any, inspection: Inspection | None) -> None:
        self.inspector = inspector
        self.query_one(MatrixView).loading = False
        if inspection is None:
            self.set_status("model loaded: type a sentence")
            self.action_edit()
            return
        self.show_inspection(inspection)

    @work(thread=True, exclusive=True, group="text")
    def run_text(self, text: str) -> None:
        """Inspect a new sentence with the loaded model (in the current measure), off the
        interface thread."""
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                inspection = measured_run(self.inspector, text, self.state.measure)
        except AttnInspectError as error:
            self.call_from_thread(self.refused, text, str(error))
            return
        for warning in caught:
            self.call_from_thread(self.warn, str(warning.message))
        self.call_from_thread(self.show_inspection, inspection)

    def refused(self, text: str, message: str) -> None:
        """A sentence the inspector refused: say why; back to the view, or, with none yet, to
        the prompt with the sentence in it."""
        self.warn(message)
        if self.current is not None:
            self.redraw()
            return
        self.set_status(f"not run: {printable(message)}")
        self.text = text
        self.action_edit()

    def warn(self, message: str) -> None:
        self.notify(printable(message), severity="warning", markup=False, timeout=6)

    def show_inspection(self, inspection: Inspection, same_text: bool = False) -> None:
        """A new sentence: same layer, head and transforms; the focus where the token is.
        ``same_text``: the sentence shown in another measure (`action_measure`)."""
        if not same_text:
            self.measured = {}
        self.measured[inspection.measure] = inspection
        self.inspection, self.text = inspection, inspection.input_text
        self.views = ViewCache(inspection)
        self.recompute()

    def recompute(self) -> None:
        """The view for the current state: at once when its slow transforms are known, else in
        a worker (the screen keeps the previous view, with "computing…" in the status line)."""
        if self.views is None:
            return
        options = self.state.options()
        if not self.views.ready(options):
            self.pending = self.state
            self.show_status()
            self.prepare_view(self.views, options, self.state)
            return
        self.pending = None
        self.apply_view()

    @work(thread=True, exclusive=True, group="view")
    def prepare_view(self, views: ViewCache, options: ViewOptions, state: ExplorerState) -> None:
        """Merge words or roll out off the interface thread; a newer view supersedes this one."""
        views.prepare(options)
        if not get_current_worker().is_cancelled:
            self.deliver(self.prepared, views, state)

    def prepared(self, views: ViewCache, state: ExplorerState) -> None:
        """A worker's view is ready: show it if it is still the one asked for, else drop it."""
        if views is self.views and state == self.state and self.pending == state:
            self.pending = None
            self.apply_view()

    def apply_view(self) -> None:
        """Show the (ready) view for the current state; a focus the text lacks is dropped, and
        so is hiding special tokens where they are all the text has."""
        assert self.views is not None
        if self.state.hide_special and only_special(self.views.inspection):
            tokens = " ".join(printable(token) for token in self.views.inspection.tokens)
            self.warn(f"this text is only special tokens ({tokens}): hiding them would leave "
                      "nothing, so they stay shown")  # fmt: skip
            self.state = replace(self.state, hide_special=False)
        try:
            self.current = self.views.view(self.state.options())
        except InputError:
            self.warn(f"{self.state.focus} is not a token of this view: focus cleared")
            self.state = replace(self.state, focus=None)
            self.current = self.views.view(self.state.options())
        shown, view = self.current
        self.state = replace(self.state, layer=view.layer)
        self.cursor = min(view.focus if view.focus is not None else self.cursor, shown.length - 1)
        self.redraw()

    def show_status(self) -> None:
        """The state's status line, and "computing…" while its view is in a worker."""
        if self.inspection is None:
            return
        line = self.state.status(self.inspection.num_layers, self.inspection.num_heads)
        if self.inspection.others:  # an encoder-decoder model: which of its kinds this is
            line = f"{self.inspection.kind} attention (a: next)  │  {line}"
        self.set_status(line + ("  │  computing…" if self.pending is not None else ""))

    def redraw(self) -> None:
        """Put the current view on the screen (the matrix window follows the row cursor)."""
        if self.current is None:
            return
        shown, view = self.current
        matrix = self.query_one(MatrixView)
        if not matrix.content_size.area:
            self.call_after_refresh(self.redraw)  # not laid out yet
            return
        pins = pinned_keys(view.matrix, view.focus, shown.keys.special, len(view.focus_top))
        window = panels.fit_window(
            shown.tokens, matrix.content_size.width, matrix.content_size.height,
            self.start, self.cursor, _key_window(shown, view), pins,
            cell_len(panels.corner_text(shown)), panels.cell_width(shown, view),
        )  # fmt: skip
        self.start = window.start
        matrix.show(panels.matrix_segments(shown, view, window, self.cursor, True), window)
        self.update_once("#sentence", (shown.text,), lambda: sentence_text(shown.text))
        tokens_key = (tuple(shown.tokens), tuple(shown.special), shown.key_axis, window)
        self.update_once("#tokens", tokens_key, lambda: panels.tokens_text(shown, window))
        note = panels.matrix_note(view, window, shown.query_length, shown.key_length, shown)
        self.query_one("#note", Panel).show(note)
        focus_key = "none" if view.focus is None else object()  # a focus list: always redrawn
        width = self.size.width - 2
        self.update_once("#focus", focus_key, lambda: panels.focus_text(shown, view, width))
        lines = 1 if view.focus is None else len(view.focus_by_layer) + 1
        panel = self.query_one("#focus-panel")
        if panel.styles.height != Scalar.parse(str(min(lines, 11) + 1)):
            panel.styles.height = min(lines, 11) + 1  # the focus list, and the rule above it
        self.show_status()

    def update_once(self, selector: str, key: object, make: Callable[[], Text]) -> None:
        """Update a widget only when what it shows has changed (a repaint costs milliseconds)."""
        if self.shown_keys.get(selector) != key:
            self.shown_keys[selector] = key
            widget = self.query_one(selector)
            if isinstance(widget, Panel):
                widget.show(make(), layout=selector == "#tokens")
            else:
                widget.update(make())  # type: ignore[attr-defined]

    def on_matrix_view_resized(self) -> None:
        self.redraw()

    # Keys: the view.

    def change(self, state: ExplorerState) -> None:
        if self.inspection is not None:
            self.state = state
            self.recompute()

    def action_layer(self, step: int) -> None:
        if self.inspection is not None:
            self.change(self.state.move_layer(step, self.inspection.num_layers))

    def action_head(self, step: int) -> None:
        if self.inspection is None:
            return
        if self.state.rollout:
            self.warn("rollout uses the mean of the heads: press r to see single heads")
            return
        self.change(self.state.move_head(step, self.inspection.num_heads))

    def action_kind(self) -> None:
        """An encoder-decoder model's next attention kind: encoder, decoder, cross."""
        if self.inspection is None or not self.inspection.others:
            self.warn("this model has one kind of attention (self)")
            return
        order = [kind for kind in SEQ2SEQ_ORDER if kind in self.inspection.kinds]
        following = order[(order.index(self.inspection.kind) + 1) % len(order)]
        if self.state.rollout and following == "cross":
            self.state = replace(self.state, rollout=False)
            self.warn("rollout needs self-attention: rollout off for cross attention")
        shown = self.inspection.of_kind(following)
        self.state = replace(self.state, layer=min(self.state.layer, shown.num_layers - 1))
        self.show_inspection(shown)

    def action_switch(self, name: str) -> None:
        if self.state.measure != "weights":
            step = {"hide_special": "hiding special tokens"}.get(name, name)
            self.warn(f"{step} is defined on attention weights, not on {self.state.measure}: "
                      "press m until weights")  # fmt: skip
            return
        if name == "rollout" and self.inspection is not None and not self.inspection.square:
            self.warn(f"rollout needs self-attention; this is {self.inspection.kind} attention")
            return
        self.change(self.state.toggle(name))

    def action_measure(self) -> None:
        """m: the next of weights → scores → norms (words, rollout and hidden special tokens,
        defined on weights, turned off), from one more pass of the sentence the first time."""
        if self.inspection is None or self.text is None:
            return
        state = self.state.next_measure()
        dropped = [name for name in self.state.transforms() if name not in state.transforms()]
        if dropped:
            self.warn(f"{' and '.join(dropped)} off: defined on attention weights, not on "
                      f"{state.measure}")  # fmt: skip
        known = self.measured.get(state.measure)
        if known is not None:
            self.state = state
            self.show_inspection(known, same_text=True)
            return
        self.set_status(f"computing {state.measure} …")
        self.run_measure(self.text, state)

    @work(thread=True, exclusive=True, group="text")
    def run_measure(self, text: str, state: ExplorerState) -> None:
        """The sentence in ``state``'s measure, off the interface thread; a model that cannot
        make it (its attention does not pass the tap, an encoder-decoder) says so."""
        try:
            inspection = measured_run(self.inspector, text, state.measure)
        except AttnInspectError as error:
            self.call_from_thread(self.warn, str(error))
            self.call_from_thread(self.redraw)
            return
        self.call_from_thread(self.measure_ready, text, state, inspection)

    def measure_ready(self, text: str, state: ExplorerState, inspection: Inspection) -> None:
        if text == self.text:  # not a sentence run meanwhile
            self.state = state
            self.show_inspection(inspection, same_text=True)

    def action_cursor(self, step: int) -> None:
        if self.current is not None:
            self.cursor = min(max(self.cursor + step, 0), self.current[0].length - 1)
            self.redraw()

    def action_page(self, step: int) -> None:
        matrix = self.query_one(MatrixView)
        size = matrix.window.size if matrix.window else 1
        self.action_cursor(step * size)

    def action_focus_row(self) -> None:
        if self.current is not None:
            self.change(self.state.with_focus(self.current[0].tokens, self.cursor))

    def action_clear_focus(self) -> None:
        if self.state.focus is not None:
            self.change(replace(self.state, focus=None))

    def on_matrix_view_row_clicked(self, message: MatrixView.RowClicked) -> None:
        self.cursor = message.index
        self.action_focus_row()

    def on_matrix_view_scrolled(self, message: MatrixView.Scrolled) -> None:
        self.action_cursor(message.step)

    def action_interrupt(self) -> None:
        """Ctrl+C: end as an interrupt does anywhere in attninspect (status 130), where q
        quits with 0."""
        self.exit(return_code=INTERRUPTED)

    # Keys: other screens.

    def action_help(self) -> None:
        self.push_screen(help_screen())

    def action_edit(self) -> None:
        if self.inspector is None:
            return
        prompt = PromptScreen("sentence to inspect", self.text or "", "type a sentence")
        self.push_screen(prompt, self.edited)

    def edited(self, text: str | None) -> None:
        if text and text.strip():
            self.set_status("running the new sentence …")
            self.run_text(text)

    def action_grid(self) -> None:
        """The model view of the current transforms (words, hidden specials), one layer x head
        per panel; its words view is computed in a worker when it is not known yet."""
        if self.views is None:
            return
        if self.state.measure != "weights":
            self.warn("the model view draws attention weights: press m until weights")
            return
        flat = replace(self.state, rollout=False, focus=None)
        options = ViewOptions.parse(**flat.view_options())
        if self.views.ready(options):
            self.show_grid(self.views, options)
        else:
            self.set_status("computing the model view …")
            self.prepare_grid(self.views, options)

    @work(thread=True, exclusive=True, group="grid")
    def prepare_grid(self, views: ViewCache, options: ViewOptions) -> None:
        views.prepare(options)
        if not get_current_worker().is_cancelled:
            self.deliver(self.show_grid, views, options)

    def show_grid(self, views: ViewCache, options: ViewOptions) -> None:
        if views is not self.views:
            return  # a new sentence came meanwhile
        shown, _ = views.view(options)
        layer = self.state.layer % shown.num_layers  # -1 until a view has been shown
        selected = (layer, self.state.head if isinstance(self.state.head, int) else 0)
        grid = GridScreen(shown.attention, shown.keys.special, selected, self.size.width - 4)
        self.push_screen(grid, self.opened)
        self.show_status()

    def opened(self, panel: tuple[int, int] | None) -> None:
        if panel is not None:
            self.change(replace(self.state, layer=panel[0], head=panel[1], rollout=False))

    def action_heads(self) -> None:
        if self.inspection is None:
            return
        question = "which heads link one token to another? from → to"
        self.push_screen(PromptScreen(question, "", "e.g.  it → mat   or   it mat"), self.ranked)

    def ranked(self, answer: str | None) -> None:
        from attninspect.api.flows import search_heads
        from attninspect.render.heads_table import heads_table

        pair = _pair(answer or "")
        if pair is None or self.inspection is None:
            if answer:
                self.warn("give two tokens: from → to (e.g. it → mat)")
            return
        try:
            search = search_heads(self.inspection, *pair, self.state.words)
        except AttnInspectError as error:
            self.warn(str(error))
            return
        title = f"heads linking {pair[0]} → {pair[1]}"
        self.push_screen(ResultScreen(title, heads_table(search, 10, True)))

    def action_neurons(self) -> None:
        """The neuron view of the cursor row's token at the current layer and head; refused
        (in the status line) for the head mean or max, rollout, and merged or hidden tokens."""
        if self.current is None:
            return
        view = self.current[1]
        refusal = neuron_refusal(self.state)
        if refusal is not None:
            self.set_status(refusal)
            return
        assert isinstance(view.head, int)
        self.set_status("computing the neuron view …")
        self.run_neurons(self.text or "", view.layer, view.head, self.cursor)

    @work(thread=True, exclusive=True, group="text")
    def run_neurons(self, text: str, layer: int, head: int, row: int) -> None:
        """One pass of the text for ``layer``'s vectors, off the interface thread."""
        from attninspect.render.neurons import render_neurons

        try:
            found = self.inspector.neurons(text, f"@{row}", layer, head)
        except AttnInspectError as error:
            self.call_from_thread(self.warn, str(error))
            self.call_from_thread(self.redraw)
            return
        console = Console(file=io.StringIO(), width=result_width(self.size.width),
                          color_system="truecolor")  # fmt: skip
        title = f"neuron view · layer {layer} · head {head}"
        body = render_neurons(found, console)
        self.call_from_thread(self.push_screen, ResultScreen(title, body))
        self.call_from_thread(self.redraw)

    def action_diff(self) -> None:
        if self.inspection is None:
            return
        question = "compare with a second sentence (B); the current one is A"
        self.push_screen(PromptScreen(question, self.text or ""), self.compare)

    def compare(self, other: str | None) -> None:
        if other and other.strip():
            self.set_status("comparing …")
            self.run_diff(self.text or "", other)

    @work(thread=True, exclusive=True, group="text")
    def run_diff(self, text_a: str, text_b: str) -> None:
        """Both sentences through the current view, then A − B, off the interface thread."""
        from attninspect.render.diff_table import diff_table

        try:
            diff = self.inspector.diff(text_a, text_b, self.state.options())
        except AttnInspectError as error:
            self.call_from_thread(self.warn, str(error))
            self.call_from_thread(self.redraw)
            return
        console = Console(file=io.StringIO(), width=result_width(self.size.width),
                          color_system="truecolor")  # fmt: skip
        body = diff_table(diff, console, 2, False, EXPLORER_HOW_TO_MOVE)
        self.call_from_thread(self.push_screen, ResultScreen("A − B", body))
        self.call_from_thread(self.redraw)

    def action_export(self) -> None:
        if self.current is None:
            return
        question = "export this view to a file: .json (the numbers) or .png .svg .pdf .html"
        name = export_name(self.current[1], measure=self.current[0].measure)
        self.push_screen(PromptScreen(question, name, "file name"), self.export_to)

    def export_to(self, name: str | None) -> None:
        if name and name.strip() and self.current is not None:
            self.write_export(*self.current, Path(name.strip()).expanduser())

    @work(thread=True, group="export")
    def write_export(self, shown: Inspection, view: View, path: Path) -> None:
        """Write the file off the interface thread (pictures import matplotlib)."""
        try:
            size = export_view(shown, view, path)
        except AttnInspectError as error:
            self.call_from_thread(self.warn, str(error))
            return
        message = f"saved {printable(str(path.resolve()))} ({size:,} bytes)"
        self.call_from_thread(self.notify, message, markup=False)


def measured_run(inspector: Any, text: str, measure: str) -> Inspection:
    """``inspector.run(text)`` in ``measure`` (weights: as it always ran)."""
    if measure == "weights":
        return inspector.run(text)
    return inspector.run(text, measure=measure)


def neuron_refusal(state: ExplorerState) -> str | None:
    """Why the neuron view cannot open for ``state`` (one line for the status), or None."""
    if state.rollout or not isinstance(state.head, int):
        head = "rollout" if state.rollout else f"head {state.head}"
        return (f"neuron view: {head} has no single query; choose one head with ← → "
                "(r turns rollout off)")  # fmt: skip
    if state.words or state.hide_special:
        return (
            "neuron view: it shows the model's own tokens; turn words (w) and hidden "
            "special (s) off"
        )
    return None


def result_width(screen_width: int) -> int:
    """The cells inside a result box (`screens.RESULT_WIDTH` of the screen, less its border,
    padding and scroll bar), so that a table drawn that wide is never squeezed to ``0.…``."""
    return max(int(screen_width * RESULT_WIDTH / 100) - RESULT_FRAME, 30)


def only_special(inspection: Inspection) -> bool:
    """Whether hiding special tokens would leave no rows or no columns."""
    return all(inspection.special) or all(inspection.keys.special)


def _key_window(shown: Inspection, view: View) -> tuple[int, int | None] | None:
    """For cross attention, how many key columns there are and which to keep in sight (the key
    the focus token attends to most); None for self-attention, whose columns follow the rows."""
    if shown.square:
        return None
    return shown.key_length, view.focus_top[0].index if view.focus_top else None


def sentence_text(text: str) -> Text:
    return Text("sentence  ", style="bold").append(printable(text))


def _pair(answer: str) -> tuple[str, str] | None:
    """``it → mat``, ``it -> mat`` or ``it mat`` as (from, to)."""
    for arrow in ("→", "->"):
        if arrow in answer:
            parts = [part.strip() for part in answer.split(arrow, 1)]
            return (parts[0], parts[1]) if all(parts) else None
    parts = answer.split()
    return (parts[0], parts[1]) if len(parts) == 2 else None
