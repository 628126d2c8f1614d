"""``--chat``: a text wrapped as a user message by the tokenizer's own chat template.

transformers renders the template (in its Jinja sandbox), so the tokens inspected are the ones an
instruction-tuned model sees: role markers, the system message, the generation prompt. The
sandbox bounds each ``range`` but not how long loops run (two nested ``range(99999)`` loops take
hours), so the render runs under a step and time bound: a trace function counts the Python lines
it runs and stops it. One slow built-in call (``'x' * 10**9``, a ``replace`` on that) runs in C
past any trace function, so the render runs in a helper process (`chat_worker`) that is killed
when the time runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attninspect.errors import AttnInspectError, InputError
from attninspect.model.chat_worker import (
    RENDER_STEPS,
    RenderBound,
    Unavailable,
    bounded,
    worker_for,
)

# A real template runs a few thousand lines for one message; the seconds bound a runaway one
# (and the helper's RENDER_STEPS its Python lines).
RENDER_SECONDS = 10.0


@dataclass(frozen=True)
class Chat:
    """Wrap texts as a user message, after an optional system message."""

    system: str | None = None

    def messages(self, text: str) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": text}]


def check_template(tokenizer: Any, model_name: str) -> None:
    """Refuse --chat for a tokenizer without a chat template."""
    if not getattr(tokenizer, "chat_template", None):
        raise AttnInspectError(
            f"the tokenizer of {model_name!r} has no chat template, so --chat cannot wrap the "
            "text; drop --chat (and --system) or use an instruction-tuned model's tokenizer"
        )


def render(tokenizer: Any, chat: Chat, text: str, line: int | None = None) -> str:
    """The prompt the template makes of ``text``, generation prompt included."""
    outcome = _rendered(tokenizer, chat.messages(text))
    if outcome[0] == "bound":
        raise InputError(
            f"the chat template did not finish (over {RENDER_STEPS:,} steps or "
            f"{RENDER_SECONDS:g} s): it runs too long for this text; fix the template or drop "
            "--chat",
            line,
        )
    if outcome[0] == "error":
        raise InputError(f"the chat template refused this text: {outcome[1]}", line)
    rendered = outcome[1]
    if not str(rendered).strip():
        produced = "nothing" if not rendered else "only white space"
        raise InputError(
            f"the chat template produced {produced} for this text, so there is no prompt to "
            "inspect; fix the template or drop --chat",
            line,
        )
    return str(rendered)


def _rendered(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, str]:
    """("ok", prompt), ("bound", "") or ("error", message): in the tokenizer's helper process,
    or here under the line bound alone when the tokenizer cannot go to one."""
    try:
        return worker_for(tokenizer).render(messages, RENDER_SECONDS)
    except (Unavailable, OSError):  # no helper for this tokenizer, or none could start
        pass
    try:
        with bounded():
            rendered = tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
    except RenderBound:
        return ("bound", "")
    except Exception as error:  # the template's own raise_exception(), or a broken template
        return ("error", " ".join(str(error).split())[:200])
    return ("ok", str(rendered))
