"""Hardening III (issue 20): what outside checks and a first-time user found."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from attninspect.cli.app import app
from tests.conftest import CAT


def _run(runner, *args: str):
    return runner.invoke(app, ["run", *args])


# ------------------------------------------------------------------ 1: reversed layer slices


@pytest.mark.parametrize("layers", ["::-1", "-1:0:-2"])
def test_reversed_layer_slices_store_layers_in_their_labelled_order(
    runner, tiny_models, tmp_path, reference_attention, layers
) -> None:
    path = str(tiny_models["llama"])
    expected = reference_attention(path, CAT)  # (L, H, T, T), model order
    target = tmp_path / "r.npz"
    npz = _run(
        runner, CAT, "--model", path, "--format", "npz", "-o", str(target), "--layers", layers
    )
    assert npz.exit_code == 0, npz.stderr
    with np.load(target) as arrays:
        labels = arrays["layers_0"].tolist()
        assert labels == list(range(3))[slice(*(int(p) if p else None for p in layers.split(":")))]
        for stored, layer in zip(arrays["attention_0"], labels, strict=True):
            np.testing.assert_allclose(stored, expected[layer].numpy(), atol=1e-6, rtol=0)
    result = _run(runner, CAT, "--model", path, "--all-layers", "--format", "json",
                  "--layers", layers, "--heads", "::-1")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["all_attention_layers"] == labels and data["all_attention_heads"] == [3, 2, 1, 0]
    got = torch.tensor(data["all_attention"])
    assert torch.allclose(got, expected[labels][:, [3, 2, 1, 0]], atol=1e-6, rtol=0)


# ------------------------------------------------------------------ 2: one Inspector, many threads


def test_threads_sharing_one_inspector_get_the_numbers_of_a_lone_caller(tiny_models) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from attninspect import Inspector

    inspector = Inspector(str(tiny_models["bert"]))
    texts = [f"the cat number {i} sat on mat {i}" for i in range(8)]  # same token length
    texts += ["a short one", "and a much longer text than the others, by far, it is", *texts[:6]]
    alone = [inspector.run(text).attention for text in texts]
    barrier_free_rounds = 4  # many calls overlap; every answer must equal the lone one
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(barrier_free_rounds):
            shared = list(pool.map(lambda text: inspector.run(text).attention, texts))
            viewed = list(pool.map(lambda text: inspector.run([text, text])[1].attention, texts))
            for expected, got, pair in zip(alone, shared, viewed, strict=True):
                np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
                np.testing.assert_allclose(pair, expected, atol=1e-6, rtol=0)


def test_a_second_thread_never_enters_a_forward_pass_under_way(tiny_models) -> None:
    """Deterministic: the first pass waits inside the model for a second one to start (which,
    without the lock, mixes both passes' layers); with the lock the wait ends unanswered."""
    import threading

    from attninspect import Inspector

    inspector = Inspector(str(tiny_models["bert"]))
    texts = ["the cat sat on the mat", "a dog lay on a rug"]  # the same token length
    alone = [inspector.run(text).attention for text in texts]
    entered = threading.Semaphore(0)
    first = threading.Event()

    def meet(_module, _args) -> None:
        if not first.is_set():
            first.set()
            entered.acquire(timeout=2)  # a second pass, if one can start, arrives meanwhile
        else:
            entered.release()

    handle = inspector.engine.model.embeddings.register_forward_pre_hook(meet)
    results: dict[int, object] = {}

    def work(i: int) -> None:
        try:
            results[i] = inspector.run(texts[i]).attention
        except Exception as error:
            results[i] = error

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        handle.remove()
    for expected, got in zip(alone, (results[0], results[1]), strict=True):
        assert isinstance(got, np.ndarray), got
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)


# ------------------------------------------------------------------ 7: ASCII digits only


@pytest.mark.parametrize(
    ("command", "args", "option"),
    [("run", ["--all-layers", "--heads", "١"], "--heads"), ("run", ["--head", "١"], "--head"),
     ("run", ["--all-layers", "--layers", "²"], "--layers"), ("run", ["--focus", "@١"], "--focus"),
     ("run", ["--focus", "x#²"], "--focus"), ("run", ["--device", "cuda:١"], "--device"),
     ("grid", ["--heads", "0:²"], "--heads"), ("stats", ["--layers", "١"], "--layers"),
     ("heads", ["--from", "@١", "--to", "x"], "--from"), ("explore", ["--heads", "²"], "--heads")],
)  # fmt: skip
def test_numbers_take_ascii_digits_only(runner, command, args, option) -> None:
    result = runner.invoke(app, [command, "x y", "--model", "scratch", *args])
    assert result.exit_code == 2, result.stdout
    assert option in result.stderr and "Traceback" not in result.stderr


def test_parsers_refuse_other_digits() -> None:
    from attninspect.analysis.ranges import parse_range
    from attninspect.analysis.selection import parse_head
    from attninspect.analysis.token_selectors import parse_selector
    from attninspect.errors import BadValueError

    for parse, text in [(parse_range, "١"), (parse_range, "1:٣"), (parse_head, "١"),
                        (parse_selector, "@١"), (parse_selector, "it#²")]:  # fmt: skip
        with pytest.raises(ValueError):
            parse(text)
    with pytest.raises(BadValueError, match="0-9"):
        parse_selector("@٣")
    assert parse_range("-1:3") == slice(-1, 3) and parse_head(" 2 ") == 2
    assert parse_selector("C#").text == "C#" and parse_selector("it#2").occurrence == 2


# ------------------------------------------------------------------ 8, 11: the API's arguments


@pytest.fixture(scope="module")
def scratch():
    from attninspect import Inspector

    return Inspector("scratch", dim=8, heads=2)


@pytest.mark.parametrize(
    ("keywords", "says"),
    [({"model": "scratch", "seed": 2**70}, "seed="), ({"model": "scratch", "seed": -1}, "seed="),
     ({"model": "scratch", "dim": 2**40}, "dim="), ({"model": "scratch", "heads": 0}, "heads="),
     ({"model": "scratch", "batch_size": "a"}, "batch_size="), ({"model": 5}, "model="),
     ({"model": "scratch", "batch_size": 0}, "batch_size="),
     ({"model": "scratch", "bogus": 1}, "bogus="),
     ({"model": "scratch", "dim": 2.5}, "dim="), ({"model": "scratch", "device": 0}, "device=")],
)  # fmt: skip
def test_inspector_refuses_bad_arguments_with_bad_value_error(keywords, says) -> None:
    from attninspect import BadValueError, Inspector

    with pytest.raises(BadValueError, match=says):
        Inspector(**keywords)


def test_scratch_keywords_on_a_pretrained_model_are_refused(tiny_models) -> None:
    from attninspect import BadValueError, Inspector

    with pytest.raises(BadValueError, match=r"heads= applies to Inspector\('scratch'\) only"):
        Inspector(str(tiny_models["bert"]), heads=3)
    with pytest.raises(BadValueError, match="tokenizer=, seed= apply"):
        Inspector(str(tiny_models["bert"]), tokenizer="x", seed=1)


def test_cli_and_api_share_the_seed_range(runner) -> None:
    from attninspect.model.limits import SEED_MAX

    for command in ("run", "explore"):
        result = runner.invoke(app, [command, "x", "--model", "scratch", "--seed", str(2**70)])
        assert result.exit_code == 2 and str(SEED_MAX) in result.stderr, result.stderr


def test_numpy_integers_are_ints(scratch) -> None:
    from attninspect import Inspector

    assert Inspector("scratch", dim=np.int64(8), heads=np.int32(2), seed=np.int64(0)) is not None
    result = scratch.run("the cat sat")
    expected = result.view(layer=0, head=1).matrix
    np.testing.assert_array_equal(result.view(layer=np.int64(0), head=np.int64(1)).matrix, expected)
    stats = scratch.stats(["the cat sat"], layers=np.int64(0), heads=np.int64(1))
    assert stats is not None
    scratch.diff("the cat", "the dog", layer=np.int64(-1), top=np.int64(2))


@pytest.mark.parametrize(
    ("call", "says"),
    [(lambda i: i.run(None), "run"), (lambda i: i.run(5), "run"),
     (lambda i: i.run({"a": 1}), "run"),
     (lambda i: i.run(["a", 5]), "text 1"), (lambda i: list(i.stream(5)), "stream"),
     (lambda i: list(i.stream(["a", 5])), "item 1"), (lambda i: i.heads("a b", 5, 6), "source="),
     (lambda i: i.run("a b").view(focus=5), "token selector"),
     (lambda i: i.diff("a", "b", bogus=1), "bogus="), (lambda i: i.stats(["a"], bogus=1), "bogus="),
     (lambda i: i.run("a b").view(layer="1"), "layer=")],
)  # fmt: skip
def test_api_type_errors_are_bad_value_errors(scratch, call, says) -> None:
    from attninspect import BadValueError

    with pytest.raises(BadValueError, match=says):
        call(scratch)


def test_stream_takes_plain_texts(scratch) -> None:
    streamed = [result.attention for result in scratch.stream(["the cat", "a dog sat"])]
    for got, text in zip(streamed, ["the cat", "a dog sat"], strict=True):
        np.testing.assert_allclose(got, scratch.run(text).attention, atol=1e-6, rtol=0)


def test_api_messages_speak_python(default_model_path) -> None:
    from attninspect import InputError, Inspector, TruncationWarning

    inspector = Inspector(default_model_path)
    with pytest.raises(InputError) as caught:
        inspector.run("word " * 600)
    assert "truncate=True" in str(caught.value) and "--" not in str(caught.value)
    with pytest.warns(TruncationWarning, match=r"\(truncate=True\)"):
        Inspector(default_model_path, truncate=True).run("word " * 600)
    with pytest.raises(Exception, match="download=True") as missing:
        Inspector("nobody/no-such-model")
    assert "--" not in str(missing.value)


# ------------------------------------------------------------------ 9: output paths, before work

LONG = "a" * 253


@pytest.mark.parametrize(
    ("args", "says"),
    [(["-o", "/missing/dir/x.json"], "--output '/missing/dir/x.json': the folder"),
     (["-o", f"{LONG}.json"], "--output"), (["--save", f"{LONG}.png"], "--save"),
     (["--save", "three.txt/x.png"], "--save 'three.txt/x.png'"),
     (["-o", "three.txt/x.json"], "--output 'three.txt/x.json'"),
     (["-o", "ro"], "--output 'ro' is a directory")],
)  # fmt: skip
def test_output_paths_fail_before_the_model_loads(
    runner, tmp_path, monkeypatch, args, says
) -> None:
    from attninspect.api.inspector import Inspector

    monkeypatch.chdir(tmp_path)
    (tmp_path / "three.txt").write_text("x")
    (tmp_path / "ro").mkdir()

    def no_load(*_args, **_kwargs):
        raise AssertionError("the model loaded before the output path was checked")

    monkeypatch.setattr(Inspector, "__init__", no_load)
    result = _run(runner, "a b", "--format", "json", *args)
    assert result.exit_code == 1, result.stderr
    assert says in result.stderr and "unexpected" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unwritable_folder_is_found_by_trying(tmp_path, monkeypatch) -> None:
    """What permissions do not show (root in a read-only place, /proc): a probe file fails."""
    from attninspect.errors import AttnInspectError
    from attninspect.files import atomic

    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    with pytest.raises(AttnInspectError, match=r"--save .*cannot write in .*Read-only file system"):
        atomic.check_output_path(tmp_path / "x.png", "--save")
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------ 10: serialisation counted


def test_json_that_cannot_fit_is_refused_with_both_numbers(
    runner, tiny_models, monkeypatch
) -> None:
    from attninspect.model import memory
    from attninspect.model.estimate import serialised_bytes

    path = str(tiny_models["bert"])
    values = 2 * 4 * 13 * 13 + 13 * 13  # all layers and heads of CAT's 13 tokens, and the view
    for where in ("attninspect.api.batching", "attninspect.model.engines.pretrained"):
        monkeypatch.setattr(f"{where}.available_bytes", lambda _device: 1 << 40)  # the model
    monkeypatch.setattr(memory, "host_available_bytes", lambda: serialised_bytes(values) - 1)
    result = _run(runner, CAT, "--model", path, "--all-layers", "--format", "json")
    assert result.exit_code == 1, result.stdout
    assert "needs about" in result.stderr and "is available" in result.stderr
    assert f"{values:,} weights" in result.stderr and "npz" in result.stderr
    monkeypatch.setattr(memory, "host_available_bytes", lambda: serialised_bytes(values))
    assert _run(runner, CAT, "--model", path, "--all-layers", "--format", "json").exit_code == 0


def test_a_json_array_is_written_as_before(runner, tiny_models) -> None:
    import json as json_module

    from attninspect.files.records import dump_json

    result = runner.invoke(app, ["run", "-", "--model", str(tiny_models["bert"]), "--format",
                                 "json"], input="the cat\nthe dog sat\n")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    records = json_module.loads(result.stdout)
    assert result.stdout == dump_json(records) + "\n"


# ------------------------------------------------------------------ 16: @N is the model's token N


@pytest.mark.parametrize(
    "steps", [[], ["--hide-special"], ["--words"], ["--words", "--hide-special"]]
)
def test_a_position_names_the_same_token_whatever_the_steps(runner, steps) -> None:
    text = "The cat sat on the mat because it was warm."  # @8 is "it" in the model's tokens
    focused = []
    for focus in ("@8", "it"):
        result = _run(runner, text, "--focus", focus, "--format", "json", *steps)
        assert result.exit_code == 0, result.stderr
        focused.append(json.loads(result.stdout)["focus"])
    assert focused[0] == focused[1] and focused[0]["token"] == "it"


def test_positions_in_heads_diff_and_the_api(runner, default_model_path) -> None:
    from attninspect import Inspector

    text = "The cat sat on the mat because it was warm."
    inspection = Inspector(default_model_path).run(text)
    for options in ({"hide_special": True}, {"words": True, "hide_special": True}):
        by_position, by_text = (inspection.view(focus=f, **options) for f in ("@8", "it"))
        assert by_position.focus == by_text.focus and by_position.tokens[by_text.focus] == "it"
        assert by_position.focus_top == by_text.focus_top
    heads = runner.invoke(app, ["heads", text, "--from", "@8", "--to", "@6", "--words",
                                "--format", "json"])  # fmt: skip
    assert heads.exit_code == 0, heads.stderr
    found = json.loads(heads.stdout)
    assert (found["from"]["token"], found["to"]["token"]) == ("it", "mat")
    hidden = _run(runner, text, "--focus", "@0", "--hide-special")
    assert hidden.exit_code == 1 and "--hide-special hides it" in hidden.stderr


# ------------------------------------------------------------------ 17: nothing silently ignored


@pytest.mark.parametrize(
    ("args", "option"),
    [(["run", "x", "--dpi", "300"], "--dpi"), (["grid", "x", "--dpi", "300"], "--dpi"),
     (["heads", "x", "--from", "x", "--to", "x", "--dpi", "300"], "--dpi"),
     (["diff", "x", "y", "--dpi", "300"], "--dpi"), (["stats", "x", "--dpi", "300"], "--dpi"),
     (["run", "x", "--top", "3"], "--top"), (["diff", "x", "y", "--top", "3"], "--top"),
     (["run", "x", "--rollout", "--all-layers", "--heads", "0:2", "--format", "json"], "--heads"),
     (["run", "x", "--rollout", "--format", "npz", "-o", "x.npz", "--heads", "0"], "--heads"),
     (["run", "x", "--stats", "--all-layers", "--layers", "1", "--format", "csv"], "--stats")],
)  # fmt: skip
def test_options_that_would_be_ignored_are_usage_errors(runner, args, option) -> None:
    result = runner.invoke(app, [*args, "--model", "scratch"])
    assert result.exit_code == 2, result.stdout
    assert option in result.stderr


def test_dpi_with_save_still_works(runner, tmp_path) -> None:
    target = tmp_path / "x.png"
    result = _run(runner, "x y", "--model", "scratch", "--save", str(target), "--dpi", "40")
    assert result.exit_code == 0, result.stderr
    assert target.read_bytes().startswith(b"\x89PNG")


# ------------------------------------------------------------------ 18: real lengths, sentences


def test_truncation_reports_the_real_length(default_model_path) -> None:
    from attninspect import Inspector, TruncationWarning

    with pytest.warns(TruncationWarning, match="truncated from 7702 to 512 tokens"):
        result = Inspector(default_model_path, truncate=True).run("word " * 7700)
    assert result.truncated_from == 7702 and len(result.tokens) == 512


def test_a_long_error_is_cut_at_a_sentence_not_mid_word() -> None:
    from attninspect.model.engines.loading import shortened

    message = "First sentence here. " * 10 + "Then set 'HF_HUB_OFFLINE=1' to work offline."
    cut = shortened(message, 200)
    assert cut.endswith("here.") and len(cut) <= 200
    words = shortened("word " * 100 + "'HF_HUB_OFFLINE'", 100)
    assert words.endswith(" …") and "'" not in words


def test_download_with_the_hub_offline_says_why(runner, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = _run(runner, "x", "--model", "nobody/no-such-model", "--download")
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("HF_HUB_OFFLINE is set, so nothing can be downloaded; "
                                          "unset it to fetch")  # fmt: skip


# ------------------------------------------------------------------ 19: notebooks


def test_inspector_warns_nothing_in_a_notebook_without_ipywidgets(tmp_path) -> None:
    import subprocess
    import sys

    script = """
import sys, types, warnings
sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")  # as in Jupyter
fake = types.ModuleType("IPython")
fake.get_ipython = lambda: types.SimpleNamespace()
sys.modules["IPython"] = fake
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from attninspect import Inspector
    Inspector("scratch", dim=8)
print([f"{w.category.__name__}: {w.message}" for w in caught])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]" and done.stderr == ""


def test_an_inspection_is_one_line_and_draws_the_page_in_jupyter(default_model_path) -> None:
    import html

    import attninspect
    from attninspect import Inspector
    from attninspect.render.html_page import render_page
    from attninspect.render.pictures import document

    result = Inspector(default_model_path).run("The cat sat on the mat because it was warm today.")
    line = repr(result)
    assert "\n" not in line and len(line) < 250 and "tokens=14" in line
    assert "attention=(6, 12, 14, 14)" in line
    frame = result._repr_html_()
    assert frame.startswith('<iframe srcdoc="')
    page = html.unescape(frame.split('srcdoc="', 1)[1].split('" title=', 1)[0])
    assert page == render_page([document(result)], result.model)
    assert "Inspector" in dir(attninspect) and "View" in dir(attninspect)


# ------------------------------------------------------------------ 20: completion, info


def _fake_hub_cache(root) -> None:
    """A Hugging Face cache with one loadable model and one without a config."""
    for name, files in (
        ("org/tiny", ["config.json", "model.safetensors"]),
        ("org/bare", ["x.txt"]),
    ):
        repo = root / f"models--{name.replace('/', '--')}"
        snapshot = repo / "snapshots" / ("a" * 40)
        snapshot.mkdir(parents=True)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text("a" * 40)
        (repo / "blobs").mkdir()
        for file in files:
            blob = repo / "blobs" / f"blob-{file}"
            blob.write_text("{}")
            (snapshot / file).symlink_to(blob)


def test_info_says_where_the_models_are(runner, tmp_path, monkeypatch, default_model_path) -> None:
    from huggingface_hub import constants

    _fake_hub_cache(tmp_path)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    result = runner.invoke(app, ["info", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["bundled_model"]["path"] == default_model_path
    assert found["hub_cache"] == str(tmp_path) and found["offline"] is True
    assert [(m["name"], m["loadable"]) for m in found["cached_models"]] == [
        ("org/bare", False), ("org/tiny", True)]  # fmt: skip
    table = runner.invoke(app, ["info"])
    assert table.exit_code == 0 and "org/tiny" in table.stdout and str(tmp_path) in table.stdout


def test_info_without_a_cache_and_without_torch(tmp_path) -> None:
    import os
    import subprocess
    import sys

    code = ("import sys\nsys.argv = ['attninspect', 'info', '--format', 'json']\n"
            "from attninspect.cli import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "assert 'torch' not in sys.modules\n"
            "assert 'transformers' not in sys.modules\n")  # fmt: skip
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "none")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cached_models"] == []


def test_shell_completion_is_offered_and_completes() -> None:
    import os
    import shlex
    import subprocess
    import sys

    # Typer finds the shell from the process tree: start the command from bash itself, as a
    # user does (under make or CI the parent is /bin/sh, which Typer does not complete).
    code = "import sys; sys.argv[0] = 'attninspect'; from attninspect.cli import main; main()"
    # not bash's last command, so bash stays the parent (it would exec a last simple command)
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(code)} --show-completion; exit $?"
    shown = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60,
                           check=False)  # fmt: skip
    assert shown.returncode == 0 and "complete_bash" in shown.stdout, shown.stderr
    env = {**os.environ, "_ATTNINSPECT_COMPLETE": "complete_bash",
           "COMP_WORDS": "attninspect run --for", "COMP_CWORD": "2"}  # fmt: skip
    code = "import sys; sys.argv = ['attninspect']; from attninspect.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env, check=False)  # fmt: skip
    assert done.stdout.split() == ["--format"], done.stderr


def test_free_memory_is_read_again_when_a_record_needs_much_of_it(monkeypatch) -> None:
    from attninspect.cli import run as run_module
    from attninspect.model import memory

    readings = []
    monkeypatch.setattr(memory, "host_available_bytes", lambda: readings.append(1) or 1000)
    clock = [100.0]
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    counts = run_module.Counts(output_format="jsonl")
    assert counts.host_free(10) == 1000 and len(readings) == 1
    assert counts.host_free(250) == 1000 and len(readings) == 1  # a wide margin: no new reading
    counts.host_free(251)  # over a quarter of what was free: read again
    assert len(readings) == 2
    clock[0] += run_module.FREE_READING_AGE
    counts.host_free(1)  # the reading is old: read again
    assert len(readings) == 3


def test_a_windowed_diff_names_only_options_diff_has(runner, tiny_models) -> None:
    words = " ".join(["the cat sat on the mat"] * 8)
    result = runner.invoke(
        app,
        ["diff", words, words.replace("cat", "dog"), "--model", str(tiny_models["bert"]),
         "--no-color"],
        terminal_width=80,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    note = " ".join((result.stdout + result.stderr).split())
    assert "left out" in note and "--full shows all" in note
    assert "--window" not in note  # diff has no --window
