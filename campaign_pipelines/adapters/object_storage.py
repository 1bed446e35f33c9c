"""The object-store side of the storage seam (storage.py): S3 or any S3-compatible server
through fsspec (s3fs), whose ``fs`` takes ``bucket/key`` paths. Every call asks the server:
other processes write the same keys, so no listing is answered from a cache."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from campaign_pipelines.adapters.atomic_write import PRIVATE_MODE
from campaign_pipelines.adapters.storage_entry import Entry

# A lock object older than this belongs to a process that died holding it (a holder keeps a
# lock for one admission: well under a second).
LOCK_LEASE_S = 60.0
LOCK_POLL_S = 0.05


class ObjectStorage:
    """An object store (S3 or compatible) through fsspec: ``fs`` takes ``bucket/key`` paths."""

    writes_in_place = False  # an object is visible only once whole: no quiet period to wait

    def __init__(self, fs: Any):
        self.fs = fs

    def scan(self, folder: Path) -> list[Entry]:
        key = _key(folder)
        try:
            listed = self.fs.ls(key, detail=True, refresh=True)
        except FileNotFoundError:
            return []
        found = []
        for info in listed:
            name = info["name"].rstrip("/").rsplit("/", 1)[-1]
            if info["name"].rstrip("/") == key.rstrip("/") or not name:
                continue  # a folder marker some consoles write
            found.append(_object_entry(folder / name, info))
        return found

    def lstat(self, path: Path) -> Entry | None:
        self.fs.invalidate_cache(_key(path))
        try:
            return _object_entry(path, self.fs.info(_key(path)))
        except FileNotFoundError:
            return None

    def digest(self, path: Path) -> tuple[str, Entry] | None:
        before = self.lstat(path)
        if before is None or not stat.S_ISREG(before.mode):
            return None
        try:
            with self.fs.open(_key(path), "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
        except FileNotFoundError:
            return None
        after = self.lstat(path)
        if after is None or after.version != before.version:
            return None  # replaced while we read it: the next listing sees the new one
        return digest, after

    def write_with(self, target: Path, write: Callable[[Path], None], mode: int) -> None:
        with tempfile.TemporaryDirectory(prefix="campaign-upload-") as folder:
            local = Path(folder) / target.name
            write(local)
            self.fs.put_file(str(local), _key(target))  # one object, whole at completion

    def create(self, target: Path, data: bytes, mode: int = PRIVATE_MODE) -> bool:
        try:
            self.fs.pipe_file(_key(target), data, IfNoneMatch="*")
        except FileExistsError:  # s3fs's answer to 412 Precondition Failed
            return False
        return True

    def land(self, target: Path, data: bytes, mode: int) -> bool:
        """One PUT that takes the name only if it is free (``If-None-Match: *``)."""
        return self.create(target, data, mode)

    def move(self, source: Path, target: Path) -> None:
        """Copy, then delete. A crash in between leaves both; the repeat finds the copy
        (``same_copy``) and only deletes. A folder (a shared prefix) moves key by key."""
        src, dst = _key(source), _key(target)
        if self.fs.isdir(src):
            self.fs.copy(src, dst, recursive=True)
            self.fs.rm(src, recursive=True)
        else:
            self.fs.copy(src, dst)
            self.fs.rm_file(src)
        self.fs.invalidate_cache()

    def earlier_copy(self, source: Path, folder: Path) -> Path | None:
        """``folder/<name>`` when it already holds ``source``'s bytes: the copy of a move
        that died before its delete (a server-side copy keeps a single-part object's ETag,
        its MD5). Identical bytes archived earlier under the name count too: one copy kept."""
        entry, there = self.lstat(source), self.lstat(folder / source.name)
        if entry is None or there is None or not stat.S_ISREG(entry.mode):
            return None
        return there.path if there.version[:2] == entry.version[:2] else None

    def delete(self, path: Path) -> None:
        try:
            self.fs.rm_file(_key(path))
        except FileNotFoundError:
            pass

    def taken(self, path: Path) -> bool:
        self.fs.invalidate_cache(_key(path))
        return bool(self.fs.exists(_key(path)))

    def make_folder(self, path: Path) -> None:
        """Prefixes exist by their keys: nothing to create."""

    def claim(self, folder: Path, name: str, body: bytes, lease_s: float, now: float) -> bool:
        """Whether this evaluation may request the run for ``name`` (an arrival): it creates
        ``folder/name/<n>.json`` with ``If-None-Match: *``, so of two evaluations at once
        exactly one wins. A claim older than ``lease_s`` whose run never came (its evaluation
        died) is taken over with the next ``n``, again by exactly one."""
        claims = sorted((e for e in self.scan(folder / name) if e.name.endswith(".json")),
                        key=lambda e: int(e.name.split(".")[0]))
        if claims and now - claims[-1].mtime_ns / 1e9 < lease_s:
            return False
        number = int(claims[-1].name.split(".")[0]) + 1 if claims else 0
        return self.create(folder / name / f"{number}.json", body)

    @contextmanager
    def locked(self, path: Path) -> Iterator[None]:
        """A lock object at ``path``, created with ``If-None-Match: *`` (the holder) and
        deleted at the end; a lock older than ``LOCK_LEASE_S`` is a dead holder's and goes."""
        body = f"{socket.gethostname()} {os.getpid()}".encode()
        while not self.create(path, body):
            held = self.lstat(path)
            if held is not None and time.time() - held.mtime_ns / 1e9 > LOCK_LEASE_S:
                self.delete(path)
                continue
            time.sleep(LOCK_POLL_S)
        try:
            yield
        finally:
            self.delete(path)

    @contextmanager
    def local_copy(self, path: Path) -> Iterator[Path]:
        """The object as a local file of the same name (readers that want a file: xlsx)."""
        with tempfile.TemporaryDirectory(prefix="campaign-read-") as folder:
            local = Path(folder) / path.name
            self.fs.get_file(_key(path), str(local))
            yield local


def _key(path: Path) -> str:
    return str(path.path)  # type: ignore[attr-defined]  # UPath: bucket/key


def _object_entry(path: Path, info: dict) -> Entry:
    if info.get("type") == "directory":
        return Entry(path, stat.S_IFDIR | 0o750, 0, 0, ())
    modified = info.get("LastModified")
    mtime_ns = round(modified.timestamp() * 1e9) if modified else 0
    size = int(info.get("size") or 0)
    return Entry(path, stat.S_IFREG | 0o640, mtime_ns, size,
                 (str(info.get("ETag", "")), size, mtime_ns))
