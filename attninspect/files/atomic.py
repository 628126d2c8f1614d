"""Write results to stdout or, atomically, to a file: a failure never leaves a partial file.

A regular file (or a symlink to one, or a new name) is written as a short-named temporary file
beside it and renamed over it on success, keeping an existing file's permissions. A character
device or a FIFO (``-o /dev/null``, ``-o >(gzip > x)``) is written straight into: it cannot be
replaced, and replacing it would break it.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from attninspect.errors import AttnInspectError

TEMPORARY_PREFIX = ".attninspect-"
TEMPORARY_SUFFIX = ".part"


def _mode_of(path: Path, option: str = "--output") -> int | None:
    """``st_mode`` of what ``path`` names (symlinks followed), or None if nothing is there."""
    try:
        return os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as error:
        raise AttnInspectError(f"{option} {str(path)!r}: {error.strerror}") from error


def is_stream_target(path: Path, option: str = "--output") -> bool:
    """A character device or FIFO: written in place, never replaced."""
    mode = _mode_of(path, option)
    return mode is not None and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode))


def replace_target(path: Path) -> Path:
    """The file a rename must replace: a symlink's final target, else ``path`` itself."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def check_output_path(path: Path, option: str = "--output") -> None:
    """Refuse, before any work, an output path that cannot be written: a missing or read-only
    folder, a name too long, a folder where a temporary file cannot be made."""
    where = f"{option} {str(path)!r}"
    try:
        _check_output_path(path, option, where)
    except OSError as error:
        raise AttnInspectError(f"{where}: {error.strerror or error}") from None


def _check_output_path(path: Path, option: str, where: str) -> None:
    if _mode_of(path, option) is not None and path.is_dir():
        raise AttnInspectError(f"{where} is a directory; give a file name")
    if is_stream_target(path, option):
        if not os.access(path, os.W_OK):
            raise AttnInspectError(f"{where}: no permission to write to it")
        return
    target = replace_target(path)
    folder = target.parent
    _check_name(target, where)
    if not folder.exists():
        raise AttnInspectError(f"{where}: the folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise AttnInspectError(f"{where}: {str(folder)!r} is not a folder")
    mode = _mode_of(target, option)
    if mode is not None and not stat.S_ISREG(mode):
        raise AttnInspectError(f"{where} exists and is not a regular file")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise AttnInspectError(f"{where}: no permission to write in {str(folder)!r}")
    if mode is not None and not os.access(target, os.W_OK):
        raise AttnInspectError(f"{where} exists and is read-only")
    _probe(folder, where)


def _check_name(target: Path, where: str) -> None:
    """Refuse a file name longer than the file system takes (ENAMETOOLONG after the work)."""
    length = len(os.fsencode(target.name))
    try:
        limit = os.pathconf(target.parent, "PC_NAME_MAX") if target.parent.is_dir() else 255
    except (OSError, ValueError):
        limit = 255
    if length > limit:
        raise AttnInspectError(
            f"{where}: the file name is {length} bytes long; this file system takes at most {limit}"
        )


def _probe(folder: Path, where: str) -> None:
    """Make and remove a temporary file where the output will go, so that what no check can
    promise (a read-only file system, a folder such as /proc) fails now, not after the work."""
    try:
        descriptor, name = tempfile.mkstemp(dir=folder, prefix=TEMPORARY_PREFIX, suffix=".probe")
    except OSError as error:
        reason = error.strerror or str(error)
        raise AttnInspectError(f"{where}: cannot write in {str(folder)!r}: {reason}") from None
    os.close(descriptor)
    os.unlink(name)


class _Unseekable(io.RawIOBase):
    """A device or FIFO as a plain stream: no seek or tell (``/dev/null`` would answer 0), so
    writers such as zipfile (npz) stream instead of seeking back."""

    def __init__(self, descriptor: int) -> None:
        super().__init__()
        self._file = os.fdopen(descriptor, "wb", buffering=0)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self._file.write(data)

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


def _open_stream(path: Path, binary: bool) -> IO:
    """A device or FIFO, opened for writing as it is (never truncated or replaced)."""
    descriptor = os.open(path, os.O_WRONLY)
    if binary:
        return io.BufferedWriter(_Unseekable(descriptor))
    return os.fdopen(descriptor, "w", encoding="utf-8", newline="")


def _open(descriptor: int, binary: bool) -> IO:
    if binary:
        return os.fdopen(descriptor, "wb")
    return os.fdopen(descriptor, "w", encoding="utf-8", newline="")


@contextlib.contextmanager
def atomic_file(path: Path, binary: bool = False, option: str = "--output") -> Iterator[IO]:
    """Yield a temporary file beside ``path``; rename it over ``path`` only on success.

    Devices and FIFOs are yielded directly (opened for writing, never truncated or replaced).
    """
    check_output_path(path, option)
    if is_stream_target(path):
        with _failures_named(path, option), _open_stream(path, binary) as handle:
            yield handle
        return
    target = replace_target(path)
    with _failures_named(path, option):
        descriptor, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=TEMPORARY_PREFIX, suffix=TEMPORARY_SUFFIX
        )
    committed = False
    try:
        with _failures_named(path, option):
            with _open(descriptor, binary) as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, _permissions_for(target))
            os.replace(temporary, target)
            committed = True
    finally:
        if not committed:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _permissions_for(target: Path) -> int:
    """An existing file's permission bits, or what a new file gets under the umask."""
    mode = _mode_of(target)
    if mode is not None:
        return stat.S_IMODE(mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def _failures_named(path: Path, option: str) -> Iterator[None]:
    """An OSError while writing becomes one line naming the option (``--output``, ``--save``)."""
    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error)
        raise AttnInspectError(f"cannot write {option} {str(path)!r}: {reason}") from error
