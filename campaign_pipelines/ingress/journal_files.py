"""The files behind an ingress journal (``journal.py``): open one, complete one, recover one.

A journal is a temp file in its landing folder, ``.journal-<host>-<pid>-<n>.jsonl.tmp`` (a
name every reader skips: ``landing_arrivals.is_temp_name``), held under an exclusive
``flock`` by the one worker that appends to it. Completing it makes it
``<prefix>-<host>-<pid>-<n>.jsonl``, the name a reader takes.

- Opening: ``O_CREAT | O_EXCL`` (never someone else's file), then ``flock(LOCK_EX | LOCK_NB)``,
  then a check that the name still leads to this file: a recoverer may have found the new,
  empty and not yet locked file, and removed it. Any of the three failing moves on to the
  next ``n``. The folder is fsynced so the new name survives a power loss.
- Completing: ``os.link`` to the complete name (a link never replaces a file: a name taken by
  another process, say one with this pid before a restart, moves on to ``-1``, ``-2`` …), fsync
  of the folder, then unlink of the temp name, all under the lock. An empty journal is removed.
- Recovering: a temp journal whose lock is free belongs to a dead writer (the writer holds the
  lock from before its first write until after its temp name is gone). The recoverer takes
  the lock, cuts the file after its last complete line (a torn last line was never
  acknowledged: acknowledgements come after the fsync of whole lines), and completes it. If
  the writer died between link and unlink, the complete file is found by its inode and the
  temp name is just removed, so nothing lands twice.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from campaign_pipelines.adapters import landing_arrivals
from campaign_pipelines.adapters.atomic_write import fsync_folder
from campaign_pipelines.adapters.landing import FILE_MODE
from campaign_pipelines.adapters.storage import storage_for

COMPLETE_SUFFIX = ".jsonl"
# Hidden and .tmp: both halves of the name readers skip (landing_arrivals.is_temp_name).
TEMP_PREFIX = ".journal-"
TEMP_SUFFIX = COMPLETE_SUFFIX + landing_arrivals.TEMP_SUFFIX
_TAIL_CHUNK = 64 * 1024


@dataclass
class JournalFile:
    """An open, locked journal; ``size`` and ``records`` count what is fsynced."""

    fd: int
    path: Path
    stem: str  # <host>-<pid>-<n>: the complete name is <prefix>-<stem>.jsonl
    size: int = 0
    records: int = 0
    opened_at: float = field(default_factory=time.monotonic)


def process_tag() -> str:
    """``<host>-<pid>``: unique among the live writers of one landing folder."""
    host = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}"


def put_complete(folder: Path, prefix: str, tag: str, numbers: Iterator[int],
                 data: bytes) -> Path:
    """On an object store, a batch as one complete journal object, created only under a free
    name (``If-None-Match: *``: a name taken, say by a pod of the same host name and pid before
    a restart, moves on to the next ``n``); whole once the PUT returns."""
    storage = storage_for(folder)
    for number in numbers:
        target = folder / f"{prefix}-{tag}-{number}{COMPLETE_SUFFIX}"
        if storage.create(target, data, FILE_MODE):
            return target
    raise AssertionError("itertools.count never ends")


def open_journal(folder: Path, tag: str, numbers: Iterator[int]) -> JournalFile:
    """A new journal in ``folder``, locked by this process; OSError if none can be made."""
    for n in numbers:
        stem = f"{tag}-{n}"
        path = folder / f"{TEMP_PREFIX}{stem}{TEMP_SUFFIX}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, FILE_MODE)
        except FileExistsError:
            continue
        try:
            os.fchmod(fd, FILE_MODE)  # the umask does not apply
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        if not _names(path, fd):
            os.close(fd)
            continue
        fsync_folder(folder)
        return JournalFile(fd=fd, path=path, stem=stem)
    raise FileExistsError(f"no free journal name in {folder}")


def append(journal: JournalFile, data: bytes, records: int) -> None:
    """Writes whole lines and makes them durable; on any error the file is cut back to what
    was durable before, so no part of an unacknowledged batch stays behind it."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(journal.fd, view) :]
        os.fdatasync(journal.fd)
    except OSError:
        try:
            os.ftruncate(journal.fd, journal.size)
        except OSError:
            pass  # complete() cuts it again, or recovery cuts after the last whole line
        raise
    journal.size += len(data)
    journal.records += records


def complete(journal: JournalFile, prefix: str) -> Path | None:
    """Gives the journal its complete name (or removes it when empty), then closes it."""
    folder = journal.path.parent
    try:
        if journal.size == 0:
            journal.path.unlink(missing_ok=True)
            return None
        if os.fstat(journal.fd).st_size > journal.size:
            # append's cut failed: cut again, or fail and leave the file to recovery's cut
            os.ftruncate(journal.fd, journal.size)
        target = _linked_elsewhere(journal, prefix) or _link(journal, prefix)
        fsync_folder(folder)
        journal.path.unlink()
        fsync_folder(folder)
        return target
    finally:
        os.close(journal.fd)


def recover_orphans(folder: Path, prefix: str) -> list[Path]:
    """Completes every temp journal in ``folder`` whose writer is gone; returns their names."""
    recovered = []
    try:
        entries = [e.name for e in os.scandir(folder)]
    except FileNotFoundError:
        return []
    for name in entries:
        if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX):
            journal = _take_orphan(folder / name)
            if journal is not None and (done := complete(journal, prefix)) is not None:
                recovered.append(done)
    return recovered


def _take_orphan(path: Path) -> JournalFile | None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if not _names(path, fd):
            raise BlockingIOError  # completed by its writer or another recoverer meanwhile
        end = _after_last_line(fd)
        if end < os.fstat(fd).st_size:
            os.ftruncate(fd, end)
            os.fsync(fd)
    except BlockingIOError:
        os.close(fd)
        return None  # a live writer holds it
    except BaseException:
        os.close(fd)
        raise
    stem = path.name[len(TEMP_PREFIX) : -len(TEMP_SUFFIX)]
    return JournalFile(fd=fd, path=path, stem=stem, size=end)


def _after_last_line(fd: int) -> int:
    """The offset just after the file's last newline (0 if it has none)."""
    end = os.fstat(fd).st_size
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        chunk = os.pread(fd, end - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the open file ``fd``."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (mine.st_dev, mine.st_ino)


def _link(journal: JournalFile, prefix: str) -> Path:
    base = f"{prefix}-{journal.stem}"
    for attempt in range(1000):
        target = journal.path.parent / f"{base}{f'-{attempt}' if attempt else ''}{COMPLETE_SUFFIX}"
        try:
            os.link(journal.path, target)
            return target
        except FileExistsError:
            continue
    raise FileExistsError(f"no free name for {base}{COMPLETE_SUFFIX} in {journal.path.parent}")


def _linked_elsewhere(journal: JournalFile, prefix: str) -> Path | None:
    """The complete name a writer gave this file before it died, if any."""
    if os.fstat(journal.fd).st_nlink < 2:
        return None
    base = f"{prefix}-{journal.stem}"
    for entry in os.scandir(journal.path.parent):
        if entry.name.startswith(base) and entry.name.endswith(COMPLETE_SUFFIX):
            if _names(Path(entry.path), journal.fd):
                return Path(entry.path)
    return None
