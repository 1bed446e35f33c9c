"""One entry of a listing, the same on a local folder and on an object store (adapters/storage.py
and object_storage.py both answer with it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    """One entry as listed: its ``lstat`` mode (a store has regular files, and folders where
    keys share a prefix), modification time, size, and ``version``, what tells it from another
    file put under the same name since (inode locally, ETag on a store)."""

    path: Path
    mode: int
    mtime_ns: int
    size: int
    version: tuple = ()

    @property
    def name(self) -> str:
        return self.path.name
