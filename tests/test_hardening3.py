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
    npz = _run(runner, CAT, "--model", path, "--format", "npz", "-o", str(target), "--layers", layers)
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
        except Exception as error:  # noqa: BLE001 - the test reports it below
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
