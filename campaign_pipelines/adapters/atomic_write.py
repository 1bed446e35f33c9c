"""The project's one way to write a file others read: whole or not at all (STYLE.md rule 9).

A hidden temp file ``.<name>.<random>.tmp`` in the target's folder (readers skip such names,
see ``landing_arrivals.is_temp_name``), written by the caller, chmod'ed to ``mode``, fsynced,
``os.replace``d onto the target, then the folder fsynced so the rename survives a crash. A
failure removes the temp file and leaves the target as it was. The temp name is unique, so two
writers of one target never write into each other's file; the last rename wins.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

# mkstemp's own mode: owner only. Callers whose files a group must read pass their mode.
PRIVATE_MODE = 0o600


def write_atomic_with(
    target: Path, write: Callable[[Path], None], *, mode: int = PRIVATE_MODE
) -> None:
    """``write(temp)`` fills a temp file beside ``target``, which then replaces ``target``.

    ``mode`` is set exactly (``fchmod``: the umask does not apply). The folder must exist.
    """
    target = Path(target)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    temp = Path(name)
    try:
        try:
            os.fchmod(handle, mode)
        finally:
            os.close(handle)
        write(temp)
        with open(temp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temp, target)
    except BaseException:
        # The temp file never became visible, so removing it loses nothing that arrived.
        temp.unlink(missing_ok=True)
        raise
    fsync_folder(target.parent)


def write_bytes_atomic(target: Path, data: bytes, *, mode: int = PRIVATE_MODE) -> None:
    """``write_atomic_with`` for bytes already in memory."""
    write_atomic_with(target, lambda temp: temp.write_bytes(data), mode=mode)


def fsync_folder(folder: Path) -> None:
    """Makes a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
