"""How the service treats Python's cyclic garbage collector.

The batch jobs (the cycle, the rescore) allocate rows, tuples and lists by the hundred thousand;
none of them hold reference cycles, so reference counting frees them, but their allocations
kept waking the cyclic collector, which walked the whole heap each time: a fifth of a cycle and
a third of a rescore. The jobs pause it. `serve` also freezes the start-up heap (cli/admin.py).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pauses = 0
_was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside. Re-entrant and shared across threads (the embedded worker runs
    jobs next to the API): the collector resumes when the last pause ends, if it ran before."""
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()
