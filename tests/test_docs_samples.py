"""Every command sample in README.md and docs/*.md runs, and prints what the page shows; every
relative link there points to a file (and heading) that exists.

The convention (docs/development.md says it for writers):

- A fenced block opened with ```` ```console ```` is executed. Each line that starts with ``$ `` is
  a command (a line ending in ``\\`` goes on with the next); the lines after it, up to the next
  command, are what it prints (standard output and standard error together). A line ``...``
  stands for any number of lines (a sample may show only the start, the end, or both).
- Words after ``console`` on the fence line name what the block needs: ``tiny`` (the tiny random
  models in ``./tiny``, as ``python scripts/tiny_models.py tiny`` writes them) and ``server`` (an
  ``attninspect serve --token demo-token`` running; the pages say port 8765, the test uses a free
  port and writes 8765 back).
- ```` ```sh ````, ```` ```text ```` and other blocks are not executed.

The commands run with bash in one scratch folder (with ``scripts/`` and ``bench/`` linked into
it), the venv's ``bin`` first on PATH, ``NO_COLOR=1``, ``COLUMNS=100``, offline, and ``HOME`` in
the scratch folder (an empty Hugging Face cache). Only what must differ between machines and runs
is normalised: timings (``0.019 s``), the memory available, the home folder (``~``) and the
venv's site-packages (``.venv/lib/python3.11/site-packages``).

``UPDATE_DOCS=1 pytest tests/test_docs_samples.py`` rewrites each sample that differs with what
the command prints now, keeping its ``...`` elisions where it can.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
UPDATE = os.environ.get("UPDATE_DOCS", "") not in ("", "0")
ELISION = "..."
SHOWN_PORT = "8765"
TIMEOUT = 300  # one command, on a busy 2-core machine
FENCE = re.compile(r"^```console((?:\s+[\w-]+)*)\s*$")


@dataclass
class Command:
    text: str  # as bash gets it (continuation lines included)
    expected: list[str]
    first: int  # index (from 0) of the page's first expected line
    last: int  # one past its last


@dataclass
class Sample:
    page: Path
    line: int  # the fence's line, from 1
    needs: tuple[str, ...]
    commands: list[Command]

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT).as_posix()}:{self.line}"


def parse(page: Path) -> list[Sample]:
    """The ```console blocks of one page."""
    lines = page.read_text(encoding="utf-8").splitlines()
    samples: list[Sample] = []
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        index += 1
        if match is None:
            continue
        sample = Sample(page, index, tuple(match.group(1).split()), [])
        while index < len(lines) and not lines[index].startswith("```"):
            index = _command(lines, index, sample)
        samples.append(sample)
        index += 1
    return samples


def _command(lines: list[str], index: int, sample: Sample) -> int:
    """Read the command at ``lines[index]`` and what it prints; the index after them."""
    assert lines[index].startswith("$ "), f"{sample.name}: a console block starts with `$ `"
    parts = [lines[index][2:]]
    index += 1
    while parts[-1].endswith("\\") and index < len(lines):
        parts.append(lines[index])
        index += 1
    first = index
    while index < len(lines) and not lines[index].startswith(("$ ", "```")):
        index += 1
    sample.commands.append(Command("\n".join(parts), lines[first:index], first, index))
    return index


SAMPLES = [sample for page in PAGES for sample in parse(page)]


# --------------------------------------------------------------------------- comparing


def normalise(lines: list[str]) -> list[str]:
    """What may differ between runs, made equal; trailing spaces dropped."""
    out = []
    for line in lines:
        line = re.sub(r"\b\d+\.\d+ s\b", "0.000 s", line)
        line = re.sub(r"has \d+(\.\d+)? [KMGT]iB available", "has N GiB available", line)
        out.append(line.rstrip())
    while out and not out[-1]:
        out.pop()  # blank lines at the end
    return out


PURELIB = ".venv/lib/python3.11/site-packages"


def segments(expected: list[str]) -> list[list[str]]:
    """The expected lines split at each ``...`` line."""
    parts: list[list[str]] = [[]]
    for line in expected:
        if line.strip() == ELISION:
            parts.append([])
        else:
            parts[-1].append(line)
    return parts


def matches(expected: list[str], actual: list[str]) -> bool:
    """``actual`` starts with the first segment, ends with the last, holds the others in order."""
    parts = segments(normalise(expected))
    actual = normalise(actual)
    if len(parts) == 1:
        return parts[0] == actual
    head, *middle, tail = parts
    if actual[: len(head)] != head or (tail and actual[-len(tail) :] != tail):
        return False
    position, end = len(head), len(actual) - len(tail)
    for part in middle:
        found = _find(actual, part, position, end)
        if found is None:
            return False
        position = found + len(part)
    return position <= end


def _find(actual: list[str], part: list[str], start: int, end: int) -> int | None:
    for index in range(start, end - len(part) + 1):
        if actual[index : index + len(part)] == part:
            return index
    return None


def refit(expected: list[str], actual: list[str]) -> list[str]:
    """``actual`` cut to the shape of ``expected``: as many lines before, between and after its
    ``...`` lines, the middle parts found by their first line (dropped where it is gone)."""
    parts = segments(expected)
    while actual and not actual[-1].strip():
        actual = actual[:-1]
    if len(parts) == 1:
        return actual
    head, *middle, tail = parts
    out = actual[: len(head)]
    position, end = len(head), len(actual) - len(tail)
    for part in middle:
        starts = [i for i in range(position, end) if normalise([actual[i]]) == normalise(part[:1])]
        if part and starts:
            out += [ELISION, *actual[starts[0] : starts[0] + len(part)]]
            position = starts[0] + len(part)
    return [*out, ELISION, *(actual[-len(tail) :] if tail else [])]


# --------------------------------------------------------------------------- running


@dataclass
class Place:
    folder: Path
    env: dict[str, str] = field(repr=False)
    port: str = SHOWN_PORT
    serve_output: list[str] | None = field(default=None, repr=False)
    # a command shown on several pages runs once
    printed: dict[str, list[str]] = field(default_factory=dict, repr=False)


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Place:
    """The scratch folder every sample runs in, and their environment."""
    folder = tmp_path_factory.mktemp("docs-samples")
    for name in ("scripts", "bench"):
        (folder / name).symlink_to(ROOT / name)
    (folder / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "ATTNINSPECT_"))}
    env.pop("TRANSFORMERS_CACHE", None)
    env.update(
        PATH=str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        HOME=str(folder / "home"), NO_COLOR="1", COLUMNS="100", LINES="40",
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1",
    )  # fmt: skip
    env.pop("FORCE_COLOR", None)
    return Place(folder, env)


def shell(place: Place, command: str) -> list[str]:
    """What ``command`` prints (stdout and stderr together), as lines."""
    if command in place.printed:
        return place.printed[command]
    done = subprocess.run(
        ["bash", "-c", command], cwd=place.folder, env=place.env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    printed = [local(place, line) for line in done.stdout.splitlines()]
    place.printed[command] = printed
    return printed


def local(place: Place, line: str) -> str:
    """``line`` as any machine prints it: this machine's paths and the server's port shortened."""
    line = line.replace(sysconfig.get_paths()["purelib"], PURELIB)
    line = line.replace(place.env["HOME"], "~").replace(f"{place.folder}/", "")
    return line.replace(f"127.0.0.1:{place.port}", f"127.0.0.1:{SHOWN_PORT}")


@pytest.fixture(scope="module")
def tiny(place: Place) -> None:
    """The tiny random models, as the docs tell a reader to write them."""
    if not (place.folder / "tiny" / "llama-lm").exists():
        shell(place, "python scripts/tiny_models.py tiny")


@pytest.fixture(scope="module")
def server(place: Place) -> Iterator[None]:
    """`attninspect serve --token demo-token` on a free port, for the module; ended by its id."""
    from serve_helpers import stop

    log = place.folder / "serve.err"
    with log.open("w") as errors:
        process = subprocess.Popen(
            ["attninspect", "serve", "--token", "demo-token", "--port", "0"], cwd=place.folder,
            env=place.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
            text=True,
        )  # fmt: skip
    try:
        url = _first_line(process)
        place.port = re.sub(r".*127\.0\.0\.1:(\d+).*", r"\1", url)
        place.serve_output = [local(place, line) for line in [*log.read_text().splitlines(), url]]
        yield
    finally:
        stop(process)
        place.port = SHOWN_PORT


def _first_line(process: subprocess.Popen) -> str:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=TIMEOUT)
    except queue.Empty:
        raise AssertionError(f"no URL from attninspect serve within {TIMEOUT} s") from None
    assert line, f"attninspect serve ended before printing its URL (exit {process.poll()})"
    return line.rstrip("\n")


@pytest.fixture(scope="module")
def rewrites() -> Iterator[list[tuple[Path, Command, list[str]]]]:
    """With UPDATE_DOCS=1: the samples to rewrite, written when the module ends (last first)."""
    pending: list[tuple[Path, Command, list[str]]] = []
    yield pending
    for page in {page for page, _, _ in pending}:
        lines = page.read_text(encoding="utf-8").splitlines()
        for _, command, new in sorted(
            (item for item in pending if item[0] == page), key=lambda item: -item[1].first
        ):
            lines[command.first : command.last] = new
        page.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _run(place: Place, sample: Sample, command: Command, exports: list[str]) -> list[str]:
    """What ``command`` prints; the server's start lines stand in for `attninspect serve`."""
    if "server" in sample.needs and command.text.startswith("attninspect serve"):
        assert command.text == "attninspect serve --token demo-token", sample.name
        assert place.serve_output is not None
        return place.serve_output
    text = "\n".join([*exports, command.text])
    return shell(place, text.replace(f"127.0.0.1:{SHOWN_PORT}", f"127.0.0.1:{place.port}"))


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample.name for sample in SAMPLES])
def test_sample_prints_what_the_page_shows(
    request: pytest.FixtureRequest, place: Place, rewrites: list, sample: Sample
) -> None:
    for need in sample.needs:
        assert need in ("tiny", "server"), f"{sample.name}: unknown need {need!r}"
        request.getfixturevalue(need)
    for tool in ("jq", "curl"):
        used = any(f"| {tool}" in c.text or c.text.startswith(tool) for c in sample.commands)
        if used and shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    exports: list[str] = []
    failures = []
    for command in sample.commands:
        if command.text.startswith("export "):
            exports.append(command.text)
            continue
        actual = _run(place, sample, command, exports)
        if matches(command.expected, actual):
            continue
        if UPDATE:
            new = [line.rstrip() for line in refit(command.expected, actual)]
            rewrites.append((sample.page, command, new))
            continue
        failures.append(_difference(command, actual))
    assert not failures, f"{sample.name}: " + "\n\n".join(failures) + "\n(UPDATE_DOCS=1 rewrites)"


def _difference(command: Command, actual: list[str]) -> str:
    shown = "\n".join(command.expected)
    printed = "\n".join(actual)
    return f"$ {command.text}\n--- the page shows:\n{shown}\n--- it printed:\n{printed}"


# --------------------------------------------------------------------------- links

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings (outside code blocks)."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if fenced or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip()
        slug = "".join(
            c for c in title.lower() if c in " -_" or unicodedata.category(c)[0] in "LN"
        ).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(page: Path) -> Iterator[str]:
    """The link targets of a page, outside code blocks and inline code."""
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced:
            yield from LINK.findall(re.sub(r"`[^`]*`", "", line))


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_relative_links_point_to_what_exists(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_the_pages_hold_samples_and_no_machine_paths() -> None:
    assert len(SAMPLES) >= 12, [sample.name for sample in SAMPLES]
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for pattern in (r"/work/", r"/root/", r"/home/\w", r"/Users/\w", r"/tmp/pytest"):
            assert not re.search(pattern, text), f"{page.name} names a machine's path: {pattern}"


# --------------------------------------------------------------------------- the helpers


def test_matching_reads_elisions_and_normalises_timings() -> None:
    assert matches(["a · 0.019 s", "b"], ["a · 1.250 s", "b  "])
    assert not matches(["a", "b"], ["a", "c"])
    assert matches(["a", ELISION, "z"], ["a", "b", "c", "z"])
    assert matches(["a", ELISION], ["a", "b"])
    assert matches([ELISION, "m", ELISION], ["a", "m", "z"])
    assert not matches([ELISION, "m", ELISION], ["a", "n", "z"])
    assert not matches(["a", ELISION, "z"], ["a", "b"])
    assert refit(["a", ELISION, "m", ELISION, "z"], ["A", "b", "m", "x", "Z"]) == [
        "A", ELISION, "m", ELISION, "Z",
    ]  # fmt: skip
