"""What was read from a file, kept while the file is unchanged.

A report reads the same files many times over: programme.yaml several times per report, and in a batch
every partner report reads the same result tables (at 160 partners about 0.13 s a report) and hashes the
same input files to check that those tables are current. `read` keeps what a reader made of a file (a
parse, a table, a hash) under the file's state, so the next reader of an unchanged file gets it without
reading the file again.

The state is the resolved path, device, inode, size and modification time (ns). The suite writes every
file atomically (a new file moved into place: a new inode), so a rewritten file is never taken for the
old one; a file edited in place changes its modification time (and usually its size). A value is only
ever what reading the file as it is now would give, so a warm report kernel keeps this cache between
reports (`sdp_lib.run.batch.kernel_reset` clears every other cache of the package): it cannot make a
report depend on the reports run before it. Errors are never kept. Callers must not change what they
get: each reader copies it (`copy.deepcopy`, `DataFrame.copy`) before handing it on.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")

#: Entries kept (least recently used dropped first): a run reads some 40 files.
MAX_ENTRIES = 256

_entries: OrderedDict[tuple[str, str], tuple[tuple[int, ...], Any]] = OrderedDict()
_lock = threading.Lock()


def file_state(path: str | os.PathLike[str]) -> tuple[int, ...]:
    """The state a kept value is valid for: (device, inode, size, modification time in ns)."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def read(kind: str, path: str | os.PathLike[str], reader: Callable[[Path], T]) -> T:
    """`reader(path)`, or the value it gave for this file when its state was the same (`kind` names the
    reader, so that one file can hold a parse and a hash). The value is shared: do not change it."""
    resolved = Path(path).resolve()
    key = (kind, str(resolved))
    state = file_state(resolved)
    with _lock:
        hit = _entries.get(key)
        if hit is not None and hit[0] == state:
            _entries.move_to_end(key)
            return hit[1]
    value = reader(resolved)
    if file_state(resolved) == state:  # not kept if the file changed while it was read
        with _lock:
            _entries[key] = (state, value)
            _entries.move_to_end(key)
            while len(_entries) > MAX_ENTRIES:
                _entries.popitem(last=False)
    return value


def clear() -> None:
    """Forget every kept value."""
    with _lock:
        _entries.clear()


def size() -> int:
    """Number of values kept."""
    return len(_entries)
