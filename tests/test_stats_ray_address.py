"""`stats --engine ray` with an address it cannot use: one clear error, quickly, and Ray never
started. Only free ports on 127.0.0.1 are used; `ray.init` is replaced by a guard, so nothing
else is ever contacted (Ray would rewrite 127.0.0.1 to this machine's own address)."""

from __future__ import annotations

import socket
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attninspect.cli import app
from attninspect.errors import AttnInspectError

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")


def _free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then let go)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def no_ray_init(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every call of ray.init, refused and recorded; RAY_ADDRESS unset."""
    calls: list = []

    def refuse(*args, **kwargs):
        calls.append((args, kwargs))
        raise RuntimeError("ray.init must not run for an address nothing listens at")

    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return calls


@pytest.fixture
def texts(tmp_path: Path) -> Path:
    path = tmp_path / "texts.txt"
    path.write_text("One text.\n", encoding="utf-8")
    return path


def _stats(texts: Path, *extra: str):
    return CliRunner().invoke(app, ["stats", "-f", str(texts), "--engine", "ray", *extra])


def test_nothing_listening_is_one_clear_error(no_ray_init: list, texts: Path) -> None:
    address = f"127.0.0.1:{_free_port()}"
    result = _stats(texts, "--ray-address", address)
    assert result.exit_code == 1
    assert f"Error: nothing answers at the Ray address {address}" in result.stderr
    assert "unexpected" not in result.stderr and "Traceback" not in result.output
    assert no_ray_init == []


def test_ray_address_from_the_environment_is_checked_too(
    no_ray_init: list, texts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{_free_port()}")
    result = _stats(texts)
    assert result.exit_code == 1 and "nothing answers at the Ray address" in result.stderr
    assert no_ray_init == []


def test_a_ray_client_address_without_ray_client(
    no_ray_init: list, texts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "grpc", None)  # import grpc raises ImportError
    result = _stats(texts, "--ray-address", f"ray://127.0.0.1:{_free_port()}")
    assert result.exit_code == 1
    assert "needs Ray Client: pip install 'attninspect[ray]'" in result.stderr
    assert "unexpected" not in result.stderr and no_ray_init == []


def test_a_ray_client_address_where_nothing_listens(
    no_ray_init: list, texts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "grpc", types.ModuleType("grpc"))
    address = f"ray://127.0.0.1:{_free_port()}"
    result = _stats(texts, "--ray-address", address)
    assert result.exit_code == 1
    assert f"nothing answers at the Ray address {address}" in result.stderr
    assert no_ray_init == []


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:6379", ("127.0.0.1", 6379)),
        ("ray://head", ("head", 10001)),
        ("ray://head:10002", ("head", 10002)),
        ("[::1]:6379", ("::1", 6379)),
        ("ray://[::1]", ("::1", 10001)),
    ],
)
def test_host_and_port(address: str, expected: tuple[str, int]) -> None:
    from attninspect.api.corpus_ray import host_port

    assert host_port(address) == expected


@pytest.mark.parametrize("address", ["head", "head:port", "head:70000", ":6379", "head:٣"])
def test_bad_addresses_are_refused(address: str) -> None:
    from attninspect.api.corpus_ray import host_port

    with pytest.raises(AttnInspectError, match="is not HOST:PORT"):
        host_port(address)
