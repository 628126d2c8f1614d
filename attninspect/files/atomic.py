"""Write results to stdout or, atomically, to a file: a failure never leaves a partial file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from attninspect.errors import AttnInspectError


def check_output_path(path: Path, option: str = "--output") -> None:
    """Refuse, before any work, an output path that cannot be written."""
    if path.is_dir():
        raise AttnInspectError(f"{option} {str(path)!r} is a directory; give a file name")
    folder = path.parent
    if not folder.exists():
        raise AttnInspectError(f"{option} {str(path)!r}: the folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise AttnInspectError(f"{option} {str(path)!r}: {str(folder)!r} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise AttnInspectError(f"{option} {str(path)!r}: no permission to write in {str(folder)!r}")
    if path.exists() and not os.access(path, os.W_OK):
        raise AttnInspectError(f"{option} {str(path)!r} exists and is read-only")


@contextlib.contextmanager
def atomic_file(path: Path, binary: bool = False, option: str = "--output") -> Iterator[IO]:
    """Yield a temporary file beside ``path``; rename it over ``path`` only on success."""
    check_output_path(path, option)
    try:
        descriptor, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".part"
        )
    except OSError as error:
        raise AttnInspectError(f"cannot write {option} {str(path)!r}: {error.strerror}") from error
    committed = False
    try:
        mode = "wb" if binary else "w"
        encoding = None if binary else "utf-8"
        newline = None if binary else ""
        with os.fdopen(descriptor, mode, encoding=encoding, newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
        committed = True
    except OSError as error:
        raise AttnInspectError(f"cannot write {option} {str(path)!r}: {error.strerror}") from error
    finally:
        if not committed:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
