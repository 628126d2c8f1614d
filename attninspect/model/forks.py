"""A process forked after a batched tokenizer call (a DataLoader worker, a multiprocessing pool)
starts quietly, without the fast tokenizer's "process just got forked" warning.

The tokenizers library runs batches on a thread pool that a forked child cannot use; when the
child starts, the library turns parallelism off there and (before tokenizers 0.23) prints that
warning, unless ``TOKENIZERS_PARALLELISM`` is set. So, where the user has not set it, the variable
is set to ``false`` just for the fork: the child starts with parallelism off, as the library would
leave it, but says nothing; the parent is given its environment back at once and keeps its pool.
A user's own ``TOKENIZERS_PARALLELISM`` (any value) is left alone, in parent and child.
"""

from __future__ import annotations

import os
import threading

VARIABLE = "TOKENIZERS_PARALLELISM"

_registered = False
_lock = threading.Lock()
_set_for_fork = threading.local()


def quiet_forks() -> None:
    """Register the fork hooks once per process (call it before a batched tokenizer call)."""
    global _registered
    with _lock:
        if _registered:
            return
        os.register_at_fork(before=_before, after_in_parent=_after_in_parent)
        _registered = True


def _before() -> None:
    _set_for_fork.value = VARIABLE not in os.environ
    if _set_for_fork.value:
        os.environ[VARIABLE] = "false"


def _after_in_parent() -> None:
    if getattr(_set_for_fork, "value", False):
        os.environ.pop(VARIABLE, None)
        _set_for_fork.value = False
