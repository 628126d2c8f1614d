"""``--chat``: a text wrapped as a user message by the tokenizer's own chat template.

transformers renders the template (in its Jinja sandbox), so the tokens inspected are the ones an
instruction-tuned model sees: role markers, the system message, the generation prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attninspect.errors import AttnInspectError, InputError


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
    try:
        rendered = tokenizer.apply_chat_template(
            chat.messages(text), tokenize=False, add_generation_prompt=True
        )
    except Exception as error:  # the template's own raise_exception(), or a broken template
        message = " ".join(str(error).split())[:200]
        raise InputError(f"the chat template refused this text: {message}", line) from error
    return str(rendered)
