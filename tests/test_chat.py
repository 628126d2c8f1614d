"""--chat: the text wrapped by the tokenizer's own chat template; a clear error without one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from attninspect.cli.app import app

TEMPLATE = (
    "{% for message in messages %}[{{ message['role'] }}] {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}[assistant]{% endif %}"
)


@pytest.fixture(scope="module")
def chat_model(tiny_models, tmp_path_factory) -> Path:
    """The tiny Llama with a chat template of our own."""
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("chat") / "llama-chat"
    shutil.copytree(tiny_models["llama"], path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = TEMPLATE
    tokenizer.save_pretrained(path)
    return path


def run_json(runner, *args: str) -> dict:
    result = runner.invoke(app, ["run", *args, "--format", "json", "--all-layers"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_chat_inspects_the_templated_prompt(runner, chat_model) -> None:
    from transformers import AutoModel, AutoTokenizer

    data = run_json(runner, "Is it warm?", "--model", str(chat_model), "--chat",
                    "--system", "Be brief.")  # fmt: skip
    prompt = "[system] Be brief.\n[user] Is it warm?\n[assistant]"
    assert data["text"] == prompt
    tokenizer = AutoTokenizer.from_pretrained(chat_model)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert data["tokens"] == tokenizer.convert_ids_to_tokens(ids)
    assert "[CLS]" not in data["tokens"]  # the template decides the special tokens
    model = AutoModel.from_pretrained(chat_model, attn_implementation="eager").eval()
    with torch.inference_mode():
        outputs = model(input_ids=torch.tensor([ids]), output_attentions=True)
    expected = torch.stack(outputs.attentions, dim=1)[0]  # (L, H, T, T)
    assert torch.allclose(torch.tensor(data["all_attention"]), expected, atol=1e-6, rtol=0)


def test_chat_without_system_and_focus(runner, chat_model) -> None:
    data = run_json(runner, "Is it warm?", "--model", str(chat_model), "--chat", "--focus", "warm")
    assert data["text"] == "[user] Is it warm?\n[assistant]"
    assert data["focus"]["token"] == "warm"


def test_chat_without_a_template_is_a_clear_error(runner, tiny_models) -> None:
    result = runner.invoke(app, ["run", "Hi", "--model", str(tiny_models["gpt2"]), "--chat"])
    assert result.exit_code == 1
    assert "has no chat template" in result.stderr and "Traceback" not in result.stderr


def test_system_needs_chat(runner) -> None:
    result = runner.invoke(app, ["run", "Hi", "--system", "Be brief."])
    assert result.exit_code == 2 and "--chat" in result.stderr


def test_api_chat(chat_model) -> None:
    from attninspect import Inspector

    inspection = Inspector(str(chat_model), chat=True).run("Hello")
    assert inspection.text == "[user] Hello\n[assistant]"


def _reference(chat_model: Path, prompt: str) -> tuple[list[str], torch.Tensor]:
    """The tokens and (L, H, T, T) attention transformers gives the templated prompt."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(chat_model)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    model = AutoModel.from_pretrained(chat_model, attn_implementation="eager").eval()
    with torch.inference_mode():
        outputs = model(input_ids=torch.tensor([ids]), output_attentions=True)
    return tokenizer.convert_ids_to_tokens(ids), torch.stack(outputs.attentions, dim=1)[0]


def test_heads_with_chat_ranks_the_templated_prompt(runner, chat_model) -> None:
    args = ["heads", "Is it warm?", "--from", "warm", "--to", "it", "--model", str(chat_model)]
    result = runner.invoke(app, [*args, "--chat", "--system", "Be brief.", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    prompt = "[system] Be brief.\n[user] Is it warm?\n[assistant]"
    tokens, expected = _reference(chat_model, prompt)
    assert data["text"] == prompt and data["tokens"] == tokens
    i, j = data["from"]["index"], data["to"]["index"]
    for score in data["heads"]:
        weight = float(expected[score["layer"], score["head"], i, j])
        assert abs(score["weight"] - weight) <= 1e-6


def test_diff_with_chat_compares_the_templated_prompts(runner, chat_model) -> None:
    args = ["diff", "Is it warm?", "Is it cold?", "--model", str(chat_model), "--layer", "1"]
    result = runner.invoke(app, [*args, "--chat", "--format", "json", "--focus", "it"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["a"]["text"] == "[user] Is it warm?\n[assistant]"
    assert data["b"]["text"] == "[user] Is it cold?\n[assistant]"
    tokens, expected = _reference(chat_model, data["a"]["text"])
    assert data["a"]["tokens"] == tokens
    mean = expected[1].mean(dim=0)  # layer 1, head mean (T, T)
    assert torch.allclose(torch.tensor(data["a"]["attention"]), mean, atol=1e-6, rtol=0)


def test_grid_with_chat_shows_the_templated_prompt(runner, chat_model) -> None:
    args = ["grid", "Is it warm?", "--model", str(chat_model), "--chat", "--system", "Be brief."]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    tokens, _ = _reference(chat_model, "[system] Be brief.\n[user] Is it warm?\n[assistant]")
    assert f"{len(tokens)} tokens, a cell each" in result.stdout
    plain = runner.invoke(app, args[:4], env={"COLUMNS": "200"})
    assert plain.exit_code == 0 and f"{len(tokens)} tokens, a cell" not in plain.stdout


@pytest.mark.parametrize("command", [["heads", "Hi", "--from", "Hi", "--to", "Hi"], ["grid", "Hi"],
                                     ["diff", "Hi", "Ho"]])  # fmt: skip
def test_system_needs_chat_everywhere(runner, command) -> None:
    result = runner.invoke(app, [*command, "--system", "Be brief."])
    assert result.exit_code == 2 and "--chat" in result.stderr


def test_chat_without_a_template_is_a_clear_error_in_heads(runner, tiny_models) -> None:
    args = ["heads", "Hi", "--from", "Hi", "--to", "Hi", "--model", str(tiny_models["gpt2"])]
    result = runner.invoke(app, [*args, "--chat"])
    assert result.exit_code == 1 and "has no chat template" in result.stderr


RUNAWAY = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}x"


def _with_template(tiny_models, folder: Path, template: str) -> Path:
    from transformers import AutoTokenizer

    path = folder / "llama-chat"
    shutil.copytree(tiny_models["llama"], path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = template
    tokenizer.save_pretrained(path)
    return path


def test_a_runaway_template_is_stopped_with_one_error_line(runner, tiny_models, tmp_path) -> None:
    """Two nested range(99999) loops would render for hours: the step bound stops them."""
    model = _with_template(tiny_models, tmp_path, RUNAWAY)
    result = runner.invoke(app, ["run", "Hi", "--model", str(model), "--chat"])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: the chat template did not finish")
    assert "Traceback" not in result.stderr


EMPTY_TEMPLATES = [("{% if false %}x{% endif %}", "nothing"), ("{{ '  ' }}", "only white space")]


@pytest.mark.parametrize(("template", "produced"), EMPTY_TEMPLATES)
def test_a_template_that_renders_nothing_says_so(
    runner, tiny_models, tmp_path, template, produced
) -> None:
    model = _with_template(tiny_models, tmp_path, template)
    result = runner.invoke(app, ["run", "Hi", "--model", str(model), "--chat"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: the chat template produced {produced}")
    assert "the text is empty" not in result.stderr


def test_the_bound_stops_a_render_on_any_thread_and_restores_the_tracer() -> None:
    """The explorer renders in a worker thread: the bound works there too, and leaves a tracer
    that was set before it (coverage's, a debugger's) in place."""
    import sys
    import threading

    from attninspect.errors import InputError
    from attninspect.model.chat import Chat, render

    class Template:
        def apply_chat_template(self, messages, **options) -> str:
            while True:  # a render that never ends
                pass

    outcome: list[BaseException] = []

    def target() -> None:
        try:
            render(Template(), Chat(), "Hi")
        except InputError as error:
            outcome.append(error)

    before = sys.gettrace()
    worker = threading.Thread(target=target)
    worker.start()
    worker.join(120)
    assert not worker.is_alive() and "did not finish" in str(outcome[0])
    with pytest.raises(InputError, match="did not finish"):
        render(Template(), Chat(), "Hi")
    assert sys.gettrace() is before
